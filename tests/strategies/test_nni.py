"""The nni strategy: the install error, the space translation and the adapter (with a fake
tuner: always), and NNI's real tuners (only where NNI is installed: a separate venv)."""

from __future__ import annotations

import importlib.util
import math
import random
from typing import Any

import numpy as np
import pytest

from nasforge.errors import ConfigError
from nasforge.objectives import parse_objectives
from nasforge.records import TrialRecord, TrialState
from nasforge.searchspace.architecture import Architecture
from nasforge.searchspace.assemble import assemble_space
from nasforge.searchspace.params import Choice, FloatRange, IntRange
from nasforge.searchspace.space import SearchSpace, When
from nasforge.strategies import make_strategy
from nasforge.strategies.nni_space import arch_from_nni, nni_params, nni_search_space
from nasforge.strategies.nni_tuners import NniStrategy, TunerSpec

HAS_NNI = importlib.util.find_spec("nni") is not None
ACC = parse_objectives(["accuracy:max"])


def numeric_space() -> SearchSpace:
    return SearchSpace({"x": FloatRange(-2.0, 2.0), "y": FloatRange(1e-3, 1.0, log=True),
                        "n": IntRange(1, 64), "epochs": Choice((1, 3, 9)),
                        "fixed": Choice(("adamw",))})


def mixed_space() -> SearchSpace:
    """Two levels of conditions: cnn.channels.1 exists when family = cnn and stages = 2."""
    return assemble_space(["mlp", "cnn"], {"epochs": [1, 3, 9],
                                           "lr": {"low": 1e-4, "high": 1e-1, "log": True}},
                          {"cnn": {"stages": {"low": 1, "high": 2}}})


def one_level_space() -> SearchSpace:
    return SearchSpace({"family": Choice(("a", "b")), "k": IntRange(2, 10, step=2),
                        "odd": IntRange(1, 7, step=3), "w": IntRange(1, 100, log=True)},
                       {"k": (When("family", ("a",)),), "odd": (When("family", ("b",)),)})


# ---------------------------------------------------------------------- without NNI
@pytest.mark.skipif(HAS_NNI, reason="NNI is installed here")
def test_without_nni_the_strategy_says_how_to_install_it():
    with pytest.raises(ConfigError, match=r"the nni strategy needs NNI: pip install "
                                          r"'nasforge\[nni\]'"):
        make_strategy("nni", numeric_space(), ACC, 0)



@pytest.mark.parametrize("space, options, objectives, match", [
    (numeric_space(), {}, ("accuracy:max", "params:min"), "one objective"),
    (numeric_space(), {"tuner": "TEP"}, ("accuracy:max",), "Did you mean 'TPE'"),
    (numeric_space(), {"tuner_args": [1]}, ("accuracy:max",), "tuner_args"),
    (numeric_space(), {"grid_dedup": "no"}, ("accuracy:max",), "grid_dedup"),
    (mixed_space(), {}, ("accuracy:max",), r"cnn.stages.*1 level\(s\) of nested choices"),
    (mixed_space(), {"tuner": "Random"}, ("accuracy:max",), "Evolution"),
    (mixed_space(), {"tuner": "GridSearch"}, ("accuracy:max",), "Evolution"),
])
def test_what_the_tuners_cannot_do_is_refused_before_nni_is_needed(space, options, objectives,
                                                                   match):
    with pytest.raises(ConfigError, match=match):
        make_strategy("nni", space, parse_objectives(objectives), 0, options)


def test_conditions_nni_cannot_nest_are_refused():
    two_parents = SearchSpace({"a": Choice((1, 2)), "b": Choice((1, 2)), "c": Choice((1, 2))},
                              {"c": (When("a", (1,)), When("b", (1,)))})
    with pytest.raises(ConfigError, match="'c' exists only under conditions on a, b"):
        nni_search_space(two_parents)
    continuous = SearchSpace({"a": FloatRange(0.0, 1.0), "c": Choice((1, 2))},
                             {"c": (When("a", (0.5,)),)})
    with pytest.raises(ConfigError, match="continuous range"):
        nni_search_space(continuous)


# ---------------------------------------------------------------------- translation
def test_numeric_space_translation():
    assert nni_search_space(numeric_space()) == {
        "x": {"_type": "uniform", "_value": [-2.0, 2.0]},
        "y": {"_type": "loguniform", "_value": [1e-3, 1.0]},
        "n": {"_type": "quniform", "_value": [1, 64, 1]},
        "epochs": {"_type": "choice", "_value": [1, 3, 9]},
    }  # the constant "fixed" is filled in on the way back
    params = {"x": 0.5, "y": 1.0000000000000002, "n": 7.0, "epochs": 3}
    assert arch_from_nni(params, numeric_space()) == Architecture(
        {"x": 0.5, "y": 1.0, "n": 7, "epochs": 3, "fixed": "adamw"})


def test_conditional_space_becomes_nested_choices():
    assert nni_search_space(one_level_space(), max_nesting=1) == {
        "family": {"_type": "choice", "_value": [
            {"_name": "a", "k": {"_type": "quniform", "_value": [2, 10, 2]}},
            {"_name": "b", "odd": {"_type": "choice", "_value": [1, 4, 7]}}]},
        "w": {"_type": "qloguniform", "_value": [1, 100, 1]},
    }
    nested = nni_search_space(mixed_space())
    cnn = nested["family"]["_value"][1]
    assert cnn["_name"] == "cnn" and "cnn.convs_per_stage" not in cnn  # a constant
    stages = cnn["cnn.stages"]["_value"]
    assert [s["_name"] for s in stages] == [1, 2]
    assert "cnn.channels.1" not in stages[0] and "cnn.channels.1" in stages[1]


@pytest.mark.parametrize("make", [numeric_space, mixed_space, one_level_space])
def test_translation_round_trips(make):
    space = make()
    search_space = nni_search_space(space)
    rng = np.random.default_rng(0)
    for _ in range(200):
        arch = space.sample(rng)
        assert arch_from_nni(nni_params(arch, search_space), space) == arch


# ---------------------------------------------------------------------- the adapter
class NoMoreTrialError(Exception):
    """Named like NNI's: the adapter recognises it by name."""


class FakeTuner:
    """NNI's tuner interface: samples the NNI JSON (nested choices too) with the *global*
    random state, like several NNI tuners do; records every call."""

    def __init__(self, repeat_every: int = 0, limit: int | None = None) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.repeat_every, self.limit = repeat_every, limit
        self.issued: dict[int, dict[str, Any]] = {}

    def update_search_space(self, search_space: dict[str, Any]) -> None:
        self.calls.append(("space", search_space))
        self.space = search_space

    def _sample(self, space: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, spec in space.items():
            kind, values = spec["_type"], spec["_value"]
            if kind == "choice":
                value = values[random.randrange(len(values))]
                if isinstance(value, dict):
                    inner = {k: v for k, v in value.items() if k != "_name"}
                    value = {"_name": value["_name"], **self._sample(inner)}
                out[name] = value
            elif kind in ("uniform", "quniform"):
                x = float(np.random.uniform(values[0], values[1]))
                out[name] = round(x / values[2]) * values[2] if kind == "quniform" else x
            else:  # loguniform, qloguniform
                x = math.exp(np.random.uniform(math.log(values[0]), math.log(values[1])))
                out[name] = float(round(x)) if kind == "qloguniform" else x
        return out

    def generate_parameters(self, parameter_id: int, **kwargs: Any) -> dict[str, Any]:
        if self.limit is not None and len(self.issued) >= self.limit:
            raise NoMoreTrialError("done")
        if self.repeat_every and self.issued and len(self.issued) % self.repeat_every == 0:
            params = self.issued[max(self.issued)]  # propose the previous one again
        else:
            params = self._sample(self.space)
        self.issued[parameter_id] = params
        self.calls.append(("generate", parameter_id))
        return params

    def receive_trial_result(self, parameter_id: int, parameters: dict[str, Any],
                             value: float, **kwargs: Any) -> None:
        assert parameters == self.issued[parameter_id]
        self.calls.append(("result", parameter_id, value))

    def trial_end(self, parameter_id: int, success: bool, **kwargs: Any) -> None:
        self.calls.append(("end", parameter_id, success))

    def import_data(self, data: list[dict[str, Any]]) -> None:
        self.calls.append(("import", data))


def adapter(tuner: FakeTuner, space: SearchSpace | None = None, seed: int = 0,
            imports: bool = True) -> NniStrategy:
    spec = TunerSpec("", "", lambda mode, seed: {}, imports_history=imports)
    return NniStrategy(tuner, space or numeric_space(), ACC[0], seed, spec, "Fake")


def record(number: int, arch: Architecture, state: TrialState = TrialState.COMPLETE,
           accuracy: float | None = 0.5) -> TrialRecord:
    metrics = {} if accuracy is None else {"accuracy": accuracy}
    return TrialRecord("s", number, arch, state, metrics,
                       error="boom" if state is TrialState.FAILED else None)


def test_the_adapter_drives_the_tuner_like_nnis_dispatcher():
    tuner = FakeTuner()
    strategy = adapter(tuner, mixed_space())
    assert tuner.calls[0] == ("space", nni_search_space(mixed_space()))
    archs = strategy.ask(3)
    assert all(mixed_space().validate(a) == a for a in archs)
    assert [c for c in tuner.calls if c[0] == "generate"] == [("generate", i) for i in range(3)]
    strategy.tell([record(i, a, TrialState.RUNNING) for i, a in enumerate(archs)])
    strategy.tell([record(0, archs[0], accuracy=0.7), record(1, archs[1], TrialState.FAILED),
                   record(2, archs[2], TrialState.PRUNED, accuracy=0.6)])
    assert tuner.calls[4:] == [("result", 0, 0.7), ("end", 0, True), ("end", 1, False),
                               ("result", 2, 0.6), ("end", 2, True)]
    strategy.tell([record(0, archs[0], accuracy=0.7)])  # told again: nothing new
    assert len(tuner.calls) == 9


def test_a_repeated_proposal_is_answered_from_history_and_not_returned():
    tuner = FakeTuner(repeat_every=2)
    strategy = adapter(tuner)
    first = strategy.ask(2)
    strategy.tell([record(0, first[0], accuracy=0.25), record(1, first[1], accuracy=0.75)])
    again = strategy.ask(1)  # the tuner proposes trial 1's parameters again first
    assert again and again[0] not in first
    assert ("result", 2, 0.75) in tuner.calls and ("end", 2, True) in tuner.calls


def test_foreign_trials_are_imported_once_and_pending_or_failed_ones_not():
    tuner = FakeTuner()
    strategy = adapter(tuner, one_level_space())
    rng = np.random.default_rng(1)
    archs = [one_level_space().sample(rng) for _ in range(4)]
    history = [record(0, archs[0], accuracy=0.3), record(1, archs[1], TrialState.FAILED),
               record(2, archs[2], TrialState.RUNNING), record(3, archs[3], accuracy=0.9)]
    strategy.tell(history)
    strategy.tell(history)
    search_space = nni_search_space(one_level_space())
    assert [c for c in tuner.calls if c[0] == "import"] == [("import", [
        {"parameter": nni_params(archs[0], search_space), "value": 0.3},
        {"parameter": nni_params(archs[3], search_space), "value": 0.9}])]
    assert not set(strategy.ask(20)) & set(archs)  # never proposes a stored candidate


def test_tuners_that_cannot_import_history_are_not_given_it():
    tuner = FakeTuner()
    strategy = adapter(tuner, imports=False)
    strategy.tell([record(0, numeric_space().sample(np.random.default_rng(0)))])
    assert not [c for c in tuner.calls if c[0] == "import"]


def test_an_exhausted_tuner_ends_the_asking():
    assert len(adapter(FakeTuner(limit=2)).ask(5)) == 2


def test_the_adapter_is_seeded_and_leaves_the_global_random_state_alone():
    random.seed(123)
    np.random.seed(123)
    before = random.getstate(), np.random.get_state()[1].copy()
    one = adapter(FakeTuner(), mixed_space(), seed=4).ask(10)
    assert adapter(FakeTuner(), mixed_space(), seed=4).ask(10) == one
    assert adapter(FakeTuner(), mixed_space(), seed=5).ask(10) != one
    assert random.getstate() == before[0]
    assert (np.random.get_state()[1] == before[1]).all()


# ---------------------------------------------------------------------- real NNI tuners
def quadratic(arch: Architecture) -> float:
    """Best at x = 1, y = 0.1, n = 40."""
    return -((arch["x"] - 1) ** 2) - (math.log10(arch["y"]) + 1) ** 2 - ((arch["n"] - 40) / 30) ** 2


def drive(strategy, trials: int, objective=quadratic) -> list[TrialRecord]:
    out: list[TrialRecord] = []
    while len(out) < trials:
        archs = strategy.ask(1)
        if not archs:
            break
        pending = record(len(out), archs[0], TrialState.RUNNING)
        strategy.tell([pending])
        out.append(record(len(out), archs[0], accuracy=objective(archs[0])))
        strategy.tell([out[-1]])
    return out


@pytest.mark.parametrize("tuner", ["TPE", "Random", "Evolution", "GridSearch"])
def test_nni_tuners_run_deterministically_inside_the_space(tuner):
    pytest.importorskip("nni")
    space = numeric_space()
    before = random.getstate(), np.random.get_state()[1].copy()
    options = {"tuner": tuner}
    trials = drive(make_strategy("nni", space, ACC, 3, options), 40)
    assert len(trials) == 40 and len({t.arch_id for t in trials}) == 40
    assert all(space.validate(t.arch) == t.arch for t in trials)
    again = drive(make_strategy("nni", space, ACC, 3, options), 40)
    assert [t.arch for t in again] == [t.arch for t in trials]
    assert random.getstate() == before[0] and (np.random.get_state()[1] == before[1]).all()


def test_nni_evolution_takes_a_space_with_two_levels_of_conditions():
    pytest.importorskip("nni")
    space = mixed_space()
    trials = drive(make_strategy("nni", space, ACC, 0, {"tuner": "Evolution"}), 40,
                   objective=lambda a: a["lr"])
    assert len({t.arch_id for t in trials}) == 40
    assert {t.arch["family"] for t in trials} == {"mlp", "cnn"}
    assert all(space.validate(t.arch) == t.arch for t in trials)


@pytest.mark.parametrize("tuner", ["TPE", "Random", "GridSearch"])
def test_nni_tuners_take_one_level_of_conditions(tuner):
    pytest.importorskip("nni")
    space = one_level_space()
    trials = drive(make_strategy("nni", space, ACC, 0, {"tuner": tuner}), 30,
                   objective=lambda a: a["w"])
    assert len({t.arch_id for t in trials}) == 30
    assert all(space.validate(t.arch) == t.arch for t in trials)


@pytest.mark.parametrize("direction", ["max", "min"])
def test_nni_tpe_follows_the_objective_direction(direction):
    pytest.importorskip("nni")
    objectives = parse_objectives([f"accuracy:{direction}"])
    sign = 1.0 if direction == "max" else -1.0
    strategy = make_strategy("nni", numeric_space(), objectives, 0,
                             {"tuner_args": {"tpe_args": {"n_startup_jobs": 10}}})
    trials = drive(strategy, 80, objective=lambda a: sign * quadratic(a))
    value = [sign * t.metrics["accuracy"] for t in trials]
    assert np.mean(value[-20:]) > np.mean(value[:20])


def test_nni_tpe_learns_from_a_replayed_history():
    pytest.importorskip("nni")
    space = numeric_space()
    history = drive(make_strategy("nni", space, ACC, 0), 30)
    resumed = make_strategy("nni", space, ACC, 0)
    resumed.tell(history)
    assert resumed.inner.tuner._history  # TPE imported the 30 results
    assert not {a.arch_id for a in resumed.ask(10)} & {t.arch_id for t in history}


def test_nni_tpe_without_grid_dedup_gets_its_repeats_answered_from_history():
    pytest.importorskip("nni")
    space = SearchSpace({"a": Choice(tuple(range(5))), "b": Choice(tuple(range(5)))})
    options = {"grid_dedup": False, "tuner_args": {"tpe_args": {"n_startup_jobs": 5}}}
    strategy = make_strategy("nni", space, ACC, 0, options)
    trials = drive(strategy, 20, objective=lambda a: -abs(a["a"] - 3) - abs(a["b"] - 1))
    assert len({t.arch_id for t in trials}) == 20
    assert strategy.inner._next_id > 20  # TPE repeated itself and was answered
    with pytest.raises(ConfigError, match="grid_dedup = false applies to the TPE and Random"):
        make_strategy("nni", space, ACC, 0, {"tuner": "Evolution", "grid_dedup": False})
