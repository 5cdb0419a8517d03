"""Small spaces and data for the supernet tests."""

from __future__ import annotations

from nasforge.searchspace.assemble import assemble_space
from nasforge.searchspace.plan import DataSpec
from nasforge.searchspace.space import SearchSpace

MLP_SPEC = DataSpec((1, 8, 8), 10, name="digits-like")
CNN_SPEC = DataSpec((1, 8, 8), 10, name="digits-like")
SEQ_SPEC = DataSpec((2, 16), 4, name="sequence")
#: 16 px: a stride-2 stage keeps an 8x8 map, where 7x7 kernels fit
MBCONV_SPEC = DataSpec((1, 16, 16), 10, name="small-images")


def mlp_space(**shared: object) -> SearchSpace:
    layer = {"activation": ["relu", "gelu", "prelu", "pau"],
             "norm": ["none", "batch", "layer", "rms"],
             "weight_bits": [32, 16, 8, 4, 2, 1], "act_bits": [32, 8, 4, 1], **shared}
    return assemble_space(["mlp"], layer, {"mlp": {"depth": {"low": 0, "high": 3},
                                                   "width": [8, 16, 24],
                                                   "per_layer_width": True}})


def cnn_space(head_width: list[int] | None = None, **shared: object) -> SearchSpace:
    """EvoNorm (a norm-activation) cannot follow the head's flat hidden layer: with it in
    the norms, pass head_width=[0]."""
    layer = {"activation": ["relu", "silu", "prelu"],
             "norm": ["none", "batch", "group", "evonorm_b0"],
             "weight_bits": [32, 8, 2], "act_bits": [32, 8, 4], **shared}
    if head_width and head_width != [0]:
        layer["norm"] = ["none", "batch", "group"]
    return assemble_space(["cnn"], layer, {"cnn": {"stages": {"low": 1, "high": 2},
                                                   "convs_per_stage": [1, 2],
                                                   "channels": [4, 8], "kernel": [1, 3, 5],
                                                   "pool": ["max", "avg", "none"],
                                                   "readout": ["global_avg", "flatten"],
                                                   "head_width": head_width or [0]}})


def mbconv_space(**shared: object) -> SearchSpace:
    """Every elastic dimension of `mbconv`: stages, depth, expansion (1: no expansion conv),
    kernel (elastic 7 -> 5 -> 3), width (residual and non-residual first blocks), SE on / off,
    the head conv and hidden layer present or not."""
    layer = {"activation": ["relu", "hardswish", "prelu"], "norm": ["batch", "none"],
             "weight_bits": [32, 8], "act_bits": [32, 8], **shared}
    return assemble_space(["mbconv"], layer, {"mbconv": {
        "stages": {"low": 1, "high": 3}, "depth": [1, 2, 3], "expand": [1, 3, 4],
        "kernel": [3, 5, 7], "width": [4, 8], "se": [False, True], "stem": [4, 8],
        "head_channels": [0, 16], "head_width": [0, 8], "strides": [1, [1, 2], 1]}})
