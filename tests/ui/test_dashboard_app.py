"""The Streamlit app under streamlit.testing.v1.AppTest, against a store filled by a real
tabular search (and digits trials for the layer stack and the export button)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("streamlit")
pytest.importorskip("plotly")

from dashboard_helpers import digits_store, tabular_store  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from nasforge.ui.dashboard_launch import APP  # noqa: E402


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dashboard_app")
    return tabular_store(folder), digits_store(folder)


def _app(url: str, page: str, search: str | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.session_state["storage"] = url
    at.run()
    assert not at.exception, at.exception
    at.sidebar.radio(key="page").set_value(page).run()
    if search is not None:
        at.sidebar.selectbox(key="search").set_value(search).run()
    assert not at.exception, at.exception
    return at


def _figures(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def test_searches_page_lists_every_search(stores):
    at = _app(stores[0], "Searches")
    table = at.dataframe[0].value
    assert sorted(table["name"]) == ["evolution", "random"]
    assert set(table["status"]) == {"complete"} and (table["finished"] == 40).all()
    assert "best accuracy:max" in table


def test_pareto_page_draws_the_front_and_opens_a_trial(stores):
    at = _app(stores[0], "Pareto front", "evolution")
    assert at.selectbox(key="pareto_x").value == "params"
    assert at.selectbox(key="pareto_y").value == "accuracy"
    (figure,) = _figures(at)
    names = [trace["name"] for trace in figure["data"]]
    assert names == ["dominated", "Pareto front"]
    at.selectbox(key="pareto_y").set_value("latency_ms").run()
    assert "latency_ms" in _figures(at)[0]["layout"]["yaxis"]["title"]["text"]
    at.selectbox(key="pareto_y").set_value("accuracy").run()
    number = int(at.selectbox(key="pareto_trial").options[0])  # the front comes first
    at.selectbox(key="pareto_trial").set_value(number).run()
    assert not at.exception
    assert any(f"Trial {number}: COMPLETE" in s.value for s in at.subheader)
    assert any("Cell of trial" in f["layout"]["title"]["text"] for f in _figures(at))
    assert any("lookup table" in c.value for c in at.caption)  # no model.py for a table


def test_history_page_has_a_random_reference_line(stores):
    at = _app(stores[0], "History", "evolution")
    (figure,) = _figures(at)
    assert {t["name"] for t in figure["data"]} == {"this search", "random search random"}
    at.sidebar.selectbox(key="search").set_value("random").run()
    assert any("No random search" in c.value for c in at.caption)


def test_trials_page_filters_and_sorts(stores):
    at = _app(stores[1], "Trials", "digits")
    assert len(at.dataframe[0].value) == 12
    at.multiselect(key="trials_states").set_value(["FAILED"]).run()
    assert at.dataframe[0].value["state"].tolist() == ["FAILED"]
    at.multiselect(key="trials_states").set_value(["COMPLETE"]).run()
    at.selectbox(key="trials_sort").set_value("accuracy").run()
    at.toggle(key="trials_ascending").set_value(False).run()
    values = at.dataframe[0].value["accuracy"].tolist()
    assert len(values) == 11 and values == sorted(values, reverse=True)
    assert {"params", "latency_ms", "activation"} <= set(at.dataframe[0].value.columns)


def test_parameters_page_shows_coordinates_importance_and_breakdown(stores):
    at = _app(stores[1], "Parameters", "digits")
    titles = [f["layout"]["title"]["text"] for f in _figures(at)]
    assert titles[0].startswith("Parameters and objectives")
    assert any(t.startswith("Parameter importance") for t in titles)
    assert titles[-1] == "By activation"
    assert at.selectbox(key="breakdown_param").value == "activation"


def test_trial_detail_has_layers_curves_and_the_export_button(stores):
    at = _app(stores[1], "Trial detail", "digits")
    at.selectbox(key="detail_trial").set_value(2).run()
    titles = [f["layout"]["title"]["text"] for f in _figures(at)]
    assert "Layer stack of trial 2" in titles and "Learning curves" in titles
    assert at.get("download_button"), "no export button"
    at.selectbox(key="detail_trial").set_value(11).run()
    assert any("diverged" in e.value for e in at.error)
    assert not at.get("download_button")


def test_compare_page_draws_two_searches(stores):
    at = _app(stores[0], "Compare")
    (figure,) = _figures(at)
    assert {t["legendgroup"] for t in figure["data"]} == {"evolution", "random"}
