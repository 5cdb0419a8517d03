"""Fake quantization in a stacked model: each model's activations quantized on their own.

`layers.quant.ActQuant` observes one tensor; in a stack, each model's activations are one row
of an (M, N) view, so the observer state is per row: `torch.fused_moving_avg_obs_fake_quant`
in per-row mode (a running min, max, scale and zero point per model: bit-identical to the
per-tensor operator on each row), and the binary quantizer's moving range per row. Weights are
quantized per output channel, so the stacked (M * C_out, ...) weight goes through
`layers.quant.fake_quant_weight` as one. Learned steps (LSQ) are not stacked.
"""

from __future__ import annotations

import torch

from nasforge.searchspace.layers.quant import (
    OBSERVER_AVERAGING,
    bf16_round,
    straight_through,
)
from nasforge.searchspace.quantization import BF16_BITS, FLOAT_BITS, act_grid

#: The activation quantizer's state, per model: ActQuant buffer names (fixed step or binary).
ACT_BUFFERS = {1: ("running_min", "running_max"),
               **{bits: ("running_min", "running_max", "scale", "zero_point")
                  for bits in range(2, 9)}}


def fake_quant_rows(rows: torch.Tensor, bits: int, state: dict[str, torch.Tensor],
                    training: bool) -> torch.Tensor:
    """(M, N) activations, model m's in row m, fake-quantized with model m's observer in
    `state` (the ACT_BUFFERS names -> (M,) tensors, updated in place in training)."""
    if bits == FLOAT_BITS:
        return rows
    if bits == BF16_BITS:
        return bf16_round(rows)
    if bits == 1:
        return _binary_rows(rows, state, training)
    qmin, qmax = act_grid(bits)
    on = torch.ones(1, dtype=torch.long, device=rows.device)
    observe = on if training else torch.zeros_like(on)
    return torch.fused_moving_avg_obs_fake_quant(
        rows, observe, on, state["running_min"], state["running_max"], state["scale"],
        state["zero_point"], OBSERVER_AVERAGING, qmin, qmax, 0, True, False)


def _binary_rows(rows: torch.Tensor, state: dict[str, torch.Tensor], training: bool
                 ) -> torch.Tensor:
    """`ActQuant._binary` per row: two levels from each model's moving min and max."""
    low_run, high_run = state["running_min"], state["running_max"]
    if training:
        with torch.no_grad():
            low, high = torch.aminmax(rows, dim=1)
            for running, new in ((low_run, low), (high_run, high)):
                running.copy_(torch.where(torch.isinf(running), new,
                                          running.lerp(new, OBSERVER_AVERAGING)))
    low, high = low_run.unsqueeze(1), high_run.unsqueeze(1)
    low = torch.where(torch.isinf(low), -1.0, low)  # never observed: [-1, 1], sign(x)
    high = torch.where(torch.isinf(high), 1.0, high)
    clipped = rows.clamp(low, high)
    levels = torch.where(rows.detach() >= (low + high) / 2, high, low)
    return straight_through(clipped, levels)
