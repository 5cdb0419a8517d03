"""What a search space may contain: the registered layers, bit widths, families, cell ops.

`layer_catalog()` is what `nasforge layers --json` prints. Each entry of the detailed lists
names the choice and says, in one sentence, what it is (the first sentence of its docstring,
without reST or Markdown backticks).
"""

from __future__ import annotations

import inspect
import re
from typing import TypeVar

from nasforge.registry import Registry
from nasforge.searchspace.families import FAMILIES
from nasforge.searchspace.families.cell_ops import CELL_OPS
from nasforge.searchspace.quantization import BIT_WIDTHS, QUANT_STEPS
from nasforge.searchspace.specs import ACTIVATIONS, NORMS, LayerSpec, norm_activations, resolve

#: Input layouts by spatial axes, as the norm factories name them.
Entry = TypeVar("Entry")
LAYOUTS = {0: "(N, C)", 1: "(N, C, L)", 2: "(N, C, H, W)"}
# a period that ends a sentence: followed by a space or the end, not the one of "e.g." / "i.e."
_SENTENCE_END = re.compile(r"(?<!\be\.g)(?<!\bi\.e)\.(?=\s|$)")
_BACKTICKS = re.compile(r"`+([^`]*)`+")


def layer_catalog() -> dict[str, object]:
    """Names by kind (keys ``activations``, ``norms``, ``quantization`` (bit widths),
    ``families``, ``cell_ops``), plus ``norm_activations``, ``quant_steps`` and ``details``:
    per kind, ``{name: {"summary": ..., ...}}`` (norms also list the layouts they accept)."""
    return {
        "activations": list(ACTIVATIONS.names()),
        "norms": list(NORMS.names()),
        "norm_activations": sorted(norm_activations()),
        "quantization": list(BIT_WIDTHS),
        "quant_steps": list(QUANT_STEPS),
        "families": list(FAMILIES.names()),
        "cell_ops": list(CELL_OPS.names()),
        "details": {
            "activations": _summaries(ACTIVATIONS),
            "norms": {name: {**entry, "layouts": _layouts(name)}
                      for name, entry in _summaries(NORMS).items()},
            "families": _summaries(FAMILIES),
            "cell_ops": _summaries(CELL_OPS),
        },
    }


def _summaries(registry: Registry[Entry]) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    for name in registry.names():
        entry = registry.get(name)
        if isinstance(entry, LayerSpec):
            doc = entry.summary or inspect.getdoc(resolve(entry.build)) or ""
            out[name] = {"summary": first_sentence(doc)}
            continue
        doc = inspect.getdoc(entry if callable(entry) and inspect.isfunction(entry)
                             else type(entry)) or ""
        out[name] = {"summary": first_sentence(doc)}
    return out


def first_sentence(doc: str) -> str:
    """The first sentence of a docstring's first paragraph, on one line, with ``code`` and
    `code` shown as plain code; the whole paragraph if no period ends a sentence in it."""
    paragraph = " ".join(doc.strip().split("\n\n")[0].split())
    end = _SENTENCE_END.search(paragraph)
    sentence = paragraph[:end.end()] if end else paragraph
    return _BACKTICKS.sub(r"\1", sentence)


def _layouts(norm: str) -> list[str]:
    dims = NORMS.get(norm).dims
    return [layout for d, layout in LAYOUTS.items() if d in dims]
