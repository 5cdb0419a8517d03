"""Generated identifiers and escaped text: nothing from a config or the store becomes code.

Attribute names are made here from a fixed vocabulary and counters (``fc1``, ``bn2``, ...);
free text (search names, metric names, architecture values) only ever enters the generated
file inside the module docstring, escaped by `docstring_text` so that it cannot end the
string, and with every non-ASCII or control character written as an escape.
"""

from __future__ import annotations

import json
from collections import Counter

LINE = 96  # longest docstring line before a backslash continuation (ruff: 100)


class Names:
    """Hands out attribute names: ``prefix`` + a per-prefix counter from 1."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()

    def take(self, prefix: str) -> str:
        if not prefix.isidentifier() or not prefix.isascii():
            raise ValueError(f"attribute prefix {prefix!r} is not a plain identifier")
        self._counts[prefix] += 1
        return f"{prefix}{self._counts[prefix]}"


def json_text(value: object) -> str:
    """Indented, key-sorted JSON with every non-ASCII character escaped (NaN allowed)."""
    return json.dumps(value, indent=4, sort_keys=True, ensure_ascii=True, default=str)


def _units(line: str) -> list[str]:
    """`line` escaped for a non-raw triple-quoted string, in units that a line break may
    separate (an escape sequence is one unit)."""
    units: list[str] = []
    for char in line:
        if char == "\\":
            units.append("\\\\")
        elif char == '"' and units and units[-1].endswith('"'):
            units.append('\\"')  # never two bare quotes in a row: no \"\"\" can form
        elif not char.isascii() or not char.isprintable():
            units.append(char.encode("unicode_escape").decode("ascii"))
        else:
            units.append(char)
    return units


def docstring_text(text: str, indent: str = "") -> str:
    """`text` as the body of a ``\"\"\"...\"\"\"`` literal whose value is `text` again.

    Backslashes are escaped, and every quote that follows a quote (no two bare quotes are
    adjacent, so the literal cannot be closed), other characters outside printable ASCII
    are written as escapes, and lines longer than `LINE` are continued with a
    backslash-newline, which the string's value does not contain."""
    out = []
    for line in text.split("\n"):
        units, current = _units(line), indent
        for unit in units:
            if len(current) + len(unit) > LINE:
                out.append(current + "\\")
                current = ""
            current += unit
        stripped = current.rstrip(" ")  # trailing spaces kept, as escapes (ruff: W291)
        out.append(stripped + "\\x20" * (len(current) - len(stripped)))
    return "\n".join(out)
