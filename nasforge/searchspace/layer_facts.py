"""Torch-free facts about the registered layers, read from their specs (`specs.LayerSpec`).

Kept for the callers that ask by name; new code reads `specs.ACTIVATIONS` / `specs.NORMS`.
"""

from __future__ import annotations

from nasforge.searchspace.specs import ACTIVATIONS, NORMS, norm_activations

NORM_ACTIVATIONS: frozenset[str] = norm_activations()
"""Built-in norms that are normalization-*activation* layers (EvoNorm B0/S0): they stand for
a norm and the activation after it, so a family emits no activation op after one. Plugin
norm-activations are in `specs.norm_activations()`."""


def norm_params(kind: str, channels: int, dims: int) -> int | None:
    """Learnable parameters (not buffers) of norm `kind` on `channels` channels; None for a
    name that is not registered or a spec without a count (build it to count)."""
    return NORMS.get(kind).count_params(channels, dims) if kind in NORMS else None


def activation_params(kind: str, channels: int, dims: int) -> int | None:
    """Learnable parameters of activation `kind` on `channels` channels, or None (as
    `norm_params`)."""
    return ACTIVATIONS.get(kind).count_params(channels, dims) if kind in ACTIVATIONS else None
