"""An NNI HPO search space (JSON) as nasforge ``[space.params]`` + ``[space.conditions]``.

NNI's format (https://nni.readthedocs.io/en/stable/hpo/search_space.html) is an object
``{"name": {"_type": ..., "_value": [...]}}``. The mapping:

- ``choice`` -> a list (a choice; strings, numbers and booleans, mixed as NNI allows; a
  duplicate option is kept once). Options that are objects with ``_name`` are sub-spaces:
  the choice takes the ``_name``s, and each sub-space's parameters become parameters named
  ``<choice>.<_name>.<sub>`` with the condition ``{<choice> = [<_name>]}``, recursively.
- ``randint [lower, upper)`` -> an int range ``low = lower, high = upper - 1``.
- ``uniform [low, high]`` -> a float range; ``loguniform`` -> a float range with ``log``.
- ``quniform [low, high, q]`` -> NNI's exact value set ``clip(round(x / q) * q, low, high)``:
  an int range with ``step = q`` when it is an even grid of whole numbers, else a choice of
  its values (nasforge float ranges have no step) up to `MAX_GRID` values, else the range
  without its step (said in a note).
- ``qloguniform`` -> a log range: exact for whole bounds and ``q = 1`` (an int log range);
  otherwise the step is dropped (nasforge ranges are not log-scaled and stepped at once) and
  a note says so.
- ``normal``, ``qnormal``, ``lognormal``, ``qlognormal`` are unbounded: never given invented
  bounds. They are skipped, each with a line that says why and spells a bounded range
  (mu +- 3 sigma) the user may paste into ``[space.params]``.

Family keys: never. nasforge's ``[space]`` keys (lr, batch_size, activation, ...) build and
train nasforge's own networks; an NNI search space is read by the user's trial code, which
becomes the ``[evaluator]``: every parameter goes to ``[space.params]`` under its NNI name.

Bad input (not JSON, not an object, an entry without ``_type`` / ``_value``, an unknown
``_type``, reversed bounds, an empty choice, a wrong number of values, ``q <= 0``, log bounds
``<= 0``) raises ConfigError naming the JSON path, e.g. ``$.optimizer._value``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from nasforge.errors import ConfigError
from nasforge.frozen import freeze
from nasforge.importers.writer import float_text, toml_key
from nasforge.searchspace.params import option_key

Scalar = str | int | float | bool
#: NNI's parameter types, and the values each takes after ``_value``.
ARGUMENTS: dict[str, tuple[str, ...]] = {
    "choice": (), "randint": ("lower", "upper"), "uniform": ("low", "high"),
    "quniform": ("low", "high", "q"), "loguniform": ("low", "high"),
    "qloguniform": ("low", "high", "q"), "normal": ("mu", "sigma"),
    "qnormal": ("mu", "sigma", "q"), "lognormal": ("mu", "sigma"),
    "qlognormal": ("mu", "sigma", "q"),
}
NNI_TYPES = tuple(ARGUMENTS)
#: A quniform grid of at most this many values becomes a choice of them.
MAX_GRID = 64
#: The suggested bounds of an unbounded (normal) parameter: mu +- SIGMAS * sigma.
SIGMAS = 3


@dataclass(frozen=True, slots=True)
class Line:
    """One line of the report: the JSON path, the nasforge name ('' when not mapped), the NNI
    spelling and what became of it (or why nothing did)."""

    path: str
    name: str
    source: str
    outcome: str


@dataclass(frozen=True, slots=True)
class Conversion:
    """`params` / `conditions` as ``[space.params]`` / ``[space.conditions]`` hold them;
    `mapped` one line per parameter, `notes` what a mapping changed or dropped, `skipped`
    what could not be mapped, with why."""

    params: Mapping[str, object]
    conditions: Mapping[str, Mapping[str, tuple[Scalar, ...]]]
    mapped: tuple[Line, ...]
    notes: tuple[Line, ...]
    skipped: tuple[Line, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", freeze(self.params))
        object.__setattr__(self, "conditions", freeze(self.conditions))


def read_search_space(text: str) -> Mapping[str, object]:
    """Parse an NNI search-space file's text; ConfigError naming ``$`` when it is not a
    JSON object."""

    def no_constant(word: str) -> object:
        raise ConfigError(f"$: {word} is not a number JSON allows; write a finite number.")

    try:
        document = json.loads(text, parse_constant=no_constant)
    except json.JSONDecodeError as err:
        raise ConfigError(f"$: not valid JSON ({err.msg} at line {err.lineno}, column "
                          f"{err.colno}); fix the syntax there (keys and strings in double "
                          "quotes, no trailing commas).") from None
    if not isinstance(document, dict):
        raise ConfigError(f"$ is {_kind(document)}; an NNI search space is a JSON object "
                          '{"name": {"_type": "choice", "_value": [...]}, ...}.')
    if not document:
        raise ConfigError('$ is an empty object; add parameters, e.g. {"lr": {"_type": '
                          '"loguniform", "_value": [0.0001, 0.1]}}.')
    return document


def convert(space: Mapping[str, object]) -> Conversion:
    """Map every entry of a parsed NNI search space (see the module docstring)."""
    builder = _Builder()
    for name, entry in space.items():
        builder.entry(name, entry, _key_path("$", name), None)
    return Conversion(builder.params, builder.conditions, tuple(builder.mapped),
                      tuple(builder.notes), tuple(builder.skipped))


class _Builder:
    def __init__(self) -> None:
        self.params: dict[str, object] = {}
        self.paths: dict[str, str] = {}
        self.conditions: dict[str, dict[str, tuple[Scalar, ...]]] = {}
        self.mapped: list[Line] = []
        self.notes: list[Line] = []
        self.skipped: list[Line] = []

    def entry(self, name: str, entry: object, path: str,
              condition: tuple[str, Scalar] | None) -> None:
        if not isinstance(entry, dict):
            raise ConfigError(f"{path} is {_kind(entry)}; each parameter is an object "
                              '{"_type": ..., "_value": [...]}.')
        for key in ("_type", "_value"):
            if key not in entry:
                raise ConfigError(f"{path} has no {key}; each parameter is an object "
                                  '{"_type": ..., "_value": [...]}, e.g. {"_type": "choice", '
                                  '"_value": [1, 2]}.')
        extra = [key for key in entry if key not in ("_type", "_value")]
        if extra:
            raise ConfigError(f"{path} has the unknown key {extra[0]!r}; a parameter holds only "
                              "_type and _value.")
        kind = entry["_type"]
        if kind not in ARGUMENTS:
            raise ConfigError(f"{path}._type = {json.dumps(kind)} is not an NNI type; use one "
                              f"of {', '.join(NNI_TYPES)}.")
        value, value_path = entry["_value"], f"{path}._value"
        source = _source(kind, value)
        if kind == "choice":
            self.choice(name, value, value_path, source, condition)
            return
        numbers = _numbers(kind, value, value_path)
        if kind.endswith("normal"):
            self.skipped.append(Line(path, "", source, _unbounded(kind, name, numbers)))
            return
        spec, outcome, note = _range(kind, numbers, value_path)
        self.add(name, spec, Line(path, name, source, outcome), condition)
        if note:
            self.notes.append(Line(path, name, source, note))

    def add(self, name: str, spec: object, line: Line,
            condition: tuple[str, Scalar] | None) -> None:
        if name in self.params:
            raise ConfigError(f"{line.path}: the parameter name {name!r} is taken by "
                              f"{self.paths[name]}; rename one of them.")
        self.params[name] = spec
        self.paths[name] = line.path
        if condition is not None:
            self.conditions[name] = {condition[0]: (condition[1],)}
        self.mapped.append(line)

    def choice(self, name: str, value: object, path: str, source: str,
               condition: tuple[str, Scalar] | None) -> None:
        if not isinstance(value, list):
            raise ConfigError(f"{path} is {_kind(value)}; a choice's _value is a list of "
                              "options, e.g. [16, 32, 64].")
        if not value:
            raise ConfigError(f"{path} is an empty choice; list at least one option.")
        options: list[Scalar] = []
        seen: dict[tuple[str, object], str] = {}
        subspaces: list[tuple[Scalar, dict[str, object], str]] = []
        for i, option in enumerate(value):
            option_path = f"{path}[{i}]"
            label: Scalar
            if isinstance(option, dict):
                named = option.get("_name")
                if not isinstance(named, (str, int, float, bool)):
                    raise ConfigError(f"{option_path} is a sub-space without a _name (a string); "
                                      'add "_name": "..." to say which option it is.')
                label = named
            elif isinstance(option, (str, int, float, bool)):
                label = option
            else:
                self.skipped.append(Line(path.removesuffix("._value"), "", source, (
                    f"option {option_path} is {_kind(option)}: nasforge choices hold strings, "
                    "numbers and booleans; spell it as a string (e.g. \"64x64\") and parse it "
                    "in your evaluator.")))
                return
            key = option_key(label)
            if key in seen:
                if isinstance(option, dict):
                    raise ConfigError(f"{option_path}: _name {json.dumps(label)} is also the "
                                      f"option at {seen[key]}; give each sub-space its own "
                                      "_name.")
                self.notes.append(Line(path, name, source, (
                    f"option {json.dumps(label)} is listed twice ({seen[key]}, {option_path});"
                    " kept once (NNI draws it twice as often).")))
                continue
            seen[key] = option_path
            options.append(label)
            if isinstance(option, dict):
                subspaces.append((label, option, option_path))
        outcome = f"choice of {_shown(options)}"
        if subspaces:
            outcome += f" ({len(subspaces)} with sub-spaces)"
        self.add(name, options, Line(path.removesuffix("._value"), name, source, outcome),
                 condition)
        for label, option, option_path in subspaces:
            for sub, entry in option.items():
                if sub != "_name":
                    self.entry(f"{name}.{label}.{sub}", entry, _key_path(option_path, sub),
                               (name, label))


def _numbers(kind: str, value: object, path: str) -> list[float | int]:
    names = ARGUMENTS[kind]
    if not isinstance(value, list) or len(value) != len(names):
        raise ConfigError(f"{path} = {json.dumps(value)}; {kind} takes [{', '.join(names)}] "
                          f"({len(names)} numbers).")
    for name, number in zip(names, value, strict=True):
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            raise ConfigError(f"{path}: {name} = {json.dumps(number)} is not a number; {kind} "
                              f"takes [{', '.join(names)}].")
    if "q" in names and value[-1] <= 0:
        raise ConfigError(f"{path}: q = {value[-1]} must be above 0 (the grid step).")
    if "sigma" in names and value[1] <= 0:
        raise ConfigError(f"{path}: sigma = {value[1]} must be above 0.")
    if "low" in names:
        low, high = value[0], value[1]
        if low > high:
            swapped = json.dumps([high, low, *value[2:]])
            raise ConfigError(f"{path}: the bounds are reversed (low = {low} > high = {high});"
                              f" swap them: {swapped}.")
        if kind.endswith("loguniform") and low <= 0:
            raise ConfigError(f"{path}: {kind} needs bounds above 0 (low = {low}): its "
                              "logarithm is uniform; raise low, or use "
                              f"{kind.replace('log', '')} for a linear scale.")
    return list(value)


def _range(kind: str, numbers: list[float | int], path: str) -> tuple[object, str, str]:
    """The range spec of a bounded numeric type, its outcome and a note (what was dropped)."""
    if kind == "randint":
        lower, upper = numbers
        if not (_whole(lower) and _whole(upper)):
            raise ConfigError(f"{path}: randint bounds must be whole numbers, got "
                              f"[{lower}, {upper}].")
        if lower >= upper:
            raise ConfigError(f"{path}: randint draws from lower (inclusive) to upper "
                              f"(exclusive), so [{lower}, {upper}] is empty"
                              f"{'; the bounds are reversed, swap them' if lower > upper else ''}"
                              "; make upper greater than lower.")
        first, last = int(lower), int(upper) - 1
        return {"low": first, "high": last}, f"int range {first}..{last}", ""
    low, high = numbers[0], numbers[1]
    if kind in ("uniform", "loguniform"):
        log = kind == "loguniform"
        spec: dict[str, object] = {"low": float(low), "high": float(high)}
        if log:
            spec["log"] = True
        return spec, f"float range {_num(low)}..{_num(high)}{' (log)' if log else ''}", ""
    q = numbers[2]
    whole = all(_whole(x) for x in numbers)
    if kind == "qloguniform":
        if whole and q == 1:
            return ({"low": int(low), "high": int(high), "log": True},
                    f"int range {int(low)}..{int(high)} (log)", "")
        spec = ({"low": int(low), "high": int(high), "log": True} if whole
                else {"low": float(low), "high": float(high), "log": True})
        what = "whole numbers" if whole else "any number"
        return (spec, f"{'int' if whole else 'float'} range {_num(low)}..{_num(high)} (log)",
                f"step q = {_num(q)} dropped: a nasforge range is not log-scaled and stepped at "
                f"once, so this one takes {what} in [{_num(low)}, {_num(high)}] on a log scale; "
                f"round to a multiple of {_num(q)} in your evaluator if it must.")
    if whole and low % q == 0 and high % q == 0:  # an even grid of whole numbers: exact
        first, last, step = int(low), int(high), int(q)
        spec = {"low": first, "high": last, **({"step": step} if step != 1 else {})}
        return spec, f"int range {first}..{last}{f' step {step}' if step != 1 else ''}", ""
    grid = _grid(low, high, q)
    if grid is not None:
        values: list[object] = [int(v) if whole else v for v in grid]
        why = ("the clipped ends make the grid uneven" if whole
               else "nasforge float ranges have no step")
        return values, f"choice of the grid {_shown(values)} ({why})", ""
    if whole:  # the multiples of q inside the bounds; NNI's clipped ends left out
        first, last, step = math.ceil(low / q) * int(q), math.floor(high / q) * int(q), int(q)
        return ({"low": first, "high": last, "step": step},
                f"int range {first}..{last} step {step}",
                f"NNI's values clipped to a bound off the grid of multiples of {step} (low "
                f"{_num(low)}, high {_num(high)}) are dropped: a nasforge range steps from low "
                f"to high, and the {MAX_GRID}+ values are too many for a choice.")
    return ({"low": float(low), "high": float(high)}, f"float range {_num(low)}..{_num(high)}",
            f"step q = {_num(q)} dropped: nasforge float ranges have no step and the grid has "
            f"more than {MAX_GRID} values, too many for a choice; round to a multiple of "
            f"{_num(q)} in your evaluator if it must.")


def _grid(low: float, high: float, q: float) -> list[float] | None:
    """NNI's quniform values, ``clip(round(x / q) * q, low, high)`` for x in [low, high] (None
    above MAX_GRID values); in decimals, so 0.1 steps stay 0.1, 0.2, 0.3."""
    dq, dlow, dhigh = Decimal(repr(q)), Decimal(repr(low)), Decimal(repr(high))
    first = int((dlow / dq).to_integral_value(ROUND_HALF_EVEN))
    last = int((dhigh / dq).to_integral_value(ROUND_HALF_EVEN))
    if last - first + 1 > MAX_GRID + 2:  # the two clipped ends may merge into their bounds
        return None
    values = sorted({float(min(max(k * dq, dlow), dhigh)) for k in range(first, last + 1)})
    return values if len(values) <= MAX_GRID else None


def _unbounded(kind: str, name: str, numbers: list[float | int]) -> str:
    """Why a normal-type parameter is not mapped, and the bounded range to paste instead."""
    mu, sigma = numbers[0], numbers[1]
    low, high = mu - SIGMAS * sigma, mu + SIGMAS * sigma
    log = kind.endswith("lognormal")
    if log:
        low, high = math.exp(low), math.exp(high)
    step = (f"; round to a multiple of q = {_num(numbers[2])} in your evaluator"
            if kind.startswith("q") else "")
    spell = f"low = {float_text(low)}, high = {float_text(high)}{', log = true' if log else ''}"
    bound = f"exp(mu +- {SIGMAS} sigma)" if log else f"mu +- {SIGMAS} sigma"
    return (f"{kind} is unbounded and a nasforge range needs bounds, which this converter "
            f"does not invent; to search it, add to [space.params]: {toml_key(name)} = "
            f"{{ {spell} }} ({bound}, where 99.7% of its draws fall){step}.")


def _source(kind: str, value: object, limit: int = 80) -> str:
    """The NNI spelling, short: sub-spaces as {"_name": ..., ...}, long values cut."""
    if isinstance(value, list):
        text = "[" + ", ".join(
            '{"_name": ' + json.dumps(v.get("_name")) + ", ...}" if isinstance(v, dict)
            else json.dumps(v) for v in value) + "]"
    else:
        text = json.dumps(value)
    return f"{kind} {text if len(text) <= limit else text[:limit - 4] + ' ...'}"


def _whole(x: float | int) -> bool:
    return isinstance(x, int) or float(x).is_integer()


def _num(x: float | int) -> str:
    return str(int(x)) if isinstance(x, int) else f"{x:g}"


def _shown(values: list[object] | list[Scalar], limit: int = 8) -> str:
    shown = ", ".join(json.dumps(v) for v in values[:limit])
    more = f", ... ({len(values)} in all)" if len(values) > limit else ""
    return f"[{shown}{more}]"


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {json.dumps(value)}"
    if isinstance(value, (int, float)):
        return f"the number {json.dumps(value)}"
    if isinstance(value, str):
        return f"the string {json.dumps(value)}"
    if isinstance(value, list):
        return "a list" if value else "an empty list"
    return "an object"


def _key_path(base: str, key: str) -> str:
    """``$.name``, or ``$["odd name"]`` where the key is not a plain identifier."""
    return f"{base}.{key}" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", key) else \
        f"{base}[{json.dumps(key)}]"


__all__ = ["Conversion", "Line", "MAX_GRID", "NNI_TYPES", "convert", "read_search_space"]
