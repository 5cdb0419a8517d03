"""The trial page's layer stack gives every built-in op kind its own colour: an mbconv trial
with a resolution, residual blocks and squeeze-and-excite draws no op in the fallback grey."""

from __future__ import annotations

import pytest

from nasforge.searchspace import plan_ops
from nasforge.searchspace.architecture import Architecture
from nasforge.searchspace.families import plan_for
from nasforge.searchspace.plan import DataSpec

pytest.importorskip("plotly")

from nasforge.ui.architecture import layer_frame  # noqa: E402
from nasforge.ui.charts import _KIND_COLOURS, layer_figure  # noqa: E402

FALLBACK = "#7f7f7f"


def _mbconv_trial() -> Architecture:
    # stage 0 keeps 8 channels at stride 1 (residual blocks), stage 1 widens to 16 with
    # stride 2: its first block has no shortcut, so its squeeze-and-excite is a top-level op
    return Architecture({
        "family": "mbconv", "resolution": 6, "mbconv.stages": 2, "mbconv.stem": 8,
        "mbconv.head_channels": 16, "mbconv.head_width": 0, "mbconv.depth.0": 2,
        "mbconv.depth.1": 1, "mbconv.expand.0": 2, "mbconv.expand.1": 3, "mbconv.kernel.0": 3,
        "mbconv.kernel.1": 3, "mbconv.width.0": 8, "mbconv.width.1": 16, "mbconv.se.0": True,
        "mbconv.se.1": True, "mbconv.se_ratio": 0.25, "mbconv.se_gate": "hardsigmoid",
        "mbconv.strides.0": 1, "mbconv.strides.1": 2, "activation": "hardswish",
        "norm": "batch", "dropout": 0.0})


def test_every_built_in_op_kind_has_a_colour() -> None:
    kinds = {cls.__name__ for cls in vars(plan_ops).values()
             if isinstance(cls, type) and issubclass(cls, plan_ops.PlanOp)
             and cls is not plan_ops.PlanOp}
    assert {"SqueezeExcite", "Resize", "Residual"} <= kinds
    assert kinds <= set(_KIND_COLOURS), sorted(kinds - set(_KIND_COLOURS))
    assert FALLBACK not in _KIND_COLOURS.values()


def test_an_mbconv_layer_stack_draws_resize_residual_and_se_in_their_colours() -> None:
    frame = layer_frame(plan_for(_mbconv_trial(), DataSpec((1, 8, 8), 10)))
    kinds = list(frame["kind"])
    assert kinds[0] == "Resize"
    assert {"Residual", "SqueezeExcite"} <= set(kinds), kinds
    figure = layer_figure(frame)
    colours = list(figure.data[0].marker.color)[::-1]  # the figure draws the input on top
    assert len(colours) == len(kinds)
    assert FALLBACK not in colours
    by_kind = dict(zip(kinds, colours, strict=True))
    assert by_kind["SqueezeExcite"] != by_kind["Residual"] != by_kind["Resize"]
