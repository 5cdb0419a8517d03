"""Facts about the built-in layers that torch-free code needs (parameter counts, roles).

This module imports nothing from `nasforge.searchspace.layers` (which imports torch), so
search spaces, strategies and reports can count parameters and plan ops without torch. The
contract tests check every fact here against the modules the layer registries build.
"""

from __future__ import annotations

NORM_ACTIVATIONS: frozenset[str] = frozenset({"evonorm_b0", "evonorm_s0"})
"""Norms that are normalization-*activation* layers (EvoNorm B0/S0).

They stand for a norm and the activation after it: a family that emits one of these norms
emits no separate activation op after it (the sampled activation is unused there).
"""

# learnable parameters per channel, or a fixed count (key: name -> (per_channel, fixed))
_NORM_PARAMS: dict[str, tuple[int, int]] = {
    "none": (0, 0),
    "batch": (2, 0),
    "layer": (2, 0),
    "group": (2, 0),
    "instance": (2, 0),
    "rms": (1, 0),
    "ibn": (2, 0),
    "evonorm_b0": (3, 0),
    "evonorm_s0": (3, 0),
}

_ACTIVATION_PARAMS: dict[str, tuple[int, int]] = {
    **{name: (0, 0) for name in (
        "relu", "leaky_relu", "gelu", "gelu_tanh", "silu", "tanh", "mish", "elu", "selu",
        "celu", "sigmoid", "hardswish", "softplus", "sin")},
    "prelu": (1, 0),
    "swish": (1, 0),
    "snake": (1, 0),
    "pau": (0, 10),
}


def _count(table: dict[str, tuple[int, int]], kind: str, channels: int) -> int | None:
    entry = table.get(kind)
    if entry is None:
        return None
    per_channel, fixed = entry
    return per_channel * channels + fixed


def norm_params(kind: str, channels: int, dims: int) -> int | None:
    """Learnable parameters (not buffers) of built-in norm `kind` on `channels` channels.

    None for a name that is not built in (a user-registered norm: build it to count). `dims`
    (spatial axes, 0-2) is accepted for symmetry with the factories; no built-in count
    depends on it, and whether the norm supports `dims` is not checked here.
    """
    return _count(_NORM_PARAMS, kind, channels)


def activation_params(kind: str, channels: int, dims: int) -> int | None:
    """Learnable parameters of built-in activation `kind` on `channels` channels, or None.

    None for a name that is not built in. `dims` is accepted as in `norm_params`.
    """
    return _count(_ACTIVATION_PARAMS, kind, channels)
