"""Quantization-aware layers (fake quantizers, QuantLinear, QuantConv1d/2d).

They live in the portable module `layers/portable/quant.py`, which `nasforge export` inlines
into model.py (the exported class is the class nasforge trained); this module keeps the old
import path. The torch-free levels and the space policy are in
`nasforge.searchspace.quantization`.
"""

from __future__ import annotations

from nasforge.searchspace.layers.portable.quant import (
    OBSERVER_AVERAGING,
    ActQuant,
    QuantConv1d,
    QuantConv2d,
    QuantLinear,
    WeightQuant,
    bf16_round,
    fake_quant_weight,
    straight_through,
)

__all__ = ["OBSERVER_AVERAGING", "ActQuant", "QuantConv1d", "QuantConv2d", "QuantLinear",
           "WeightQuant", "bf16_round", "fake_quant_weight", "straight_through"]
