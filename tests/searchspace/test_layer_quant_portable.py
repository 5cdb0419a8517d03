"""The portable quantization module (inlined into model.py) keeps the bit-width grid of the
torch-free `quantization` module: the two copies agree."""

from __future__ import annotations

from nasforge.searchspace import quantization
from nasforge.searchspace.layers.portable import quant


def test_the_portable_grid_is_the_torch_free_grid() -> None:
    assert quant.BIT_WIDTHS == quantization.BIT_WIDTHS
    assert (quant.FLOAT_BITS, quant.BF16_BITS) == (quantization.FLOAT_BITS,
                                                   quantization.BF16_BITS)
    for bits in range(2, 9):
        assert quant.weight_grid(bits) == quantization.weight_grid(bits)
        assert quant.act_grid(bits) == quantization.act_grid(bits)
