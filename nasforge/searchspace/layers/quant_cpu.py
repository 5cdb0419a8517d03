"""CPU paths of the fake-quant operators: the same arithmetic as PyTorch's, vectorised.

PyTorch's CPU kernels of `fake_quantize_per_channel_affine` and of its learnable (LSQ) variant
are scalar loops; on NAS-sized weights they cost several times the elementwise ops that
replace them (measured: a 256 x 256 weight, 247 us native against 45 us, forward). On CUDA
the quantizers call the native fused operators; on the CPU they call these, which compute
what the native operators compute (the same rounding: nearbyint of w * (1 / scale)), as the
tests check against them. For activations the native per-tensor kernel stays: at a batch of
64 x 256 it beat an elementwise version (100 us against 145 us, forward and backward).

Both live in the portable `layers/portable/quant.py` (inlined into model.py by the export);
this module keeps the old import path.
"""

from __future__ import annotations

from nasforge.searchspace.layers.portable.quant import (
    LearnedStepPerChannel,
    symmetric_per_channel,
)

__all__ = ["LearnedStepPerChannel", "symmetric_per_channel"]
