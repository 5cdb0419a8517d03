"""The check shared by the ops built through a layer spec (norms, activations)."""

from __future__ import annotations

from nasforge.errors import SpaceError
from nasforge.searchspace.specs import LayerSpec


def unsupported(spec: LayerSpec, channels: int, dims: int) -> str | None:
    """Why `spec` cannot be built over `dims` spatial axes, or None. Nothing is built when it
    can: a built-in factory refuses an unsupported layout, with its own advice, before it
    makes a module (an unknown kind was already refused by the registry lookup)."""
    if dims in spec.dims:
        return None
    try:
        spec(channels, dims)
    except SpaceError as error:
        return str(error)
    return None  # pragma: no cover - LayerSpec refuses every dims outside spec.dims
