"""The Streamlit app under streamlit.testing.v1.AppTest, against stores filled by real
searches (a tabular NB201 search; `nasforge search` runs of an MLP search over epochs and of
a cell search) and digits trials (layer stack, export button). Every page is opened by its
URL path and query string through `dashboard_helpers.open_page`, whose AppTest fails on any
exception or error box after every run."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("streamlit")
pytest.importorskip("plotly")

from dashboard_helpers import (  # noqa: E402
    app_test,
    digits_store,
    latency_store,
    older_schema_store,
    open_page,
    real_store,
    tabular_store,
)

from nasforge.ui.dashboard import links  # noqa: E402


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dashboard_app")
    return tabular_store(folder), digits_store(folder)


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    return real_store(tmp_path_factory.mktemp("dashboard_real"))


def _figures(at) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def _served_paths() -> None:  # an AppTest script: the paths st.navigation serves
    import json

    import streamlit as st

    from nasforge.ui.dashboard import links

    pages = [spec.page() for spec in links.PAGES]
    st.navigation(pages)
    st.text(json.dumps([page.url_path for page in pages]))


def test_searches_is_served_at_the_root_only_and_every_other_page_at_its_path():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_served_paths)
    at.run()
    paths = json.loads(at.text[0].value)
    assert paths == [spec.url_path for spec in links.PAGES]  # no dead /searches
    assert paths[0] == "" and all(paths[1:]) and len(set(paths)) == len(paths)
    assert all(links.spec_for(spec.url_path) is spec for spec in links.PAGES)


def test_the_page_check_fails_on_an_exception_or_an_error_box(tmp_path):
    for body in ("raise ValueError('broken page')", "import streamlit as st\nst.error('x')"):
        script = tmp_path / "broken.py"
        script.write_text(body)
        with pytest.raises(AssertionError, match="exception|error box"):
            app_test(None, script).run()


@pytest.mark.parametrize("search", ["mlp", "cell"])
@pytest.mark.parametrize("page", links.PAGES, ids=lambda p: p.url_path or "root")
def test_every_page_renders_every_kind_of_search(real, page, search):
    at = open_page(real, page.url_path, search=search)
    assert at.header[0].value.startswith(page.title.split()[0])
    if page.needs_search:
        assert at.sidebar.selectbox(key="search").value == search
        assert search in at.header[0].value
        assert at.query_params["search"] == search


def test_trials_page_shows_the_epochs_metric_and_the_epochs_parameter(real):
    at = open_page(real, "trials", search="mlp")
    table = at.dataframe[0].value
    assert {"epochs", "param.epochs", "activation", "accuracy"} <= set(table.columns)
    assert set(table["param.epochs"]) == {1, 2}
    assert table["open"].iloc[0].startswith("trial?search=mlp&trial=")
    at.selectbox(key="trials_sort").set_value("param.epochs").run()
    assert at.dataframe[0].value["param.epochs"].is_monotonic_increasing


@pytest.mark.parametrize("path", ["pareto", "trial"])
def test_a_link_with_search_and_trial_opens_that_trial(real, path):
    at = open_page(real, path, search="cell", trial=2)
    assert any(s.value == "Trial 2: COMPLETE" for s in at.subheader)
    assert any("Cell of trial 2" in f["layout"]["title"]["text"] for f in _figures(at))
    at = open_page(real, path, search="mlp", trial=2)
    assert any("Layer stack of trial 2" in f["layout"]["title"]["text"] for f in _figures(at))
    key = "pareto_trial" if path == "pareto" else "detail_trial"
    at.selectbox(key=key).set_value(3).run()  # choosing another trial updates the URL
    assert at.query_params["trial"] == "3"
    assert any(s.value == "Trial 3: COMPLETE" for s in at.subheader)
    at.sidebar.selectbox(key="search").set_value("cell").run()  # it has no trial 3
    assert at.query_params["search"] == "cell" and at.query_params.get("trial") != "3"
    assert not at.warning  # the old search's trial left the URL with it


def test_a_link_to_a_missing_search_or_trial_says_so(real):
    at = open_page(real, "trial", search="gone", trial=1)
    assert any("search 'gone', which is not here" in w.value for w in at.warning)
    assert at.query_params["search"] == "mlp"  # the URL names what the page shows
    at = open_page(real, "trial", search="cell", trial=99)
    assert any("trial '99', which is not here" in w.value for w in at.warning)
    assert at.query_params["trial"] == "0"


def test_the_search_stays_chosen_across_pages_opened_from_the_navigation(real):
    at = open_page(real, "pareto", search="cell")
    for script in ("searches.py", "history.py"):
        at.query_params.clear()  # the navigation's links carry no query
        at.switch_page(script).run()
    assert at.header[0].value == "History of cell"
    assert at.query_params["search"] == "cell"


@pytest.mark.parametrize("path", ["", "pareto", "trial"])
def test_a_store_with_an_older_schema_is_shown_as_it_is_with_the_upgrade_note(tmp_path,
                                                                              path):
    url = older_schema_store(tmp_path)
    at = open_page(url, path, search="digits", trial=1)
    notes = [i.value for i in at.info]
    assert any("schema 0003" in n and f"nasforge upgrade --storage {url}" in n
               for n in notes), notes
    assert at.header[0].value.startswith(links.spec_for(path).title.split()[0])
    (tmp_path / "new").mkdir()
    current = open_page(digits_store(tmp_path / "new"), path, search="digits", trial=1)
    assert not any("nasforge upgrade" in i.value for i in current.info)


def test_searches_page_lists_every_search(stores):
    at = open_page(stores[0], "")
    table = at.dataframe[0].value
    assert sorted(table["name"]) == ["evolution", "random"]
    assert set(table["status"]) == {"complete"} and (table["finished"] == 40).all()
    assert "best accuracy:max" in table
    assert set(table["front"]) == {"pareto?search=evolution", "pareto?search=random"}


def test_pareto_page_draws_the_front_and_opens_a_trial(stores):
    at = open_page(stores[0], "pareto", search="evolution")
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
    assert at.query_params["trial"] == str(number)
    assert any(f"Trial {number}: COMPLETE" in s.value for s in at.subheader)
    assert any("Cell of trial" in f["layout"]["title"]["text"] for f in _figures(at))
    assert any("lookup table" in c.value for c in at.caption)  # no model.py for a table


def test_pareto_axes_go_logarithmic_where_the_values_span_decades(real):
    at = open_page(real, "pareto", search="cell")  # macs span 2344 .. 11560: linear
    assert at.selectbox(key="pareto_x").value == "macs"
    layout = _figures(at)[0]["layout"]
    assert layout["xaxis"]["type"] == "linear"
    at.toggle(key="pareto_log_x:macs").set_value(True).run()
    assert _figures(at)[0]["layout"]["xaxis"]["type"] == "log"
    at.selectbox(key="pareto_x").set_value("bops").run()
    at.selectbox(key="pareto_x").set_value("macs").run()  # back: the metric's default again
    assert _figures(at)[0]["layout"]["xaxis"]["type"] == "linear"
    at = open_page(real, "compare")
    assert at.toggle(key="compare_log_x:params").value is False
    at.toggle(key="compare_log_x:params").set_value(True).run()
    assert _figures(at)[0]["layout"]["xaxis"]["type"] == "log"


def test_history_page_has_a_random_reference_line(stores):
    at = open_page(stores[0], "history", search="evolution")
    (figure,) = _figures(at)
    assert {t["name"] for t in figure["data"]} == {"this search", "random search random"}
    at.sidebar.selectbox(key="search").set_value("random").run()
    assert any("No random search" in c.value for c in at.caption)


def test_trials_page_filters_and_sorts(stores):
    at = open_page(stores[1], "trials", search="digits")
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
    at = open_page(stores[1], "parameters", search="digits")
    titles = [f["layout"]["title"]["text"] for f in _figures(at)]
    assert titles[0].startswith("Parameters and objectives")
    assert any(t.startswith("Parameter importance") for t in titles)
    assert titles[-1] == "By activation"
    assert at.selectbox(key="breakdown_param").value == "activation"


def test_parameters_page_explains_an_objective_that_never_varies(real):
    at = open_page(real, "parameters", search="cell")  # every cell trial: same accuracy
    assert any("same value in every completed trial" in c.value for c in at.caption)


def test_trial_detail_has_layers_curves_and_the_export_button(stores):
    at = open_page(stores[1], "trial", search="digits", trial=2)
    titles = [f["layout"]["title"]["text"] for f in _figures(at)]
    assert "Layer stack of trial 2" in titles and "Learning curves" in titles
    curves = next(f for f in _figures(at) if f["layout"]["title"]["text"] == "Learning curves")
    assert [a["text"] for a in curves["layout"]["annotations"]] == ["loss", "accuracy"]
    layers = next(f for f in _figures(at) if f["layout"]["title"]["text"].startswith("Layer"))
    labels = " ".join(layers["data"][0]["text"])
    assert "dims=" not in labels and "learned_step" not in labels
    assert at.get("download_button"), "no export button"
    at.selectbox(key="detail_trial").set_value(11).run()
    assert any("diverged" in w.value for w in at.warning)
    assert not at.get("download_button")


def test_compare_page_draws_two_searches(stores):
    at = open_page(stores[0], "compare")
    (figure,) = _figures(at)
    assert {t["legendgroup"] for t in figure["data"]} == {"evolution", "random"}


@pytest.mark.parametrize("path", ["pareto", "trial"])
def test_another_search_with_the_same_trial_number_starts_without_the_old_choice(real, path):
    at = open_page(real, path, search="mlp", trial=2)
    assert any(s.value == "Trial 2: COMPLETE" for s in at.subheader)
    at.sidebar.selectbox(key="search").set_value("cell").run()  # cell has a trial 2 too
    assert "cell" in at.header[0].value
    if path == "pareto":  # nothing chosen in the new search: no trial open, none in the URL
        assert at.selectbox(key="pareto_trial").value is None
        assert "trial" not in at.query_params
        assert not any(s.value.startswith("Trial ") for s in at.subheader)
    else:  # the new search's first trial, named in the URL
        assert at.selectbox(key="detail_trial").value == 0
        assert at.query_params["trial"] == "0"
        assert any(s.value == "Trial 0: COMPLETE" for s in at.subheader)


@pytest.fixture(scope="module")
def latency(tmp_path_factory):
    return latency_store(tmp_path_factory.mktemp("dashboard_latency"))


def _axis_types(at) -> tuple[str, str]:
    layout = _figures(at)[0]["layout"]
    return layout["xaxis"]["type"], layout["yaxis"]["type"]


def test_a_log_axis_on_by_default_stays_on_after_switching_the_metric_away_and_back(latency):
    at = open_page(latency, "pareto", search="wide")
    at.selectbox(key="pareto_x").set_value("latency_ms").run()  # 0.01 .. 100 ms
    assert at.toggle(key="pareto_log_x:latency_ms").value is True
    assert _axis_types(at) == ("log", "linear")
    at.selectbox(key="pareto_x").set_value("params").run()
    assert _axis_types(at) == ("linear", "linear")
    at.selectbox(key="pareto_x").set_value("latency_ms").run()
    assert _axis_types(at) == ("log", "linear")


@pytest.mark.parametrize("path", ["pareto", "compare"])
def test_a_metric_that_cannot_be_logged_gets_a_linear_axis_whatever_the_switch_said(
        latency, path):
    at = open_page(latency, path, search="wide")
    prefix = f"{path}_"
    if path == "compare":
        at.multiselect(key="compare_searches").set_value(["wide"]).run()
    at.selectbox(key=f"{prefix}x").set_value("latency_ms").run()
    assert _axis_types(at)[0] == "log"
    if path == "pareto":  # the switch stays on, but "zero" has a 0 ms trial
        at.sidebar.selectbox(key="search").set_value("zero").run()
    else:
        at.multiselect(key="compare_searches").set_value(["wide", "zero"]).run()
    assert at.toggle(key=f"{prefix}log_x:latency_ms").disabled
    assert _axis_types(at)[0] == "linear"
