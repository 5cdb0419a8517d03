"""Small spaces and data for the supernet tests."""

from __future__ import annotations

from nasforge.searchspace.assemble import assemble_space
from nasforge.searchspace.plan import DataSpec
from nasforge.searchspace.space import SearchSpace

MLP_SPEC = DataSpec((1, 8, 8), 10, name="digits-like")
CNN_SPEC = DataSpec((1, 8, 8), 10, name="digits-like")
SEQ_SPEC = DataSpec((2, 16), 4, name="sequence")


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
