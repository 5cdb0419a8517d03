"""nasforge: neural architecture search and AutoML.

A typed search space, strategies that propose candidates, an evaluator that trains and
measures them, a SQL store for every result, and a CLI over all of it.
"""

from __future__ import annotations

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

__all__ = ["Architecture", "Choice", "EvalResult", "FloatRange", "IntRange", "NasforgeError",
           "Objective", "SearchSpace", "TrialRecord", "TrialState", "When", "__version__",
           "register_activation", "register_dataset", "register_family", "register_norm",
           "register_strategy", "register_table"]
