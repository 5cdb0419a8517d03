"""A converted search space spelled as a complete nasforge TOML config.

The values a converter produces (strings, numbers, booleans, lists, one-level tables) are
written by hand: the standard library reads TOML but does not write it. Keys that are not
bare TOML keys (``optimizer.sgd.momentum``) are quoted.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

#: The evaluator written when none is given: it does not import, so the config does not load
#: until the user names their function (config.load then says which callable failed).
EVALUATOR_PLACEHOLDER = "my_trial:evaluate"


@dataclass(frozen=True, slots=True)
class ConfigHeader:
    """What the converted config says besides its space."""

    name: str
    source: str  # the converted file, as given
    tool: str  # "NNI"
    objectives: tuple[str, ...]
    budget: int
    strategy: str
    evaluator: str | None  # None: EVALUATOR_PLACEHOLDER, with a TODO comment


def toml_key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else toml_string(name)


def toml_string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    out = []
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def float_text(value: float) -> str:
    """A TOML float that reads back as a float (``1.0``, not ``1``), 6 significant digits."""
    if not math.isfinite(value):
        raise ValueError(f"{value!r} has no TOML spelling here")
    text = f"{value:.6g}"
    return text if any(c in text for c in ".e") else text + ".0"


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} has no TOML spelling here")
        return repr(value)  # shortest round-trip spelling, always with "." or "e"
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, Mapping):
        inner = ", ".join(f"{toml_key(str(k))} = {toml_value(v)}" for k, v in value.items())
        return f"{{ {inner} }}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"{value!r} has no TOML spelling here")


def render_config(header: ConfigHeader, params: Mapping[str, object],
                  conditions: Mapping[str, Mapping[str, Sequence[object]]],
                  comments: Mapping[str, str], not_mapped: Sequence[str]) -> str:
    """The config's text: ``[search]``, ``[space.params]`` (each with its `comments` entry,
    one line), ``[space.conditions]``, ``[evaluator]`` and, as comments, `not_mapped`."""
    objectives = toml_value(list(header.objectives))
    metrics = ", ".join(f'"{o.partition(":")[0]}": ...' for o in header.objectives)
    lines = [
        f"# Converted by `nasforge import {header.tool.lower()}` from {_one_line(header.source)}"
        f" ({header.tool} search space).",
        "[search]",
        f"name = {toml_string(header.name)}",
        f"budget = {header.budget}",
        f"objectives = {objectives}  # what your evaluator returns",
        f"strategy = {toml_string(header.strategy)}",
        "seed = 0",
        "",
        "[space.params]",
    ]
    for name, spec in params.items():
        comment = f"  # {_one_line(comments[name])}" if name in comments else ""
        lines.append(f"{toml_key(name)} = {toml_value(spec)}{comment}")
    if conditions:
        lines += ["", "[space.conditions]  # a parameter exists only when its parent takes "
                  "these values"]
        lines += [f"{toml_key(name)} = {toml_value({p: list(v) for p, v in when.items()})}"
                  for name, when in conditions.items()]
    lines += ["", "[evaluator]"]
    if header.evaluator is None:
        lines += ["# TODO: name your function as \"module:function\" (its folder on PYTHONPATH):",
                  _one_line(f"# function(params, **options) -> {{{metrics}}}, params a dict "
                            "of the names"),
                  "# above (a conditional parameter only when its condition holds)."]
    lines.append(f"callable = {toml_string(header.evaluator or EVALUATOR_PLACEHOLDER)}")
    if not_mapped:
        lines += ["", f"# Not mapped from {header.tool} (add them to [space.params] yourself):"]
        lines += [f"# {_one_line(line)}" for line in not_mapped]
    return "\n".join(lines) + "\n"


def _one_line(text: str) -> str:
    """Text fit for a TOML comment: one line, no control characters."""
    return "".join("?" if ord(c) < 0x20 or ord(c) == 0x7F else c for c in " ".join(text.split()))


__all__ = ["ConfigHeader", "EVALUATOR_PLACEHOLDER", "float_text", "render_config", "toml_key",
           "toml_value"]
