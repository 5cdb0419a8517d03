"""Which Optuna sampler a Bayesian strategy uses, built and checked for our space.

- ``auto`` / ``tpe``: `TPESampler` (multivariate; ``group=True`` when the space has
  conditions, so that each branch is modelled jointly; constant liar for batches). With
  several objectives Optuna's TPE is multi-objective TPE (MOTPE).
- ``gp``: `GPSampler` (one or several objectives); needs torch and scipy. Parameters that
  exist only under a condition are outside its joint model and sampled at random.
- ``cmaes``: `CmaEsSampler`; one objective and integer/float ranges only (constants allowed);
  needs the ``cmaes`` package.
- ``nsga2``: `NSGAIISampler` (a genetic algorithm; one or several objectives).

Every sampler gets the strategy's seed; options from ``strategy_options`` override defaults.
"""

from __future__ import annotations

import importlib.util
import inspect
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from nasforge.errors import ConfigError
from nasforge.objectives import Objective
from nasforge.searchspace.space import SearchSpace
from nasforge.strategies import optuna_space

if TYPE_CHECKING:
    from optuna.samplers import BaseSampler, CmaEsSampler, GPSampler, NSGAIISampler, TPESampler

SAMPLERS = ("auto", "tpe", "gp", "cmaes", "nsga2")

#: TPE settings used by ``auto`` and ``tpe`` (any of them can be overridden by an option).
TPE_DEFAULTS: Mapping[str, object] = {"n_startup_trials": 5, "multivariate": True,
                                      "constant_liar": True}


def build_sampler(name: str, space: SearchSpace, objectives: Sequence[Objective], seed: int,
                  options: Mapping[str, object]) -> BaseSampler:
    """The Optuna sampler `name` for this space and these objectives, seeded with `seed`."""
    from optuna import samplers
    from optuna.exceptions import ExperimentalWarning

    if name not in SAMPLERS:
        raise ConfigError(f"Unknown Optuna sampler {name!r}; use one of {', '.join(SAMPLERS)}.")
    conditional = bool(space.conditions)
    # values straight from the user's strategy_options: the sampler checks their types itself
    kwargs: dict[str, Any]
    cls: type[TPESampler] | type[NSGAIISampler] | type[GPSampler] | type[CmaEsSampler]
    if name in ("auto", "tpe"):
        cls = samplers.TPESampler
        kwargs = {**TPE_DEFAULTS, "group": conditional}
    elif name == "nsga2":
        cls, kwargs = samplers.NSGAIISampler, {}
    elif name == "gp":
        _require("torch", "The GP sampler", "pip install torch")
        _require("scipy", "The GP sampler", "pip install scipy")
        cls, kwargs = samplers.GPSampler, {"warn_independent_sampling": not conditional}
    else:
        _check_cmaes(space, objectives)
        cls, kwargs = samplers.CmaEsSampler, {"warn_independent_sampling": not conditional}
    kwargs.update(options)
    accepted = inspect.signature(cls).parameters
    unknown = sorted(k for k in kwargs if k not in accepted)
    if unknown:
        allowed = ", ".join(p for p in accepted if p != "seed")
        raise ConfigError(f"{cls.__name__} has no option {', '.join(map(repr, unknown))}; "
                          f"its options are: {allowed} (and max_retries for the strategy).")
    with warnings.catch_warnings():  # TPE's group=True is flagged "experimental"
        warnings.filterwarnings("ignore", "Argument ``group``", ExperimentalWarning)
        try:
            return cls(seed=seed, **kwargs)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"Invalid strategy_options for {cls.__name__}: {err}") from None


def _check_cmaes(space: SearchSpace, objectives: Sequence[Objective]) -> None:
    categorical = optuna_space.non_numeric(space)
    if categorical:
        raise ConfigError(
            f"The cmaes strategy needs a numeric space, but {', '.join(categorical)} "
            f"{'is a choice' if len(categorical) == 1 else 'are choices'}. CMA-ES samples "
            "integer and float ranges only: use strategy 'tpe' (or 'gp') for spaces with "
            "choices, or make those parameters constants or ranges.")
    if len(objectives) > 1:
        raise ConfigError(
            f"The cmaes strategy optimises one objective, but {len(objectives)} are given "
            f"({', '.join(map(str, objectives))}); use 'nsga2' or 'tpe' for several objectives.")
    _require("cmaes", "The cmaes strategy", "pip install cmaes")


def _require(module: str, what: str, fix: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise ConfigError(f"{what} needs the {module!r} package, which is not installed; "
                          f"install it with `{fix}`.")
