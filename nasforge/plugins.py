"""Load the installed plugins: every entry point of the group ``nasforge.plugins``.

An entry point names a module that registers its parts when imported (through the API in
`nasforge.extend`)::

    [project.entry-points."nasforge.plugins"]
    example = "nasforge_example.plugin"

`load_plugins()` imports each one inside a registry stage: a plugin that fails to import,
registers a name that is taken, or registers a spec missing a required part leaves nothing
registered, and its failure is recorded, never raised. Searches that use none of its names
run unchanged; an unknown name in a config lists the failed plugins
(`Registry.unknown_message`), so the CLI's exit-2 error names the plugin and its reason.

The CLI (every command, `nasforge worker` too), local worker processes, Ray actors and the
dashboard call it once at start; later calls return the first report.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from importlib.metadata import EntryPoint, entry_points

from nasforge.registry import Stage, stage

GROUP = "nasforge.plugins"
logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PluginResult:
    """One entry point and how loading it went (`error` None: it loaded)."""

    name: str
    value: str
    dist: str
    error: str | None = None
    registered: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def label(self) -> str:
        return f"plugin {self.name} (entry point {self.value}, distribution {self.dist})"

    def as_json(self) -> dict[str, object]:
        return {"name": self.name, "value": self.value, "dist": self.dist, "ok": self.ok,
                "error": self.error, "registered": list(self.registered)}


@dataclass(frozen=True, slots=True)
class PluginReport:
    plugins: tuple[PluginResult, ...] = ()

    @property
    def failures(self) -> tuple[PluginResult, ...]:
        return tuple(p for p in self.plugins if not p.ok)


_report: PluginReport | None = None  # per process: plugins are imported once


def _dist(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return f"{dist.name} {dist.version}" if dist is not None else "unknown"


def load_one(ep: EntryPoint) -> PluginResult:
    """Import one entry point's module inside a stage (all-or-nothing); never raises."""
    loaded = PluginResult(ep.name, ep.value, _dist(ep))
    label = loaded.label
    try:
        with stage(label) as staged:
            ep.load()
            _check(staged)
            registered = tuple(staged.names())
    except Exception as error:  # a plugin's failure must not stop nasforge: record it
        reason = f"{type(error).__name__}: {error}"
        logger.warning("%s failed to load: %s", label, reason)
        return replace(loaded, error=reason)
    return replace(loaded, registered=registered)


def _check(staged: Stage) -> None:
    """Refuse a staged layer spec missing a part, whichever way it was registered."""
    from nasforge.extend import check_layer_spec
    from nasforge.searchspace.specs import LayerSpec

    for registry, name in staged.added:
        entry = registry.get(name)
        if isinstance(entry, LayerSpec):
            check_layer_spec(entry)


def load_plugins() -> PluginReport:
    """Load every installed plugin once per process (idempotent); the report of the first
    call. Set ``NASFORGE_NO_PLUGINS=1`` to load none."""
    global _report
    if _report is None:
        found = () if os.environ.get("NASFORGE_NO_PLUGINS") else \
            sorted(entry_points(group=GROUP), key=lambda e: e.name)
        _report = PluginReport(tuple(load_one(ep) for ep in found))
    return _report


def report() -> PluginReport:
    """The plugins loaded so far (empty before `load_plugins`)."""
    return _report or PluginReport()


def failure_notes() -> str:
    """One sentence per failed plugin, for unknown-name errors; where plugins were never
    loaded in this process (a library user), a hint naming the installed ones; else ""."""
    if _report is None:
        if os.environ.get("NASFORGE_NO_PLUGINS"):
            return ""
        names = sorted(ep.name for ep in entry_points(group=GROUP))
        return (f" Installed plugins ({', '.join(names)}) are not loaded in this process: "
                "call nasforge.plugins.load_plugins() first (the CLI does)." if names else "")
    return "".join(f" {p.label[0].upper()}{p.label[1:]} failed to load: {p.error}"
                   + ("" if p.error and p.error.endswith(".") else ".")
                   for p in _report.failures)
