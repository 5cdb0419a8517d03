"""nasforge: neural architecture search and AutoML.

A typed search space, strategies that propose candidates, an evaluator that trains and
measures them, a SQL store for every result, and a CLI over all of it.

The public names below are imported when first used (PEP 562), so ``import nasforge.ui.cli``
or ``import nasforge.store`` does not pay for numpy and the layer registries; ``from nasforge
import SearchSpace`` works as before.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nasforge.errors import NasforgeError
    from nasforge.extend import (
        register_activation,
        register_dataset,
        register_family,
        register_norm,
        register_strategy,
        register_table,
    )
    from nasforge.objectives import Objective
    from nasforge.records import EvalResult, TrialRecord, TrialState
    from nasforge.searchspace.architecture import Architecture
    from nasforge.searchspace.params import Choice, FloatRange, IntRange
    from nasforge.searchspace.space import SearchSpace, When

__version__ = "0.1.0"

#: public name -> the module that defines it
_HOMES = {
    "Architecture": "nasforge.searchspace.architecture",
    "Choice": "nasforge.searchspace.params",
    "EvalResult": "nasforge.records",
    "FloatRange": "nasforge.searchspace.params",
    "IntRange": "nasforge.searchspace.params",
    "NasforgeError": "nasforge.errors",
    "Objective": "nasforge.objectives",
    "SearchSpace": "nasforge.searchspace.space",
    "TrialRecord": "nasforge.records",
    "TrialState": "nasforge.records",
    "When": "nasforge.searchspace.space",
    **{name: "nasforge.extend" for name in (
        "register_activation", "register_dataset", "register_family", "register_norm",
        "register_strategy", "register_table")},
}

__all__ = ["Architecture", "Choice", "EvalResult", "FloatRange", "IntRange", "NasforgeError",
           "Objective", "SearchSpace", "TrialRecord", "TrialState", "When", "__version__",
           "register_activation", "register_dataset", "register_family", "register_norm",
           "register_strategy", "register_table"]


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        if importlib.util.find_spec(f"nasforge.{name}") is not None:  # `nasforge.records`
            return importlib.import_module(f"nasforge.{name}")  # as an eager facade allowed
        raise AttributeError(f"module 'nasforge' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
