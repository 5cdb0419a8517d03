"""NNI's HPO tuners (TPE, Evolution, Random, GridSearch, Anneal) as a strategy: ``"nni"``.

An optional extra: ``pip install 'nasforge[nni]'``. NNI is imported only when the strategy
is built, never when nasforge is imported. The adapter drives a tuner through NNI's tuner
interface, the way NNI's own dispatcher does:

- ``update_search_space(search_space)`` once, with our space translated by `nni_space`
  (nested choices for conditional parameters: one level for TPE, Random and GridSearch,
  which crash on deeper nesting in NNI 3.0; any depth for Evolution and Anneal; a space
  a tuner cannot take is refused with a ConfigError before NNI is imported);
- ``generate_parameters(parameter_id)`` for each candidate, translated back into a validated
  `Architecture`;
- ``receive_trial_result(parameter_id, parameters, value)`` then ``trial_end(id, True)``
  when the trial finishes with a value, ``trial_end(id, False)`` when it fails.

One objective only (NNI tuners optimise one scalar, maximising or minimising it per their
``optimize_mode``, which follows the objective's direction).

Candidates the tuner proposes twice are not returned twice: a repeat of a finished trial is
answered at once with that trial's value, and the tuner is asked again. (NNI's TPE and
Random first replace their own repeats by a grid sweep; option ``grid_dedup = false`` turns
that off, see `nni_strategy`.) Anneal needs hyperopt 0.1.2, which fails on NumPy 2: it is
refused there with a ConfigError that says so.

Replay (resume) and trials the tuner did not generate: finished trials are handed to the
tuner's ``import_data`` (NNI's own resume path) where the tuner learns from it (TPE; Anneal;
GridSearch marks them as tried). Evolution's ``import_data`` does nothing and its
``receive_trial_result`` refuses parameters it did not generate, so a resumed Evolution
restarts its population (Random does not learn at all). A resumed run never repeats a stored
candidate, but is not identical to an uninterrupted one: the tuner's random stream restarts.

Randomness: TPE and Random take the seed; Evolution and Anneal draw from unseeded
generators that the adapter replaces by seeded ones, and every tuner call runs with the
global `random` / `numpy.random` states swapped for the adapter's own, so the run is
reproducible and the caller's global random state is left untouched.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import math
import random
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from nasforge.errors import ConfigError, did_you_mean
from nasforge.objectives import Objective
from nasforge.records import TrialRecord, TrialState
from nasforge.searchspace.architecture import Architecture
from nasforge.searchspace.space import SearchSpace
from nasforge.strategies.nni_space import NniSpace, arch_from_nni, nni_params, nni_search_space

logger = logging.getLogger(__name__)

INSTALL_HINT = "the nni strategy needs NNI: pip install 'nasforge[nni]'"
#: Tuner proposals per `ask` slot before giving up on finding a new candidate.
MAX_ROUNDS = 200


class Tuner(Protocol):
    """The part of NNI's `nni.tuner.Tuner` the adapter uses (``trial_end`` and
    ``import_data`` are optional)."""

    def update_search_space(self, search_space: NniSpace) -> None: ...
    def generate_parameters(self, parameter_id: int, **kwargs: Any) -> dict[str, Any]: ...
    def receive_trial_result(self, parameter_id: int, parameters: dict[str, Any],
                             value: float, **kwargs: Any) -> None: ...


def _reseed_evolution(tuner: Any, seed: int) -> None:
    """EvolutionTuner draws its first population from an unseeded RandomState: redraw it."""
    tuner.random_state = np.random.RandomState(seed)
    tuner.population = []
    for _ in range(tuner.population_size):
        tuner._random_generate_individual()


def _reseed_hyperopt(tuner: Any, seed: int) -> None:
    tuner.rval.rstate = np.random.RandomState(seed)


def _hyperopt_fits_numpy() -> str | None:
    """hyperopt 0.1.2 (NNI's Anneal) calls int() on 1-element arrays, an error in newer
    NumPy ("only 0-dimensional arrays can be converted to Python scalars")."""
    try:
        int(np.asarray([1]))
    except TypeError:
        return (f"NNI's Anneal tuner runs on hyperopt 0.1.2, which fails on NumPy "
                f"{np.__version__}: it calls int() on 1-element arrays (deprecated since NumPy "
                "1.25, now an error). Use tuner = \"TPE\" or \"Evolution\"")
    return None


@dataclass(frozen=True, slots=True)
class TunerSpec:
    """How to build one of NNI's tuners and what it can do."""

    module: str
    cls: str
    args: Callable[[str, int], dict[str, Any]]  # (optimize_mode, seed) -> constructor args
    max_nesting: int | None = None  # levels of nested choices it handles (None: any)
    imports_history: bool = True  # learns from trials it did not generate (import_data)
    reseed: Callable[[Any, int], None] | None = None  # after update_search_space
    needs: str = ""  # an extra package, named in the error when it is missing
    check: Callable[[], str | None] | None = None  # why it cannot run here, or None


TUNERS: Mapping[str, TunerSpec] = {
    # NNI's TPE, Random and GridSearch crash on choices nested two deep: nni.common.hpo_utils
    # ParameterSpec.is_activated_in raises KeyError when an outer choice took another option
    "TPE": TunerSpec("nni.algorithms.hpo.tpe_tuner", "TpeTuner",
                     lambda mode, seed: {"optimize_mode": mode, "seed": seed}, max_nesting=1),
    "Random": TunerSpec("nni.algorithms.hpo.random_tuner", "RandomTuner",
                        lambda mode, seed: {"seed": seed}, max_nesting=1,
                        imports_history=False),
    "Evolution": TunerSpec("nni.algorithms.hpo.evolution_tuner", "EvolutionTuner",
                           lambda mode, seed: {"optimize_mode": mode},
                           imports_history=False, reseed=_reseed_evolution),
    "GridSearch": TunerSpec("nni.algorithms.hpo.gridsearch_tuner", "GridSearchTuner",
                            lambda mode, seed: {}, max_nesting=1),
    "Anneal": TunerSpec("nni.algorithms.hpo.hyperopt_tuner", "HyperoptTuner",
                        lambda mode, seed: {"algorithm_name": "anneal", "optimize_mode": mode},
                        reseed=_reseed_hyperopt, needs="hyperopt==0.1.2",
                        check=_hyperopt_fits_numpy),
}


class NniStrategy:
    """Drives one NNI tuner through ask/tell over `space` for a single `objective`."""

    def __init__(self, tuner: Tuner, space: SearchSpace, objective: Objective, seed: int = 0,
                 spec: TunerSpec | None = None, name: str = "tuner") -> None:
        self.tuner = tuner
        self.space = space
        self.objective = objective
        self.spec = spec or TunerSpec("", "", lambda mode, seed: {})
        self.search_space = nni_search_space(space, self.spec.max_nesting, name)
        self._rng_states = (random.Random(seed).getstate(),
                            np.random.RandomState(seed).get_state())
        self._next_id = 0
        self._issued: dict[str, tuple[int, dict[str, Any]]] = {}  # arch_id -> (id, params)
        self._known: dict[str, TrialRecord | None] = {}  # arch_id -> latest record (or None)
        self._reported: set[int] = set()  # trial numbers already handed to the tuner
        with self._own_rng():
            tuner.update_search_space(self.search_space)
            if self.spec.reseed is not None:
                self.spec.reseed(tuner, seed)

    @contextlib.contextmanager
    def _own_rng(self) -> Iterator[None]:
        """Run tuner code on this strategy's global-RNG states; restore the caller's."""
        saved = random.getstate(), np.random.get_state()
        random.setstate(self._rng_states[0])
        np.random.set_state(self._rng_states[1])
        try:
            yield
        finally:
            self._rng_states = random.getstate(), np.random.get_state()
            random.setstate(saved[0])
            np.random.set_state(saved[1])

    # ------------------------------------------------------------------ ask
    def ask(self, n: int) -> list[Architecture]:
        proposals: list[Architecture] = []
        with self._own_rng():
            for _ in range(max(n, 0)):
                arch = self._one()
                if arch is None:
                    break
                proposals.append(arch)
        return proposals

    def _one(self) -> Architecture | None:
        for _ in range(MAX_ROUNDS):
            pid, self._next_id = self._next_id, self._next_id + 1
            try:
                params = self.tuner.generate_parameters(pid)
            except Exception as err:
                if type(err).__name__ == "NoMoreTrialError":  # e.g. GridSearch is done
                    return None
                raise
            arch = arch_from_nni(params, self.space)
            if arch.arch_id not in self._known:
                self._known[arch.arch_id] = None
                self._issued[arch.arch_id] = (pid, params)
                return arch
            known = self._known[arch.arch_id]
            value = self._value(known) if known is not None else None
            self._finish(pid, params, value)  # a repeat: answer it from what we know
        logger.info("NNI proposed only known candidates %d times in a row", MAX_ROUNDS)
        return None

    # ------------------------------------------------------------------ tell
    def tell(self, records: Sequence[TrialRecord]) -> None:
        foreign: list[dict[str, Any]] = []
        with self._own_rng():
            for record in records:
                known = self._known.get(record.arch_id)
                if known is None or not known.state.is_finished:
                    self._known[record.arch_id] = record
                if not record.state.is_finished or record.number in self._reported:
                    continue
                self._reported.add(record.number)
                value = self._value(record)
                issued = self._issued.pop(record.arch_id, None)
                if issued is not None:
                    self._finish(*issued, value)
                elif value is not None:
                    foreign.append({"parameter": nni_params(record.arch, self.search_space),
                                    "value": value})
            if foreign and self.spec.imports_history and hasattr(self.tuner, "import_data"):
                self.tuner.import_data(foreign)
            elif foreign:
                logger.debug("%d trials the tuner did not generate are not replayed into it",
                             len(foreign))

    def _value(self, record: TrialRecord) -> float | None:
        if record.state is TrialState.FAILED:
            return None
        value = record.metrics.get(self.objective.metric)
        return float(value) if value is not None and math.isfinite(value) else None

    def _finish(self, pid: int, params: dict[str, Any], value: float | None) -> None:
        if value is not None:
            self.tuner.receive_trial_result(pid, params, value)
        trial_end = getattr(self.tuner, "trial_end", None)
        if trial_end is not None:
            trial_end(pid, value is not None)


def _tuner_spec(name: object) -> tuple[str, TunerSpec]:
    by_lower = {key.lower(): key for key in TUNERS}
    key = by_lower.get(name.lower()) if isinstance(name, str) else None
    if key is None:
        raise ConfigError(f"nni option tuner = {name!r} is not supported."
                          f"{did_you_mean(name, TUNERS)} Supported NNI tuners: "
                          f"{', '.join(TUNERS)}.")
    return key, TUNERS[key]


def _keep(params: Any) -> Any:
    return params


def nni_strategy(space: SearchSpace, objectives: Sequence[Objective], seed: int, *,
                 tuner: str = "TPE", tuner_args: Mapping[str, object] | None = None,
                 grid_dedup: bool = True) -> NniStrategy:
    """The registered ``nni`` factory: `tuner` is an NNI tuner name, `tuner_args` extra
    constructor arguments (e.g. ``{ population_size = 64 }`` for Evolution).

    NNI's TPE and Random replace a proposal they already made by the next point of a grid
    sweep (NNI's ``Deduplicator``), which on a discrete space turns a converging TPE into a
    lexicographic scan. ``grid_dedup = false`` switches that off: the repeat reaches the
    adapter, which answers it with the stored value and asks the tuner again.
    """
    name, spec = _tuner_spec(tuner)
    if not isinstance(grid_dedup, bool):
        raise ConfigError(f"nni option grid_dedup = {grid_dedup!r} must be true or false.")
    if len(objectives) != 1:
        raise ConfigError(
            f"The nni strategy optimises one objective, got {len(objectives)} "
            f"({', '.join(map(str, objectives))}): NNI's tuners are single-objective. Keep one "
            "objective, or use the evolution strategy for several.")
    if tuner_args is not None and not isinstance(tuner_args, Mapping):
        raise ConfigError(f"nni option tuner_args = {tuner_args!r} must be a table of the "
                          f"{name} tuner's arguments.")
    nni_search_space(space, spec.max_nesting, name)  # refuse what it cannot express, first
    try:
        module = importlib.import_module(spec.module)
    except ImportError as err:
        missing = (err.name or "").split(".")[0]
        if missing == "nni":
            raise ConfigError(f"{INSTALL_HINT}.") from None
        extra = f" (pip install '{spec.needs}')" if spec.needs else ""
        raise ConfigError(f"NNI's {name} tuner cannot be imported: {err}{extra}.") from None
    _quiet_nni_stdout()
    problem = spec.check() if spec.check is not None else None
    if problem:
        raise ConfigError(f"{problem}.")
    objective = objectives[0]
    mode = "maximize" if objective.direction == "max" else "minimize"
    args = {**spec.args(mode, seed), **dict(tuner_args or {})}
    try:
        instance = getattr(module, spec.cls)(**args)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"nni option tuner_args for {name} are invalid: {err}.") from None
    strategy = NniStrategy(instance, space, objective, seed, spec, name)
    if not grid_dedup:
        if not hasattr(instance, "dedup"):
            raise ConfigError(f"nni option grid_dedup = false applies to the TPE and Random "
                              f"tuners, which deduplicate by grid search; {name} does not.")
        instance.dedup = _keep  # set by update_search_space, so replaced after it
    return strategy


def _quiet_nni_stdout() -> None:
    """NNI attaches a handler printing to stdout when imported; library output must never go
    to stdout (it would corrupt `--json`), so drop it and let records propagate to the
    application's handlers like any other library's."""
    for name in ("nni", ""):
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            if getattr(handler, "stream", None) is sys.stdout:
                logger.removeHandler(handler)
    logging.getLogger("nni").propagate = True
