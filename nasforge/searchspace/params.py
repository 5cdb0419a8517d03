"""Typed search-space parameters: Choice, IntRange, FloatRange (linear or log).

Each parameter can validate a value, sample one, mutate one, and map values to and from the
unit interval (`encode` / `decode`), which is what numeric optimisers (BO, CMA-ES) work in.
Parameters do not know their own name; the `SearchSpace` passes it for error messages.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, TypeGuard

import numpy as np

from nasforge.errors import SpaceError

Scalar = str | int | float | bool

#: Standard deviation of a numeric mutation, in encoded (unit-interval) coordinates.
MUTATION_SIGMA = 0.15


class Param(Protocol):
    """What every parameter type provides."""

    @property
    def size(self) -> int | None:
        """Number of distinct values, None when continuous."""

    def values(self) -> Iterator[Scalar]:
        """Every value, in order (finite parameters only)."""

    def validate(self, value: object, name: str) -> Scalar:
        """Return `value` in canonical type, or raise SpaceError naming `name` and what is
        allowed."""

    def sample(self, rng: np.random.Generator) -> Scalar: ...

    def mutate(self, value: Scalar, rng: np.random.Generator) -> Scalar:
        """A nearby value, different from `value` whenever the parameter has more than one."""

    def encode(self, value: Scalar) -> float:
        """Map a value into [0, 1]; `decode(encode(v)) == v` (up to float rounding)."""

    def decode(self, u: float) -> Scalar:
        """Map any u in [0, 1] (clipped outside) to a valid value."""

    def describe(self) -> dict[str, object]:
        """A JSON-able description (stored with the search, shown by the dashboard)."""


def _is_number(value: object) -> TypeGuard[int | float | np.integer | np.floating]:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _bin_index(u: float, n: int) -> int:
    """Index of the bin of `u` when [0, 1] is cut into `n` equal bins."""
    u = 0.0 if math.isnan(u) else min(max(u, 0.0), 1.0)
    return min(int(u * n), n - 1)


@dataclass(frozen=True, slots=True)
class Choice:
    """One of a fixed tuple of options (strings, numbers or booleans), unordered."""

    options: tuple[Scalar, ...]

    def __post_init__(self) -> None:
        options = tuple(self.options)
        if not options:
            raise SpaceError("A Choice needs at least one option; give a non-empty list.")
        for option in options:
            if not isinstance(option, (str, int, float, bool)) or (
                isinstance(option, float) and not math.isfinite(option)
            ):
                raise SpaceError(
                    f"Choice option {option!r} is not allowed; options must be strings, "
                    "booleans or finite numbers."
                )
        if len(set(map(option_key, options))) != len(options):
            raise SpaceError(f"Choice options {list(options)} contain duplicates; list each once.")
        object.__setattr__(self, "options", options)

    @property
    def size(self) -> int:
        return len(self.options)

    def values(self) -> Iterator[Scalar]:
        return iter(self.options)

    def index(self, value: object) -> int:
        key = option_key(value)
        for i, option in enumerate(self.options):
            if option_key(option) == key:
                return i
        raise ValueError(value)

    def validate(self, value: object, name: str) -> Scalar:
        try:
            return self.options[self.index(value)]
        except (ValueError, TypeError):
            allowed = ", ".join(repr(o) for o in self.options)
            raise SpaceError(
                f"Parameter {name!r} has value {value!r}, which is not one of its choices: "
                f"{allowed}. Use one of those, or add it to the choices in [space]."
            ) from None

    def sample(self, rng: np.random.Generator) -> Scalar:
        return self.options[int(rng.integers(len(self.options)))]

    def mutate(self, value: Scalar, rng: np.random.Generator) -> Scalar:
        if len(self.options) == 1:
            return self.options[0]
        current = self.index(value)
        other = int(rng.integers(len(self.options) - 1))
        return self.options[other + (other >= current)]

    def encode(self, value: Scalar) -> float:
        return (self.index(value) + 0.5) / len(self.options)

    def decode(self, u: float) -> Scalar:
        return self.options[_bin_index(u, len(self.options))]

    def describe(self) -> dict[str, object]:
        return {"type": "choice", "options": list(self.options)}


def option_key(value: object) -> tuple[str, object]:
    """Distinguish True from 1 and 1 from 1.0 the way JSON does (bools apart, numbers by value)."""
    if isinstance(value, bool):
        return ("bool", value)
    if _is_number(value):
        return ("number", float(value))
    return (type(value).__name__, value)


@dataclass(frozen=True, slots=True)
class IntRange:
    """An integer in [low, high] (inclusive) on a grid of `step`, or log-uniform when `log`."""

    low: int
    high: int
    step: int = 1
    log: bool = False

    def __post_init__(self) -> None:
        for field_name in ("low", "high", "step"):
            value = getattr(self, field_name)
            if not _is_number(value) or not math.isfinite(value) or int(value) != value:
                raise SpaceError(f"IntRange {field_name}={value!r} must be an integer.")
            object.__setattr__(self, field_name, int(value))
        if self.low > self.high:
            raise SpaceError(
                f"IntRange bounds are inverted: low={self.low} > high={self.high}; "
                "swap them so that low <= high."
            )
        if self.step < 1:
            raise SpaceError(f"IntRange step={self.step} must be at least 1.")
        if self.log and self.low < 1:
            raise SpaceError(f"A log IntRange needs low >= 1 (got low={self.low}).")
        if self.log and self.step != 1:
            raise SpaceError("An IntRange cannot be both log-scaled and stepped; drop one.")
        if (self.high - self.low) % self.step:
            raise SpaceError(
                f"IntRange high={self.high} is not on the grid low={self.low} + k*step={self.step};"
                f" use high={self.low + (self.high - self.low) // self.step * self.step}."
            )

    @property
    def size(self) -> int:
        return (self.high - self.low) // self.step + 1

    def values(self) -> Iterator[int]:
        return iter(range(self.low, self.high + 1, self.step))

    def validate(self, value: object, name: str) -> int:
        number = int(value) if _is_number(value) and float(value) == int(value) else None
        if number is None or not (self.low <= number <= self.high
                                  and (number - self.low) % self.step == 0):
            grid = f" in steps of {self.step}" if self.step != 1 else ""
            shown = value if number is None else number
            raise SpaceError(
                f"Parameter {name!r} has value {shown!r}; allowed are integers from {self.low} "
                f"to {self.high}{grid}."
            )
        return number

    def sample(self, rng: np.random.Generator) -> int:
        if self.log:
            return self.decode(float(rng.random()))
        return self.low + self.step * int(rng.integers(self.size))

    def mutate(self, value: Scalar, rng: np.random.Generator) -> int:
        if self.size == 1:
            return self.low
        u = self.encode(value) + float(rng.normal(0.0, MUTATION_SIGMA))
        new = self.decode(u)
        if new == value:  # too small a move: take the neighbour on a random side
            direction = 1 if rng.random() < 0.5 else -1
            if not self.low <= int(value) + direction * self.step <= self.high:
                direction = -direction
            new = int(value) + direction * self.step
        return new

    def encode(self, value: Scalar) -> float:
        if self.log:
            if self.low == self.high:
                return 0.5
            return (math.log(float(value)) - math.log(self.low)) / (
                math.log(self.high) - math.log(self.low)
            )
        return ((int(value) - self.low) // self.step + 0.5) / self.size

    def decode(self, u: float) -> int:
        if self.log:
            u = 0.0 if math.isnan(u) else min(max(u, 0.0), 1.0)
            raw = math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
            return min(max(round(raw), self.low), self.high)
        return self.low + self.step * _bin_index(u, self.size)

    def describe(self) -> dict[str, object]:
        return {"type": "int", "low": self.low, "high": self.high, "step": self.step,
                "log": self.log}


@dataclass(frozen=True, slots=True)
class FloatRange:
    """A real number in [low, high], uniform or log-uniform (`log=True`, low > 0)."""

    low: float
    high: float
    log: bool = False

    def __post_init__(self) -> None:
        for field_name in ("low", "high"):
            value = getattr(self, field_name)
            if not _is_number(value) or not math.isfinite(value):
                raise SpaceError(f"FloatRange {field_name}={value!r} must be a finite number.")
            object.__setattr__(self, field_name, float(value))
        if self.low > self.high:
            raise SpaceError(
                f"FloatRange bounds are inverted: low={self.low} > high={self.high}; "
                "swap them so that low <= high."
            )
        if self.log and self.low <= 0:
            raise SpaceError(
                f"A log FloatRange needs low > 0 (got low={self.low}); raise low or set log=false."
            )

    @property
    def size(self) -> None:
        return None

    def values(self) -> Iterator[float]:
        raise SpaceError("A FloatRange is continuous: its values cannot be enumerated.")

    def validate(self, value: object, name: str) -> float:
        if _is_number(value) and self.low <= float(value) <= self.high:
            return float(value)
        scale = " (log scale)" if self.log else ""
        raise SpaceError(
            f"Parameter {name!r} has value {value!r}; allowed are numbers from {self.low} "
            f"to {self.high}{scale}."
        )

    def sample(self, rng: np.random.Generator) -> float:
        return self.decode(float(rng.random()))

    def mutate(self, value: Scalar, rng: np.random.Generator) -> float:
        if self.low == self.high:
            return self.low
        u = self.encode(value) + float(rng.normal(0.0, MUTATION_SIGMA))
        if u < 0.0 or u > 1.0:  # reflect at the bounds rather than piling up on them
            u = -u if u < 0.0 else 2.0 - u
        return self.decode(u)

    def encode(self, value: Scalar) -> float:
        if self.low == self.high:
            return 0.5
        if self.log:
            return (math.log(float(value)) - math.log(self.low)) / (
                math.log(self.high) - math.log(self.low)
            )
        return (float(value) - self.low) / (self.high - self.low)

    def decode(self, u: float) -> float:
        u = 0.5 if math.isnan(u) else min(max(u, 0.0), 1.0)
        if self.log:
            raw = math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        else:
            raw = self.low + u * (self.high - self.low)
        return min(max(raw, self.low), self.high)

    def describe(self) -> dict[str, object]:
        return {"type": "float", "low": self.low, "high": self.high, "log": self.log}


def param_from_spec(spec: object, name: str) -> Param:
    """Build a parameter from its TOML spelling.

    - a scalar (``lr = 0.001``) is a constant: a one-option Choice;
    - a list (``activation = ["relu", "gelu"]``) is a Choice;
    - a table ``{low, high, log?, step?}`` is an IntRange when both bounds are integers and no
      ``type = "float"`` is given, else a FloatRange.
    """
    if isinstance(spec, (str, int, float, bool)):
        return Choice((spec,))
    if isinstance(spec, (list, tuple)):
        try:
            return Choice(tuple(spec))
        except SpaceError as err:
            raise SpaceError(f"In [space] {name!r}: {err}") from None
    if isinstance(spec, dict):
        allowed = {"low", "high", "log", "step", "type"}
        unknown = sorted(set(spec) - allowed)
        if unknown or "low" not in spec or "high" not in spec:
            raise SpaceError(
                f"Range {name!r} = {spec!r} is malformed: a range is a table with keys low and "
                f"high, and optionally log, step, type ('int' or 'float')"
                + (f"; unknown key(s): {', '.join(unknown)}." if unknown else ".")
            )
        kind = spec.get("type")
        if kind not in (None, "int", "float"):
            raise SpaceError(f"Range {name!r} has type={kind!r}; use 'int' or 'float'.")
        low, high = spec["low"], spec["high"]
        is_int = isinstance(low, int) and isinstance(high, int) and not isinstance(low, bool)
        try:
            if kind == "int" or (kind is None and is_int):
                return IntRange(low, high, step=spec.get("step", 1), log=bool(spec.get("log")))
            if "step" in spec:
                raise SpaceError("step applies to integer ranges only")
            return FloatRange(low, high, log=bool(spec.get("log")))
        except SpaceError as err:
            raise SpaceError(f"In [space] {name!r}: {err}") from None
    raise SpaceError(
        f"Parameter {name!r} = {spec!r} is not understood: use a value (a constant), a list (a "
        "choice) or a table {low = ..., high = ..., log = true} (a range)."
    )
