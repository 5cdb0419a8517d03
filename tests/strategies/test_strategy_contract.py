"""The strategy contract, for every registered strategy (tested by being registered).

Each strategy runs through the real search loop (in-memory store) against a synthetic,
deterministic evaluator (hundreds of trials in well under a second), on a conditional mixed
space, on a numeric space and on a canonicalised cell space, with one and with two
objectives.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
from collections.abc import Sequence

import numpy as np
import pytest

from nasforge.config import DataConfig, SearchConfig, TrainingConfig
from nasforge.errors import ConfigError
from nasforge.frozen import freeze
from nasforge.objectives import parse_objectives
from nasforge.records import CurvePoint, EvalResult, TrialState
from nasforge.search import Search
from nasforge.searchspace.architecture import Architecture
from nasforge.searchspace.assemble import assemble_space
from nasforge.searchspace.params import Choice, FloatRange, IntRange
from nasforge.searchspace.space import SearchSpace
from nasforge.store import open_store
from nasforge.strategies import STRATEGIES, make_strategy

BUDGET = 60
#: Strategies slow per ask (a Gaussian-process fit each time) run a shorter contract.
BUDGETS = {"gp": 15}


def mixed_space() -> SearchSpace:
    """Families with conditions, categorical and numeric parameters, epochs as rungs."""
    return assemble_space(["mlp", "cnn"], {"epochs": [1, 3, 9],
                                           "lr": {"low": 1e-4, "high": 1e-1, "log": True}},
                          {"cnn": {"stages": {"low": 1, "high": 2}}})


def numeric_space() -> SearchSpace:
    return SearchSpace({"x": FloatRange(-2.0, 2.0), "y": FloatRange(1e-3, 1.0, log=True),
                        "n": IntRange(1, 64)})


def cell_space() -> SearchSpace:
    """Cells with a canonicaliser: many encodings are one network, so a strategy that
    proposes a non-canonical encoding (or trains one network twice) breaks the contract."""
    return assemble_space(["cell"], {"epochs": [1, 3, 9],
                                     "lr": {"low": 1e-4, "high": 1e-1, "log": True}},
                          {"cell": {"nodes": 4, "ops": ["none", "skip_connect", "nor_conv_1x1",
                                                        "nor_conv_3x3", "avg_pool_3x3"]}})


SPACES = {"mixed": mixed_space, "numeric": numeric_space, "cell": cell_space}
#: Strategies that refuse a kind of space by design (with a clear ConfigError).
REFUSES = {("cmaes", "mixed"), ("nni", "mixed"), ("halving", "numeric"),
           ("cmaes", "cell"), ("nni", "cell"),
           ("supernet", "mixed"), ("supernet", "numeric"),  # supernet: network families only
           ("supernet", "cell")}  # ... and not cells yet
#: Strategies whose resume reproduces an uninterrupted run exactly.
RESUMES_EXACTLY = {"random", "evolution", "halving"}
OBJECTIVES = {"single": ("accuracy:max",), "multi": ("accuracy:max", "params:min")}


def _unit(arch: Architecture, salt: str) -> float:
    digest = hashlib.sha256(f"{salt}:{arch.json}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class SyntheticEvaluator:
    """Accuracy and params as fixed functions of the architecture, with a learning curve;
    every 7th architecture (by hash) fails and every 11th is pruned."""

    def evaluate(self, archs: Sequence[Architecture]) -> list[EvalResult]:
        return [self._one(a) for a in archs]

    def _one(self, arch: Architecture) -> EvalResult:
        u = _unit(arch, "state")
        if u < 1 / 7:
            return EvalResult.failed("synthetic failure")
        quality = _unit(arch, "quality")
        params = float(sum(abs(v) for v in arch.values() if isinstance(v, (int, float))))
        epochs = int(arch.get("epochs", 1))
        curve = tuple(CurvePoint(e, {"val_accuracy": quality * (1 - math.exp(-e / 3))})
                      for e in range(1, epochs + 1))
        metrics = {"accuracy": curve[-1].metrics["val_accuracy"], "params": params}
        state = TrialState.PRUNED if u > 1 - 1 / 11 else TrialState.COMPLETE
        return EvalResult(state, metrics, curve)


def _config(space: SearchSpace, strategy: str, objectives: tuple[str, ...], budget: int,
            seed: int) -> SearchConfig:
    return SearchConfig(
        name="contract", budget=budget, objectives=parse_objectives(objectives),
        strategy=strategy, strategy_options=freeze({}), seed=seed, batch=1,
        data=DataConfig("synthetic"), training=TrainingConfig(), space=space,
        raw=freeze({"search": {"name": "contract", "strategy": strategy, "seed": seed}}))


def _run(space_name: str, strategy: str, objectives: tuple[str, ...], budget: int | None = None,
         seed: int = 0, store=None) -> list:
    budget = budget or BUDGETS.get(strategy, BUDGET)
    config = _config(SPACES[space_name](), strategy, objectives, budget, seed)
    store = store or open_store("sqlite://")
    Search(config, store, SyntheticEvaluator(), resume=True).run()
    return store.trials("contract")


def _cases():
    for name in STRATEGIES.names():
        for space_name in SPACES:
            for objective_name, objectives in OBJECTIVES.items():
                marks = []
                if (name, space_name) in REFUSES:
                    marks.append(pytest.mark.skip(reason=f"{name} refuses a {space_name} space"))
                yield pytest.param(name, space_name, objectives,
                                   id=f"{name}-{space_name}-{objective_name}", marks=marks)


def _available(name: str) -> None:
    if name == "nni" and importlib.util.find_spec("nni") is None:
        with pytest.raises(ConfigError, match="pip install"):
            make_strategy("nni", numeric_space(), parse_objectives(["accuracy:max"]), 0)
        pytest.skip("NNI is not installed (the strategy says how to install it)")


def _refuses_multi(name: str, space: SearchSpace, objectives: tuple[str, ...]) -> bool:
    """Single-objective strategies refuse several objectives with a clear error."""
    if len(objectives) < 2:
        return False
    try:
        make_strategy(name, space, parse_objectives(objectives), 0)
    except ConfigError as err:
        assert "objective" in str(err).lower()
        return True
    return False


@pytest.mark.parametrize("name, space_name, objectives", list(_cases()))
def test_strategy_contract(name, space_name, objectives):
    _available(name)
    space = SPACES[space_name]()
    if _refuses_multi(name, space, objectives):
        pytest.skip(f"{name} is single-objective (it says so)")
    trials = _run(space_name, name, objectives)

    # the budget is spent, every candidate is inside the space, none is proposed twice
    assert sum(t.state.is_finished for t in trials) == BUDGETS.get(name, BUDGET)
    assert all(space.validate(t.arch) == t.arch for t in trials)
    assert len({t.arch_id for t in trials}) == len(trials)
    states = {t.state for t in trials}
    assert TrialState.FAILED in states and TrialState.COMPLETE in states  # failures handled

    # determinism under a seed; another seed searches differently
    again = _run(space_name, name, objectives)
    assert [t.arch for t in again] == [t.arch for t in trials]
    other = _run(space_name, name, objectives, seed=1)
    assert [t.arch for t in other] != [t.arch for t in trials]


@pytest.mark.parametrize("name", sorted(RESUMES_EXACTLY))
def test_resume_proposes_what_an_uninterrupted_run_would(name):
    if name not in STRATEGIES:
        pytest.skip(f"{name} is not registered yet")
    store = open_store("sqlite://")
    _run("mixed", name, OBJECTIVES["multi"], budget=25, store=store)
    resumed = _run("mixed", name, OBJECTIVES["multi"], store=store)
    uninterrupted = _run("mixed", name, OBJECTIVES["multi"])
    assert [t.arch for t in resumed] == [t.arch for t in uninterrupted]


def test_an_exhausted_space_ends_every_strategy_cleanly():
    tiny = SearchSpace({"a": Choice(("x", "y", "z")), "b": IntRange(1, 3)})  # 9 architectures
    for name in STRATEGIES.names():
        try:
            make_strategy(name, tiny, parse_objectives(["accuracy:max"]), 0)
        except ConfigError:
            continue  # refuses such a space by design (cmaes, halving, nni without NNI)
        config = _config(tiny, name, OBJECTIVES["single"], 30, 0)
        store = open_store("sqlite://")
        outcome = Search(config, store, SyntheticEvaluator()).run()
        trials = store.trials("contract")
        assert len({t.arch_id for t in trials}) == len(trials) <= 9, name
        assert outcome.exhausted or len(trials) == 9, name


def test_a_fresh_strategy_has_no_hidden_global_state():
    rng_state = np.random.get_state()[1].copy()
    for name in STRATEGIES.names():
        if name in ("cmaes", "nni"):
            continue
        make_strategy(name, mixed_space(), parse_objectives(["accuracy:max"]), 3).ask(3)
    assert (np.random.get_state()[1] == rng_state).all()
