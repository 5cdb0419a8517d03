"""Proxy metrics show in the dashboard's Trials table, as every metric does."""

from __future__ import annotations

from dashboard_helpers import open_page

from nasforge.config import from_dict
from nasforge.evaluator_setup import build_evaluator
from nasforge.search import Search
from nasforge.store import open_store


def test_the_trials_table_shows_the_proxy_metrics(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'zc.db'}"
    config = from_dict({
        "search": {"name": "zc", "budget": 2, "seed": 0,
                   "objectives": ["accuracy:max", "zc_synflow:max"]},
        "data": {"dataset": "digits"},
        "training": {"epochs": 1, "measure_latency": False, "proxies": ["synflow", "zen"]},
        "space": {"families": ["mlp"], "mlp": {"depth": 1, "width": [8, 16]}}})
    store = open_store(url)
    Search(config, store, build_evaluator(config)).run()
    store.close()
    at = open_page(url, "trials", search="zc")
    table = at.dataframe[0].value
    assert {"zc_synflow", "zc_zen", "zc_seconds"} <= set(table.columns)
    assert table["zc_synflow"].notna().all()


def test_proxy_scores_are_better_when_larger_and_their_cost_when_smaller() -> None:
    from nasforge.ui.queries import direction_of

    assert direction_of("zc_synflow", ()).direction == "max"
    assert direction_of("zc_naswot", ()).direction == "max"
    assert direction_of("zc_seconds", ()).direction == "min"
    assert direction_of("params", ()).direction == "min"
