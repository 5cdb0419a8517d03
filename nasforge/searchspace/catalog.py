"""What a search space may contain: the registered layers, bit widths, families, cell ops.

`layer_catalog()` is what `nasforge layers --json` prints. Each entry of the detailed lists
names the choice and says, in one sentence, what it is (the first sentence of its docstring,
without reST or Markdown backticks).
"""

from __future__ import annotations

import inspect
import re
from typing import Any, TypedDict

from nasforge.extend import ClassBuild
from nasforge.registry import Registry
from nasforge.searchspace.families import FAMILIES
from nasforge.searchspace.families.cell_ops import CELL_OPS
from nasforge.searchspace.quantization import BIT_WIDTHS, QUANT_STEPS
from nasforge.searchspace.specs import ACTIVATIONS, NORMS, LayerSpec, norm_activations, resolve

#: Input layouts by spatial axes, as the norm factories name them.
LAYOUTS = {0: "(N, C)", 1: "(N, C, L)", 2: "(N, C, H, W)"}
# a period that ends a sentence: followed by a space or the end, not the one of "e.g." / "i.e."
_SENTENCE_END = re.compile(r"(?<!\be\.g)(?<!\bi\.e)\.(?=\s|$)")
_BACKTICKS = re.compile(r"`+([^`]*)`+")


class _Summary(TypedDict):
    summary: str
    origin: str


class CatalogEntry(_Summary, total=False):
    """One registered choice: ``summary`` (a sentence), ``origin`` ("nasforge" or the plugin
    that registered it) and, for norms, the ``layouts`` they accept."""

    layouts: list[str]


class CatalogDetails(TypedDict):
    activations: dict[str, CatalogEntry]
    norms: dict[str, CatalogEntry]
    families: dict[str, CatalogEntry]
    cell_ops: dict[str, CatalogEntry]


class LayerCatalog(TypedDict):
    """What `layer_catalog` returns (JSON-ready)."""

    activations: list[str]
    norms: list[str]
    norm_activations: list[str]
    quantization: list[int]
    quant_steps: list[str]
    families: list[str]
    cell_ops: list[str]
    details: CatalogDetails


def layer_catalog() -> LayerCatalog:
    """Names by kind (keys ``activations``, ``norms``, ``quantization`` (bit widths),
    ``families``, ``cell_ops``), plus ``norm_activations``, ``quant_steps`` and ``details``:
    per kind, ``{name: {"summary": ..., "origin": ..., ...}}`` (origin: "nasforge" or the plugin
    that registered it; norms also list the layouts they accept)."""
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
            "norms": {name: CatalogEntry(summary=entry["summary"], origin=entry["origin"],
                                         layouts=_layouts(name))
                      for name, entry in _summaries(NORMS).items()},
            "families": _summaries(FAMILIES),
            "cell_ops": _summaries(CELL_OPS),
        },
    }


def _summaries(registry: Registry[Any]) -> dict[str, CatalogEntry]:
    out: dict[str, CatalogEntry] = {}
    for name in registry.names():
        entry = registry.get(name)
        origin = registry.origin(name)
        if isinstance(entry, LayerSpec):
            doc = entry.summary or inspect.getdoc(_built(entry)) or ""
            out[name] = {"summary": first_sentence(doc), "origin": origin}
            continue
        doc = inspect.getdoc(entry if callable(entry) and inspect.isfunction(entry)
                             else type(entry)) or ""
        out[name] = {"summary": first_sentence(doc), "origin": origin}
    return out


def _built(spec: LayerSpec) -> object:
    """What a layer spec builds: its factory, or the class a `ClassBuild` calls."""
    build = resolve(spec.build)
    return build.cls() if isinstance(build, ClassBuild) else build


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
