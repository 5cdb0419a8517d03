from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest

from nasforge.errors import ConfigError
from nasforge.objectives import parse_objectives
from nasforge.records import CurvePoint, TrialRecord, TrialState
from nasforge.searchspace.architecture import Architecture
from nasforge.searchspace.assemble import assemble_space
from nasforge.searchspace.cells import EDGE_PARAMS, NB201_OPS, nb201_space
from nasforge.searchspace.params import Choice, FloatRange, IntRange
from nasforge.searchspace.space import SearchSpace
from nasforge.strategies import make_strategy
from nasforge.strategies.bayesian import OptunaStrategy

OBJ = parse_objectives(["accuracy:max"])
TWO = parse_objectives(["accuracy:max", "params:min"])
ALIASES = ["bayesian", "tpe", "gp", "nsga2", "cmaes"]
HAS_CMAES = importlib.util.find_spec("cmaes") is not None


def numeric_space() -> SearchSpace:
    return SearchSpace({"x": FloatRange(0.0, 1.0), "lr": FloatRange(1e-4, 1e-1, log=True),
                        "width": IntRange(8, 256, log=True), "depth": IntRange(1, 9, step=2),
                        "epochs": Choice((10,))})


def conditional_space() -> SearchSpace:
    return assemble_space(["mlp", "cnn"], {}, {})


def score(arch: Architecture) -> float:
    """A made-up accuracy: any deterministic function of the architecture will do."""
    return float(int(arch.arch_id[:6], 16) % 1000) / 1000


def run(strategy, trials: int, batch: int = 1, metrics=None, start: int = 0
        ) -> list[Architecture]:
    """ask -> tell RUNNING -> tell COMPLETE, like the search loop."""
    metrics = metrics or (lambda a: {"accuracy": score(a)})
    proposed: list[Architecture] = []
    number = start
    while len(proposed) < trials:
        archs = strategy.ask(min(batch, trials - len(proposed)))
        if not archs:
            break
        pending = [TrialRecord("s", number + i, a, TrialState.RUNNING) for i, a in enumerate(archs)]
        strategy.tell(pending)
        strategy.tell([TrialRecord("s", r.number, r.arch, TrialState.COMPLETE, metrics(r.arch))
                       for r in pending])
        number += len(archs)
        proposed += archs
    return proposed


def needs(name: str) -> None:
    if name == "cmaes" and not HAS_CMAES:
        pytest.skip("the cmaes package is not installed")


def short_run(name: str, space: SearchSpace) -> list[Architecture]:
    """A few random start-up trials, then model-based ones (a single one for the slow GP)."""
    if name == "gp":
        options, trials, batch = {"n_startup_trials": 3}, 4, 1
    elif name == "nsga2":
        options, trials, batch = {"population_size": 4}, 12, 2
    else:
        options, trials, batch = ({"n_startup_trials": 4} if name != "cmaes" else {}), 12, 2
    archs = run(make_strategy(name, space, OBJ, seed=0, options=options), trials, batch)
    assert len(archs) == trials == len({a.arch_id for a in archs})
    assert all(space.validate(a) == a for a in archs)
    return archs


@pytest.mark.parametrize("name", [a for a in ALIASES if a != "cmaes"])
def test_every_alias_proposes_valid_candidates_in_a_conditional_space(name):
    archs = short_run(name, conditional_space())
    if name != "gp":
        assert {a["family"] for a in archs} == {"mlp", "cnn"}  # both sides of the condition


@pytest.mark.parametrize("name", ALIASES)
def test_every_alias_proposes_valid_candidates_in_a_numeric_space(name):
    needs(name)
    archs = short_run(name, numeric_space())
    assert all(a["epochs"] == 10 for a in archs)  # a constant is assigned, never suggested


def test_cmaes_refuses_categorical_spaces_and_several_objectives():
    with pytest.raises(ConfigError, match=r"cmaes strategy needs a numeric space.*family.*'tpe'"):
        make_strategy("cmaes", conditional_space(), OBJ, seed=0)
    with pytest.raises(ConfigError, match=r"one objective.*'nsga2' or 'tpe'"):
        make_strategy("cmaes", numeric_space(), TWO, seed=0)


def test_missing_optional_packages_give_the_install_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("cmaes", "torch") else real(name, *a))
    with pytest.raises(ConfigError, match="pip install cmaes"):
        make_strategy("cmaes", numeric_space(), OBJ, seed=0)
    with pytest.raises(ConfigError, match="pip install torch"):
        make_strategy("gp", numeric_space(), OBJ, seed=0)


def test_bad_sampler_names_and_options_are_config_errors():
    with pytest.raises(ConfigError, match="auto, tpe, gp, cmaes, nsga2"):
        make_strategy("bayesian", numeric_space(), OBJ, seed=0, options={"sampler": "tpee"})
    with pytest.raises(ConfigError, match=r"TPESampler has no option 'n_startup'.*n_startup_tr"):
        make_strategy("tpe", numeric_space(), OBJ, seed=0, options={"n_startup": 3})
    with pytest.raises(ConfigError, match="at least one objective"):
        OptunaStrategy(numeric_space(), (), seed=0)


@pytest.mark.parametrize("name", ["tpe", "nsga2"])
def test_multi_objective_with_directions(name):
    space = nb201_space()
    strategy = make_strategy(name, space, TWO, seed=1, options={"population_size": 8}
                             if name == "nsga2" else {"n_startup_trials": 5})
    convs = lambda a: sum(a[e] == "nor_conv_3x3" for e in EDGE_PARAMS)  # noqa: E731
    archs = run(strategy, 24, batch=3,
                metrics=lambda a: {"accuracy": 0.5 + 0.05 * convs(a), "params": 1.0 + convs(a)})
    assert len({a.arch_id for a in archs}) == 24
    study = strategy.inner.study
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(done) >= 24 and all(len(t.values) == 2 for t in done)


def test_failed_nan_missing_and_pruned_trials_are_handled():
    space = numeric_space()
    strategy = OptunaStrategy(space, OBJ, seed=0, n_startup_trials=2)
    a, b, c, d, e = strategy.ask(5)
    curve = (CurvePoint(0, {"val_accuracy": 0.2}), CurvePoint(1, {"val_accuracy": 0.3}))
    strategy.tell([
        TrialRecord("s", 0, a, TrialState.FAILED, error="diverged"),
        TrialRecord("s", 1, b, TrialState.COMPLETE, {"accuracy": math.nan}),
        TrialRecord("s", 2, c, TrialState.COMPLETE, {"loss": 0.1}),  # objective missing
        TrialRecord("s", 3, d, TrialState.PRUNED, curve=curve),
        TrialRecord("s", 4, e, TrialState.COMPLETE, {"accuracy": 0.9}),
    ])
    trials = strategy.study.trials
    assert [t.state.name for t in trials] == ["FAIL", "FAIL", "FAIL", "PRUNED", "COMPLETE"]
    assert trials[3].intermediate_values == {1: 0.3} and trials[4].values == [0.9]
    replayed = space.sample(np.random.default_rng(1))  # a pruned trial of an earlier run
    strategy.tell([TrialRecord("s", 9, replayed, TrialState.PRUNED, curve=curve)])
    last = strategy.study.trials[-1]
    assert last.state.name == "PRUNED" and last.intermediate_values == {1: 0.3}
    assert all(space.validate(x) == x for x in strategy.ask(3))  # and it goes on

    several = OptunaStrategy(space, TWO, seed=0)  # Optuna refuses MO intermediate values
    (x,) = several.ask(1)
    several.tell([TrialRecord("s", 0, x, TrialState.PRUNED, curve=curve)])
    several.tell([TrialRecord("t", 0, space.sample(np.random.default_rng(0)),
                              TrialState.PRUNED, curve=curve)])  # a replayed one too
    assert [t.state.name for t in several.study.trials] == ["PRUNED", "PRUNED"]


def test_telling_a_trial_twice_counts_it_once_and_pending_records_bind_to_proposals():
    strategy = OptunaStrategy(numeric_space(), OBJ, seed=0)
    archs = run(strategy, 6, batch=3)
    record = TrialRecord("s", 0, archs[0], TrialState.COMPLETE, {"accuracy": 0.5})
    strategy.tell([record, record])
    trials = strategy.study.trials
    assert len(trials) == 6 and all(t.state.name == "COMPLETE" for t in trials)
    assert [t.params["x"] for t in trials] == [a["x"] for a in archs]


def cell(ops: tuple[str, ...]) -> Architecture:
    return Architecture({"family": "cell", **dict(zip(EDGE_PARAMS, ops, strict=True))})


def test_replayed_history_steers_the_sampler():
    """40 results where 3x3 convolutions are good: a strategy that was told them proposes
    more 3x3 convolutions than a fresh one (random start-up: 1 edge in 5)."""
    space, rng = nb201_space(), np.random.default_rng(0)
    history = []
    for number in range(40):
        ops = tuple(str(o) for o in rng.choice(NB201_OPS, 6))
        arch = cell(ops)
        history.append(TrialRecord("old", number, arch, TrialState.COMPLETE,
                                   {"accuracy": ops.count("nor_conv_3x3") + 0.1 * rng.random()}))
    resumed, fresh = (make_strategy("tpe", space, OBJ, seed=2) for _ in range(2))
    resumed.tell(history)
    share = {}
    for name, strategy in (("resumed", resumed), ("fresh", fresh)):
        archs = strategy.ask(10)
        assert not {a.arch_id for a in archs} & {r.arch_id for r in history}
        share[name] = np.mean([a[e] == "nor_conv_3x3" for a in archs for e in EDGE_PARAMS])
    assert share["resumed"] > 0.35 and share["resumed"] > share["fresh"] + 0.1  # random: 0.2


def test_no_duplicates_until_a_finite_space_is_exhausted():
    space = SearchSpace({"a": Choice(("x", "y", "z")), "b": IntRange(1, 4)})  # 12 archs
    strategy = make_strategy("tpe", space, OBJ, seed=0, options={"n_startup_trials": 3})
    archs = run(strategy, 20, batch=2)
    assert len(archs) == 12 == len({a.arch_id for a in archs})
    assert strategy.ask(3) == []


def test_pending_records_of_other_processes_are_not_proposed():
    space = SearchSpace({"a": Choice(("x", "y", "z")), "b": IntRange(1, 4)})
    everything = list(space.enumerate())
    strategy = OptunaStrategy(space, OBJ, seed=0)
    strategy.tell([TrialRecord("s", i, a, TrialState.RUNNING)
                   for i, a in enumerate(everything[1:])])
    assert strategy.ask(2) == [everything[0]]
    strategy.tell([TrialRecord("s", 1, everything[1], TrialState.COMPLETE, {"accuracy": 1.0})])
    states = [t.state.name for t in strategy.study.trials if t.state.name != "FAIL"]
    assert states == ["RUNNING", "COMPLETE"]  # FAIL: proposals of pending ones, refused


@pytest.mark.parametrize("name", ["tpe", "nsga2"])
def test_same_seed_and_history_give_the_same_proposals(name):
    space = conditional_space()
    first, second, other = (make_strategy(name, space, OBJ, seed=s) for s in (5, 5, 6))
    one, two = run(first, 14, batch=2), run(second, 14, batch=2)
    assert one == two
    assert run(other, 14, batch=2) != one


def test_nsga2_keeps_its_generations_across_a_replay():
    space = numeric_space()
    options = {"population_size": 4}
    first = make_strategy("nsga2", space, TWO, seed=0, options=options)
    metrics = lambda a: {"accuracy": a["x"], "params": a["width"]}  # noqa: E731
    archs = run(first, 12, metrics=metrics)
    history = [TrialRecord("s", i, a, TrialState.COMPLETE, metrics(a)) for i, a in enumerate(archs)]
    resumed = make_strategy("nsga2", space, TWO, seed=0, options=options)
    resumed.tell(history)
    generations = [t.system_attrs["NSGAIISampler:generation"] for t in resumed.inner.study.trials]
    assert generations == [0] * 4 + [1] * 4 + [2] * 4  # replayed trials rebuild the populations
    assert all(space.validate(a) == a for a in resumed.ask(4))
