"""Quantization levels of a search space (torch-free): bit widths, grids and the layer policy.

Every Linear and Conv layer of a plan carries two bit widths: `weight_bits` for its weight and
`act_bits` for its input activation (what the layer multiplies), so bit operations are
``MACs x weight_bits x act_bits`` per layer. The levels:

=====  ===================================================================================
bits   meaning (training is quantization-aware: fake quantization, straight-through grads)
=====  ===================================================================================
32     float32, no quantization
16     bfloat16: values rounded to bf16 in the forward pass
2-8    integers: weights symmetric per output channel on ``-(2^(b-1)-1) .. 2^(b-1)-1``
       (2 bits: ternary), activations affine per tensor on ``0 .. 2^b - 1`` with a
       zero point (scale from a moving-average min/max, or learned: LSQ)
1      binary: weights sign(w) x mean|w| per output channel (BWN); activations the two
       ends of the observed (moving-average) range, cut at its midpoint: sign(x) for a
       range symmetric about zero, {0, max} after a ReLU
=====  ===================================================================================

A space searches them with the ``[space]`` keys ``weight_bits`` and ``act_bits`` (globally),
``quant_step`` ("fixed" or "learned") and ``keep_ends_8bit`` (true: the first and the last
layer are never below 8 bits, a common policy since they are the most sensitive); a family
table's ``per_layer_bits = true`` gives every hidden layer (MLP) or stage (CNN) its own
``<family>.weight_bits.i`` / ``<family>.act_bits.i``, while the global keys govern the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from nasforge.errors import SpaceError

FLOAT_BITS = 32
BF16_BITS = 16
BIT_WIDTHS: tuple[int, ...] = (32, 16, 8, 4, 2, 1)
INTEGER_BITS: tuple[int, ...] = (8, 4, 2, 1)
QUANT_STEPS = ("fixed", "learned")
#: The `[space]` keys of quantization (absent: float32 everywhere).
QUANT_KEYS = ("weight_bits", "act_bits", "quant_step", "keep_ends_8bit")
ENDS_BITS = 8


@dataclass(frozen=True, slots=True)
class LayerBits:
    """Bit widths of one layer's weight and input activation; `learned_step`: LSQ scales."""

    weight: int = FLOAT_BITS
    act: int = FLOAT_BITS
    learned_step: bool = False

    def __post_init__(self) -> None:
        for what, bits in (("weight", self.weight), ("activation", self.act)):
            check_bits(bits, f"{what} bits")

    @property
    def is_float(self) -> bool:
        return self.weight == FLOAT_BITS and self.act == FLOAT_BITS

    def at_least(self, bits: int) -> LayerBits:
        """Widths raised to `bits` where they are below it (32 and 16 stay as they are)."""
        return LayerBits(max(self.weight, bits), max(self.act, bits), self.learned_step)



def check_bits(bits: object, what: str = "bits") -> int:
    if isinstance(bits, bool) or bits not in BIT_WIDTHS:
        raise SpaceError(f"{what} = {bits!r} is not a supported bit width; use one of "
                         f"{', '.join(map(str, BIT_WIDTHS))} (32: float, 16: bfloat16).")
    return int(bits)


FLOAT = LayerBits()


def weight_grid(bits: int) -> tuple[int, int]:
    """Integer range of a symmetric weight quantizer with `bits` in 2..8 (narrow range)."""
    top = 2 ** (bits - 1) - 1
    return -top, top


def act_grid(bits: int) -> tuple[int, int]:
    """Integer range of an affine activation quantizer with `bits` in 2..8."""
    return 0, 2**bits - 1


Lookup = Callable[[str, object], object]


def layer_bits(get: Lookup, index: int | None, first: bool, last: bool) -> LayerBits:
    """The widths of one layer from an architecture's values.

    `get(key, default)` reads a value (a `FamilyView.get`); `index` is the layer's hidden-layer
    or stage index for per-layer widths (``weight_bits.i``), None for layers that follow the
    global widths; `first` / `last` mark the ends for the ``keep_ends_8bit`` policy.
    """
    def width(key: str) -> int:
        value = get(f"{key}.{index}", None) if index is not None else None
        return check_bits(get(key, FLOAT_BITS) if value is None else value, key)

    step = get("quant_step", "fixed")
    if step not in QUANT_STEPS:
        raise SpaceError(f"quant_step = {step!r} is unknown; use one of {', '.join(QUANT_STEPS)}.")
    bits = LayerBits(width("weight_bits"), width("act_bits"), step == "learned")
    if (first or last) and get("keep_ends_8bit", False):
        return bits.at_least(ENDS_BITS)
    return bits


def learned_step_params(weight_bits: int, act_bits: int, out_channels: int) -> int:
    """Extra parameters of a learned-step (LSQ) layer: one scale per output channel for a
    2-8 bit weight, a scale and an offset for a 2-8 bit input activation (binary ones have
    no step to learn)."""
    return (out_channels if 2 <= weight_bits <= 8 else 0) + (2 if 2 <= act_bits <= 8 else 0)
