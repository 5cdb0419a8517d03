"""Your own evaluator, named in ``[evaluator]`` of a config.

``callable = "package.module:function"`` names a plain function ``function(params, **options)
-> dict[str, float]``: `params` is one candidate of ``[space.params]`` as a dict (inactive
conditional parameters absent), ``options`` the ``[evaluator.options]`` table, and the result
the metrics the objectives name. nasforge wraps it into an Evaluator: an exception, or a
result that is not a table of numbers, makes that trial FAILED with the reason; the search
goes on. The function is imported by name, here and in every worker process (``--workers N``,
``nasforge worker``), so its module must be importable there (installed, or on PYTHONPATH).

A name without a colon is an entry point of the group ``nasforge.evaluators``: an installed
package declares ``[project.entry-points."nasforge.evaluators"] my_eval = "pkg.mod:function"``
and a config says ``callable = "my_eval"``. Torch-free.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from nasforge.errors import ConfigError
from nasforge.frozen import freeze, thaw
from nasforge.records import EvalResult, TrialState
from nasforge.searchspace.architecture import Architecture

logger = logging.getLogger(__name__)
EVALUATOR_KEYS = ("callable", "options")
ENTRY_POINTS = "nasforge.evaluators"
FIX = ('name a function as "package.module:function" whose module is importable '
       '(installed, or its folder on PYTHONPATH), or an installed entry point of the group '
       f'"{ENTRY_POINTS}"')


@dataclass(frozen=True, slots=True)
class EvaluatorConfig:
    """``[evaluator]``: the function's import name and the keyword options passed to it."""

    callable: str
    options: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", freeze(self.options))


def evaluator_config(section: Mapping[str, object]) -> EvaluatorConfig:
    """Validate an ``[evaluator]`` table and check that its callable imports."""
    for key in section:
        if key not in EVALUATOR_KEYS:
            raise ConfigError(f"Unknown field {key!r} in [evaluator]. Allowed: "
                              f"{', '.join(EVALUATOR_KEYS)}.")
    name = section.get("callable")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"[evaluator] callable = {name!r}; {FIX}.")
    options = section.get("options", {})
    if not isinstance(options, Mapping):
        raise ConfigError(f"[evaluator] options = {options!r}; use a table, e.g. "
                          "[evaluator.options] folds = 3.")
    resolve(name)
    return EvaluatorConfig(name, options)


def resolve(name: str) -> Callable[..., object]:
    """The function named ``module:attr`` or by an entry point of ``nasforge.evaluators``
    (ConfigError naming it and the fix)."""
    if ":" not in name:
        name = _entry_point(name)
    module_name, sep, attr = name.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f'[evaluator] callable = {name!r} is not "module:function"; {FIX}.')
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigError(f"[evaluator] callable = {name!r}: module {module_name!r} does not "
                          f"import ({err}); {FIX}.") from None
    target: object = module
    for part in attr.split("."):
        if not hasattr(target, part):
            raise ConfigError(f"[evaluator] callable = {name!r}: {module_name!r} has no "
                              f"{attr!r}; {FIX}.")
        target = getattr(target, part)
    if not callable(target):
        raise ConfigError(f"[evaluator] callable = {name!r} is a {type(target).__name__}, "
                          f"not a function; {FIX}.")
    return target


def _entry_point(name: str) -> str:
    """The ``module:attr`` that installed entry point `name` of ``nasforge.evaluators`` names."""
    found = {ep.name: ep.value for ep in importlib.metadata.entry_points(group=ENTRY_POINTS)}
    if name.strip() not in found:
        known = ", ".join(sorted(found)) or "none is installed"
        raise ConfigError(f"[evaluator] callable = {name!r} is neither \"module:function\" nor "
                          f"an entry point of {ENTRY_POINTS!r} ({known}); {FIX}.")
    return found[name.strip()]


@dataclass(frozen=True, slots=True)
class FunctionEvaluator:
    """Evaluates each candidate with the user's function, one at a time."""

    function: Callable[..., object]
    options: Mapping[str, object] = field(default_factory=dict)

    @classmethod
    def of(cls, config: EvaluatorConfig) -> FunctionEvaluator:
        return cls(resolve(config.callable), config.options)

    def evaluate(self, archs: Sequence[Architecture]) -> list[EvalResult]:
        return [self._one(arch) for arch in archs]

    def _one(self, arch: Architecture) -> EvalResult:
        try:
            metrics = self.function(dict(arch), **thaw(self.options))
        except Exception as err:  # the user's code: the trial fails, the search goes on
            logger.warning("evaluator raised on %s: %r", dict(arch), err)
            return EvalResult.failed(f"the evaluator raised {type(err).__name__}: {err}")
        if not isinstance(metrics, Mapping) or not all(
                isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool)
                for k, v in metrics.items()):
            return EvalResult.failed(f"the evaluator returned {metrics!r}; return a dict of "
                                     'metric name -> number, e.g. {"score": 0.9}')
        bad = [k for k, v in metrics.items() if not math.isfinite(v)]
        if bad:
            return EvalResult.failed(f"the evaluator returned non-finite {bad}", {
                k: float(v) for k, v in metrics.items() if k not in bad})
        return EvalResult(TrialState.COMPLETE, {k: float(v) for k, v in metrics.items()})


__all__ = ["EvaluatorConfig", "FunctionEvaluator", "evaluator_config", "resolve"]
