"""Broadcasting per-channel parameters over (N, C, *spatial) inputs."""

from __future__ import annotations

import torch


def per_channel(values: torch.Tensor, ndim: int, dtype: torch.dtype | None = None) -> torch.Tensor:
    """View a (C,) tensor as (1, C, 1, ...) so it broadcasts over an `ndim`-d (N, C, *) input.

    With `dtype`, the view is cast to it (a no-op when it already matches), so a float32
    parameter meets a bfloat16 input as bfloat16 rather than promoting the output.
    """
    view = values.view(1, -1, *([1] * (ndim - 2)))
    return view if dtype is None else view.to(dtype)
