"""Our typed `SearchSpace` seen through Optuna: distributions, define-by-run suggestions, and
the Optuna parameters of a known architecture (to replay history into a study).

Mapping, parameter by parameter (constants are assigned, never suggested, so they do not
exist for Optuna):

- ``Choice`` with one option -> a constant; with several -> ``CategoricalDistribution`` over
  the option *indices* ``0..k-1`` (unordered, like a Choice; indices keep ``True`` and ``1``
  apart, which Optuna's value lookup by ``==`` would not);
- ``IntRange`` -> ``IntDistribution(low, high, step, log)`` (``low == high``: a constant);
- ``FloatRange`` -> ``FloatDistribution(low, high, log)`` (``low == high``: a constant).

Conditions are honoured define-by-run: parameters are visited parents-first and only the
active ones are suggested, so every Optuna trial holds exactly the active parameters of its
architecture. Optuna is imported lazily: importing this module stays cheap and torch-free.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nasforge.errors import SpaceError
from nasforge.searchspace.architecture import Architecture, Scalar
from nasforge.searchspace.params import Choice, FloatRange, IntRange, Param
from nasforge.searchspace.space import SearchSpace

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution


def constant_value(param: Param) -> Scalar | None:
    """The only value of a one-valued parameter, None when it has several."""
    if isinstance(param, Choice):
        return param.options[0] if param.size == 1 else None
    if isinstance(param, (IntRange, FloatRange)):
        return param.low if param.low == param.high else None
    raise SpaceError(f"Parameter type {type(param).__name__} is not supported by the Optuna "
                     "strategies; use Choice, IntRange or FloatRange.")


def distribution(param: Param) -> BaseDistribution:
    """The Optuna distribution of a parameter that takes more than one value."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    if isinstance(param, Choice):
        return CategoricalDistribution(tuple(range(param.size)))
    if isinstance(param, IntRange):
        return IntDistribution(param.low, param.high, log=param.log, step=param.step)
    if isinstance(param, FloatRange):
        return FloatDistribution(param.low, param.high, log=param.log)
    raise SpaceError(f"Parameter type {type(param).__name__} is not supported by the Optuna "
                     "strategies; use Choice, IntRange or FloatRange.")


def space_distributions(space: SearchSpace) -> dict[str, BaseDistribution]:
    """Distribution of every non-constant parameter, in parents-first order."""
    return {name: distribution(param) for name, param in space.params.items()
            if constant_value(param) is None}


def non_numeric(space: SearchSpace) -> list[str]:
    """Names of the parameters that are categorical (a Choice of several options)."""
    return [name for name, param in space.params.items()
            if isinstance(param, Choice) and param.size > 1]


def suggest(trial: optuna.Trial, space: SearchSpace,
            distributions: dict[str, BaseDistribution]) -> Architecture:
    """Ask `trial` for the active parameters, parents-first; return the validated architecture.

    `distributions` is `space_distributions(space)` (computed once by the caller).
    """
    assigned: dict[str, Scalar] = {}
    for name, param in space.params.items():
        if not space.is_active(name, assigned):
            continue
        if name not in distributions and (constant := constant_value(param)) is not None:
            assigned[name] = constant
        elif isinstance(param, Choice):
            index = trial.suggest_categorical(name, tuple(range(param.size)))
            assigned[name] = param.options[int(index)]
        elif isinstance(param, IntRange):
            assigned[name] = trial.suggest_int(name, param.low, param.high, step=param.step,
                                               log=param.log)
        elif isinstance(param, FloatRange):
            assigned[name] = trial.suggest_float(name, param.low, param.high, log=param.log)
    return space.validate(Architecture(assigned))


def trial_params(space: SearchSpace, arch: Architecture,
                 distributions: dict[str, BaseDistribution]
                 ) -> tuple[dict[str, Any], dict[str, BaseDistribution]]:
    """Optuna ``params`` and ``distributions`` of a known architecture (its active,
    non-constant parameters), as `suggest` would have produced them. Raises SpaceError when
    `arch` does not fit the space."""
    arch = space.validate(arch)
    params: dict[str, Any] = {}
    used: dict[str, BaseDistribution] = {}
    for name, value in arch.items():
        dist = distributions.get(name)
        if dist is None:
            continue
        param = space.params[name]
        params[name] = param.index(value) if isinstance(param, Choice) else value
        used[name] = dist
    return params, used
