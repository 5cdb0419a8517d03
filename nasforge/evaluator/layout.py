"""How inference and convolutions lay out their work, per device: samples per inference
pass (`eval_batch`) and the channels_last memory format (`use_channels_last`,
`nhwc_inputs`). Used by the single-candidate and fused trainers and by the supernet."""

from __future__ import annotations

import torch
from torch import nn

from nasforge.errors import ConfigError

EVAL_BATCH = 4096
#: Samples per inference pass for images and sequences on a CPU: at 4096 a convolution's
#: activations (hundreds of MB) spill every cache, and a validation pass of 28x28 images
#: through an mbconv model runs 4.6x slower than at 256 (issue 16, `bench/eval_batch.py`).
SPATIAL_CPU_EVAL_BATCH = 256


def eval_batch(x: torch.Tensor) -> int:
    """Samples per inference forward pass over `x`: `SPATIAL_CPU_EVAL_BATCH` for images and
    sequences (3-D or more) on a CPU, else `EVAL_BATCH` (flat features; GPUs)."""
    return SPATIAL_CPU_EVAL_BATCH if x.ndim >= 3 and x.device.type == "cpu" else EVAL_BATCH


def use_channels_last(mode: bool | str, model: nn.Module, x: torch.Tensor) -> bool:
    """Whether `model` runs channels_last on 4-D inputs `x`: True; False; "auto": when it
    holds 2-D convolution weights (4-D parameters: `nn.Conv2d`s, a supernet's shared ones), on
    any device (cuDNN's fastest kernels want NHWC; on the CPU oneDNN's NHWC kernels train
    depthwise and pointwise convs 1.2-1.8x faster, `bench/channels_last.py`)."""
    if mode not in (True, False, "auto"):
        raise ConfigError(f"channels_last={mode!r} is invalid; choose 'auto', True or False.")
    if x.ndim != 4 or mode is False:
        return False
    return mode is True or any(p.ndim == 4 for p in model.parameters())


def nhwc_inputs(layout: bool, x: torch.Tensor) -> bool:
    """Whether a channels_last model's inputs are converted too: on CUDA; on a CPU the NHWC
    weights suffice (oneDNN converts each batch itself, as fast, with no copy of the data)."""
    return layout and x.device.type == "cuda"
