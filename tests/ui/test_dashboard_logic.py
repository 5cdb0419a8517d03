"""queries.py, charts.py and architecture.py without Streamlit."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("plotly")

from dashboard_helpers import digits_store, tabular_store  # noqa: E402

from nasforge.objectives import Objective, parse_objectives  # noqa: E402
from nasforge.searchspace.cells import cell_graph  # noqa: E402
from nasforge.store import open_store  # noqa: E402
from nasforge.ui import architecture, charts, queries  # noqa: E402

ACC, PARAMS = parse_objectives(["accuracy:max", "params:min"])


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dashboard")
    return tabular_store(folder), digits_store(folder)


def _frame(rows):
    return pd.DataFrame([{"number": i, "state": s, "summary": "", "accuracy": a, "params": p}
                         for i, (s, a, p) in enumerate(rows)])


def test_front_membership_is_the_non_dominated_complete_rows():
    frame = _frame([("COMPLETE", 0.9, 100), ("COMPLETE", 0.8, 50), ("COMPLETE", 0.7, 80),
                    ("COMPLETE", 0.95, 300), ("FAILED", 0.99, 1), ("COMPLETE", np.nan, 10)])
    assert queries.front_mask(frame, (ACC, PARAMS)).tolist() == [
        True, True, False, True, False, False]
    # one objective: only the best
    assert queries.front_mask(frame, (ACC,)).tolist() == [False, False, False, True, False,
                                                           False]


def test_history_is_monotone_and_hypervolume_never_drops(stores):
    store = open_store(stores[0], create=False)
    frame = queries.load_trials(store, "evolution")
    history = queries.history_frame(frame, (ACC, PARAMS))
    assert len(history) == 40 and history["index"].tolist() == list(range(1, 41))
    assert history["best accuracy:max"].is_monotonic_increasing
    assert history["best params:min"].is_monotonic_decreasing
    hv = history["hypervolume"].to_numpy()
    assert (np.diff(hv) >= -1e-9).all() and hv[-1] > 0
    # the running hypervolume equals the exact hypervolume of all trials so far
    from nasforge.strategies.pareto import hypervolume

    points = queries.objective_points(frame, (ACC, PARAMS))
    ref = queries.reference_point(points)
    assert hv[-1] == pytest.approx(hypervolume(points, ref))
    assert hv[9] == pytest.approx(hypervolume(points[:10], ref))
    store.close()


def test_random_reference_is_found_on_the_same_space_only(stores):
    store = open_store(stores[0], create=False)
    searches = store.list_searches()
    assert queries.random_reference(searches, "evolution") == "random"
    assert queries.random_reference(searches, "random") is None
    store.close()
    other = open_store(stores[1], create=False)
    assert queries.random_reference(other.list_searches(), "digits") is None
    other.close()


def test_filters_by_state_parameter_values_and_ranges(stores):
    store = open_store(stores[1], create=False)
    frame = queries.load_trials(store, "digits")
    assert {"accuracy", "params", "param.activation"} <= set(frame.columns)
    complete = queries.filter_trials(frame, states=["COMPLETE"])
    assert len(complete) == 11 and set(complete["state"]) == {"COMPLETE"}
    failed = queries.filter_trials(frame, states=["FAILED"])
    assert failed["error"].tolist() == ["diverged (NaN loss)"]
    first = frame["param.activation"].iloc[0]
    same = queries.filter_trials(frame, params={"param.activation": [first]})
    assert len(same) == int((frame["param.activation"] == first).sum())
    assert set(same["param.activation"]) == {first}
    small = queries.filter_trials(frame, ranges={"params": (0, 20000)})
    assert (small["params"] <= 20000).all()
    assert len(small) == int((frame["params"] <= 20000).sum())
    store.close()


def test_summaries_of_shown_rows_describe_each_trials_architecture(stores):
    store = open_store(stores[0], create=False)
    trials = store.trials("evolution")
    store.close()
    frame = queries.trials_frame(trials)
    assert "summary" not in frame and "arch_id" not in frame  # made for the rows shown
    shown = queries.described(frame.iloc[[0, 5, 9]])
    assert shown["summary"].tolist() == [queries.arch_summary(trials[i].arch)
                                         for i in (0, 5, 9)]
    assert shown["arch_id"].tolist() == [trials[i].arch_id for i in (0, 5, 9)]
    assert "arch" not in shown and list(shown.columns[:5]) == [
        "number", "state", "weights", "arch_id", "summary"]


def test_searches_frame_status_progress_and_best(stores):
    store = open_store(stores[0], create=False)
    searches = store.list_searches()
    best = {s.name: queries.best_values(queries.load_trials(store, s.name), s.objectives)
            for s in searches}
    frame = queries.searches_frame(searches, best)
    assert frame["status"].tolist() == ["complete", "complete"]
    assert frame["progress"].tolist() == [1.0, 1.0]
    assert frame["best accuracy:max"].notna().all()
    store.close()


def test_pareto_figure_highlights_and_connects_the_front(stores):
    store = open_store(stores[0], create=False)
    frame = queries.load_trials(store, "evolution")
    fig = charts.pareto_figure(frame, PARAMS, ACC, color="latency_ms")
    dominated, front = fig.data
    assert front.name == "Pareto front" and "lines" in front.mode
    assert len(front.x) == int(queries.front_mask(frame, (PARAMS, ACC)).sum())
    assert len(front.x) + len(dominated.x) == 40
    assert list(front.x) == sorted(front.x)  # connected along x
    assert all(b >= a for a, b in pairwise(front.y))  # more params buy accuracy on the front
    numbers = {int(c[0]) for c in front.customdata}
    assert numbers <= set(frame["number"])
    assert "trial" in front.text[0] and "accuracy" in front.text[0]
    assert dominated.marker.opacity < 1
    store.close()


def test_other_charts_build(stores):
    store = open_store(stores[0], create=False)
    frame = queries.load_trials(store, "evolution")
    reference = queries.history_frame(queries.load_trials(store, "random"), (ACC, PARAMS))
    fig = charts.history_figure(queries.history_frame(frame, (ACC, PARAMS)), (ACC, PARAMS),
                                reference)
    assert len(fig.data) == 6  # 3 panels x (this, random)
    params = queries.param_columns(frame)
    assert len(charts.parallel_figure(frame, params, (ACC, PARAMS)).data[0].dimensions) == 9
    table = queries.breakdown_frame(frame, "param.cell.edge_1_0", ["accuracy", "params"])
    assert table["count"].sum() == 40 and "best accuracy" in table
    assert len(charts.breakdown_figure(frame, "param.cell.edge_1_0", ["accuracy"]).data) == len(
        table)
    both = charts.compare_figure({"evolution": frame, "random": queries.load_trials(
        store, "random")}, PARAMS, ACC)
    assert len(both.data) == 4
    arch = store.trial("evolution", 0).arch
    graph = cell_graph(arch, queries.cell_nodes(arch))
    assert charts.cell_figure(graph).data[-1].mode == "markers+text"
    store.close()


def test_importance_from_optuna_on_stored_trials(stores):
    from nasforge.ui.importance import param_importances

    store = open_store(stores[0], create=False)
    frame = queries.load_trials(store, "random")
    scores = param_importances(frame, ACC, evaluator="mean_decrease_impurity")
    assert set(scores["param"]) == {f"cell.edge_{e}" for e in
                                    ("1_0", "2_0", "2_1", "3_0", "3_1", "3_2")}
    assert scores["importance"].sum() == pytest.approx(1.0)
    assert param_importances(frame.head(1), ACC).empty
    store.close()


def test_layer_stack_and_model_source_are_what_export_writes(stores):
    from nasforge.export.codegen import ModelMeta, generate
    from nasforge.frozen import thaw
    from nasforge.searchspace.families import plan_for

    store = open_store(stores[1], create=False)
    search, trial = store.get_search("digits"), store.trial("digits", 0)
    data = architecture.search_data(search.config)
    spec = data.spec
    assert data.preprocessing is not None
    assert spec.input_shape == (1, 8, 8) and spec.num_outputs == 10
    layers = architecture.layer_frame(architecture.trial_plan(trial, spec))
    assert layers["kind"].iloc[0] == "Flatten" and layers["shape"].iloc[-1] == "10"
    source = architecture.model_source(search, trial, data)
    expected = generate(plan_for(trial.arch, spec), ModelMeta(
        search="digits", trial=0, arch=thaw(dict(trial.arch)), arch_id=trial.arch_id,
        metrics=dict(trial.metrics), objectives=("accuracy:max", "params:min")),
        data.preprocessing).source
    assert source == expected and "class Model" in source
    assert "pixel" in source.lower()  # takes raw pixels, as `nasforge export` writes it
    compile(source, "model.py", "exec")
    tabular = open_store(stores[0], create=False)
    with pytest.raises(architecture.Unavailable, match="lookup table"):
        architecture.search_data(tabular.get_search("random").config)
    plain = {"search": {"name": "p"}, "space": {"params": {"x": [1, 2]}},
             "evaluator": {"callable": "toy:f"}}
    with pytest.raises(architecture.Unavailable, match="your own evaluator"):
        architecture.search_data(plain)
    store.close()
    tabular.close()


def test_direction_of_uses_the_search_then_the_metric_kind():
    assert queries.direction_of("params", (ACC, PARAMS)) == PARAMS
    assert queries.direction_of("test_accuracy", ()) == Objective("test_accuracy", "max")
    assert queries.direction_of("latency_ms", ()) == Objective("latency_ms", "min")


def test_dashboard_modules_do_not_import_torch():
    import subprocess
    import sys

    code = ("import sys, nasforge.ui.dashboard.app, nasforge.ui.charts, nasforge.ui.queries, "
            "nasforge.ui.architecture, nasforge.ui.importance; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_trials_frame_keeps_inherited_and_trained_results_apart() -> None:
    from nasforge.records import TrialRecord, TrialState
    from nasforge.searchspace.architecture import Architecture

    arch = Architecture({"family": "mlp", "mlp.depth": 1, "mlp.width": 8})
    trials = [TrialRecord("s", 0, arch, TrialState.COMPLETE,
                          {"inherited_accuracy": 0.9, "params": 10.0}),
              TrialRecord("s", 1, arch, TrialState.COMPLETE, {"accuracy": 0.8, "params": 10.0})]
    frame = queries.trials_frame(trials)
    assert frame["weights"].tolist() == ["inherited", "trained"]
    assert frame["accuracy"].isna().tolist() == [True, False]


def test_display_names_keep_the_prefix_only_where_a_metric_has_the_same_name():
    columns = ["number", "accuracy", "epochs", "param.epochs", "param.activation"]
    names = queries.display_names(columns)
    assert names == {"number": "number", "accuracy": "accuracy", "epochs": "epochs",
                     "param.epochs": "param.epochs", "param.activation": "activation"}
    assert len(set(names.values())) == len(columns)


def test_log_axes_are_offered_for_positive_values_and_proposed_across_decades():
    assert queries.spans_decades(pd.Series([300.0, 5e4, 2e6]))
    assert not queries.spans_decades(pd.Series([2344.0, 11560.0]))
    assert not queries.spans_decades(pd.Series([0.0, 1e6]))  # zero: no log axis
    assert queries.log_possible(pd.Series([1.0, np.nan, 3.0]))
    assert not queries.log_possible(pd.Series([-1.0, 3.0]))
    frame = _frame([("COMPLETE", 0.9, 100), ("COMPLETE", 0.8, 5e5)])
    fig = charts.pareto_figure(frame, PARAMS, ACC, log_x=True)
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "linear"
    both = charts.compare_figure({"a": frame}, PARAMS, ACC, log_y=True)
    assert both.layout.yaxis.type == "log"


def test_cell_diagram_arrows_stop_at_the_nodes_and_labels_do_not_overlap(stores):
    store = open_store(stores[0], create=False)
    arch = next(t.arch for t in store.trials("evolution")
                if all(v != "none" for k, v in t.arch.items() if k.startswith("cell.")))
    store.close()
    graph = cell_graph(arch, queries.cell_nodes(arch))
    fig = charts.cell_figure(graph)
    arrows = [a for a in fig.layout.annotations if a.showarrow]
    labels = [a for a in fig.layout.annotations if not a.showarrow]
    assert len(arrows) == len(labels) == graph.number_of_edges() == 6
    node_size = fig.data[-1].marker.size
    assert all(a.standoff >= node_size / 2 for a in arrows)  # the head stays off the label
    assert len({(round(a.x, 3), round(a.y, 3)) for a in labels}) == 6  # no shared spot
    edges = [t for t in fig.data if t.mode == "lines"]
    paths = {(tuple(t.x), tuple(t.y)) for t in edges}
    assert len(paths) == 6  # no edge hides another
    colour = {t.name: t.line.color for t in edges}
    assert len(set(colour.values())) == len(colour)  # one colour per op, in the legend
    assert all(a.font.color == colour[a.text] for a in labels)


def test_layer_labels_and_curve_titles_speak_the_users_words():
    from nasforge.searchspace.plan_ops import Conv, Linear, Norm

    assert architecture.op_label(Linear(64, 16, bias=False)) == (
        "Linear in_features=64 out_features=16 no bias")
    assert architecture.op_label(Conv(2, 1, 8, 3, weight_bits=8, act_bits=8)) == (
        "Conv2d in_channels=1 out_channels=8 kernel=3 w8/a8")
    assert "dims" not in architecture.op_label(Norm("batch", 16, 0))
    curve = pd.DataFrame({"epoch": [0, 0, 0], "metric": ["train_loss", "val_loss",
                                                         "val_accuracy"], "value": [1, 1, .5]})
    titles = [a.text for a in charts.curve_figure(curve).layout.annotations]
    assert titles == ["loss", "accuracy"]
