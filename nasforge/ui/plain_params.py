"""Command-line strings and flags taken as typed, without building pydantic validators.

typer 0.29 checks each parameter's value through a pydantic ``TypeAdapter`` that it builds
when the parameter is first used: importing pydantic and building the adapters is ~0.1 s of
every command's start-up (as much as `nasforge list`'s own work at 100k trials). A ``str``
parameter (``str | None`` included) read from the command line already is the string the
command wants, and a flag (``bool``; ``--help`` too) already is a bool, so `PlainParamsGroup`
gives those parameters typer's own pass-through check (a type test) instead. Every other
parameter (int, float, Path, lists) keeps typer's check; a typer without per-parameter
adapters (before 0.29: click converts) is left as it is. No parameter of this command line
reads an environment variable or carries a parser, so no typed value arrives as text.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from typer.core import TyperGroup

_PassThrough: type[Any] | None
try:
    from typer._coercion import PassThroughRuntimeParam as _PassThrough
except ImportError:  # typer < 0.29
    _PassThrough = None

#: the annotations whose values arrive from the command line as they are
PLAIN = (str, bool)


def take_as_typed(params: Iterable[Any]) -> None:
    """Give the plain ``str`` and ``bool`` parameters of `params` (no parser, no file, no
    environment variable) the pass-through check in place of a pydantic adapter."""
    if _PassThrough is None:
        return
    for param in params:
        descriptor = getattr(param, "type_descriptor", None)
        if (descriptor is None or getattr(param, "_runtime_param", False) is not None
                or descriptor.annotation not in PLAIN or descriptor.file_annotation is not None
                or getattr(descriptor.parameter_info, "parser", None) is not None
                or getattr(param, "envvar", None)):
            continue
        try:
            check = _PassThrough(parameter_info=descriptor.parameter_info,
                                 annotation=descriptor.annotation)
        except TypeError:  # a typer whose pass-through check is made otherwise: keep its own
            return
        param._runtime_param = check


class PlainParamsGroup(TyperGroup):
    """A typer group whose own parameters and whose commands' take strings and flags as typed
    (`take_as_typed`)."""

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)
        take_as_typed(params)
        return params

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None and ctx is not None:
            take_as_typed(command.get_params(ctx))
        return command
