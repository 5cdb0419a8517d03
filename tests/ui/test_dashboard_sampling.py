"""Charts of many trials: beyond a limit a Pareto chart draws its whole front and a fixed
sample of the rest, and the pages say how many trials they show."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("streamlit")
pytest.importorskip("plotly")

from dashboard_helpers import open_page, tabular_store  # noqa: E402

from nasforge.objectives import parse_objectives  # noqa: E402
from nasforge.ui import queries  # noqa: E402
from nasforge.ui.dashboard import sampling  # noqa: E402

ACC, PARAMS = parse_objectives(["accuracy:max", "params:min"])


def _trials(n: int, seed: int = 0) -> pd.DataFrame:
    """`n` trials: most COMPLETE on a noisy accuracy/params trade-off, some RUNNING (no
    metrics) and some FAILED."""
    rng = np.random.default_rng(seed)
    params = rng.uniform(1e3, 1e5, n)
    accuracy = 0.5 + 0.1 * np.log10(params) + rng.normal(0, 0.05, n)
    state = np.where(np.arange(n) % 25 == 3, "FAILED", "COMPLETE").astype(object)
    running = np.arange(n) % 40 == 9
    state[running] = "RUNNING"
    accuracy[running] = params[running] = np.nan
    return pd.DataFrame({"number": np.arange(n), "state": state, "accuracy": accuracy,
                         "params": params})


def test_downsampling_keeps_every_front_point_and_caps_the_rest():
    frame = _trials(20_000)
    finished = frame.dropna(subset=["accuracy", "params"])
    front = set(finished["number"][queries.front_mask(finished, (ACC, PARAMS))])
    drawn = sampling.pareto_sample(frame, (ACC, PARAMS), limit=1_000)
    numbers = set(drawn.frame["number"])
    assert len(drawn.frame) == 1_000 and drawn.total == len(finished) and drawn.sampled
    assert front <= numbers and drawn.front == len(front) > 1
    assert drawn.frame["accuracy"].notna().all()  # unfinished trials have nothing to draw
    assert "Showing 1,000 of" in drawn.caption() and "front" in drawn.caption()
    # the same points on every rerun; a grown search keeps most of them
    assert sampling.pareto_sample(frame, (ACC, PARAMS), 1_000).frame.equals(drawn.frame)
    grown = sampling.pareto_sample(_trials(20_200), (ACC, PARAMS), limit=1_000)
    assert len(numbers & set(grown.frame["number"])) >= 0.95 * 1_000
    # the sample is spread over the trials, not the first ones
    assert drawn.frame["number"].max() > 0.9 * len(frame)


def test_a_front_larger_than_the_limit_is_drawn_whole_and_a_small_search_entirely():
    frame = _trials(2_000)
    drawn = sampling.pareto_sample(frame, (ACC, PARAMS), limit=3)
    assert len(drawn.frame) == drawn.front > 3
    small = sampling.pareto_sample(frame, (ACC, PARAMS), limit=5_000)
    assert not small.sampled and len(small.frame) == small.total
    assert small.caption() == f"All {small.total:,} trials shown."
    rows = sampling.sample_rows(frame, limit=100)
    assert len(rows.frame) == 100 and rows.frame["number"].is_monotonic_increasing
    assert "fixed sample" in rows.caption() and "front" not in rows.caption()


@pytest.fixture(scope="module")
def tabular(tmp_path_factory):
    return tabular_store(tmp_path_factory.mktemp("dashboard_sampling"))


def _figures(at) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def test_the_pareto_page_says_how_many_trials_it_shows(tabular, monkeypatch):
    at = open_page(tabular, "pareto", search="evolution")
    assert any("All 40 trials shown." in c.value for c in at.caption)
    monkeypatch.setattr(sampling, "CHART_POINTS", 15)
    at = open_page(tabular, "pareto", search="evolution")
    (figure,) = _figures(at)
    dominated, front = figure["data"]  # one hover text a point (x, y may come as binary)
    assert len(dominated["text"]) + len(front["text"]) == 15
    assert any(f"Showing 15 of 40 trials: the front ({len(front['text'])}) is complete"
               in c.value for c in at.caption)
    assert "of 40 trials" in figure["layout"]["title"]["text"]
    assert len(at.selectbox(key="pareto_trial").options) == 15  # the drawn trials


def test_a_link_to_a_trial_left_out_of_the_sample_still_opens_it(tabular, monkeypatch):
    monkeypatch.setattr(sampling, "CHART_POINTS", 10)
    at = open_page(tabular, "pareto", search="evolution")
    drawn = {int(n) for n in at.selectbox(key="pareto_trial").options}
    hidden = min(set(range(40)) - drawn)
    at = open_page(tabular, "pareto", search="evolution", trial=hidden)
    assert any(s.value == f"Trial {hidden}: COMPLETE" for s in at.subheader)
    assert not at.warning  # no "not here" note


def test_the_trials_and_compare_pages_say_what_they_show(tabular, monkeypatch):
    monkeypatch.setattr(sampling, "TABLE_ROWS", 10)
    at = open_page(tabular, "trials", search="random")
    table = at.dataframe[0].value
    assert len(table) == 10 and {"summary", "arch_id"} <= set(table.columns)
    assert "arch" not in table
    assert any("Showing the first 10 of 40 matching trials" in c.value for c in at.caption)
    monkeypatch.setattr(sampling, "CHART_POINTS", 30)
    at = open_page(tabular, "compare")
    assert any("evolution: Showing 15 of 40 trials" in c.value for c in at.caption)
