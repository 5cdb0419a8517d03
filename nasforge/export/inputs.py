"""The input side of a generated model.py: the preprocessing the search trained with.

An exported `Model` takes raw samples, as the user has them (a CSV's feature columns, an npz's
`x`, a built-in dataset's raw pixels), and its `forward` starts with what
`evaluator.data.preprocessing.Preprocessing.apply` does to them:

    x = x.reshape(x.shape[0], *INPUT_SHAPE)                     # any (N, ...) of that size
    x = x.to(float32) * input_scale                             # pixel datasets, or
    x = ((x.to(float64) - input_mean) / input_std).to(float32)  # tabular data (float64, as
                                                                # the evaluator computes it)
    x = x.reshape(x.shape[0], *NETWORK_INPUT_SHAPE)             # when the shapes differ

The values are module constants (exact: each float written as the repr of the float the
evaluator used) turned into registered buffers by `preprocessing_state()`, so they are in
weights.pt and in model.onnx too. Torch-free; free text only enters the docstring.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterable

import numpy as np

from nasforge.evaluator.data.preprocessing import Preprocessing
from nasforge.export.names import json_text

_WIDTH = 99
_TEXT = 92  # docstring lines: under names.LINE, so no backslash continuations


def shape_text(shape: tuple[int, ...]) -> str:
    items = [str(int(d)) for d in shape]
    return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"


def _floats(name: str, values: Iterable[float]) -> str:
    """``NAME = (\\n    v, v, ...\\n)`` wrapped under the line length; exact float reprs."""
    numbers = [float(v) for v in values]
    if not all(math.isfinite(v) for v in numbers):
        raise ValueError(f"{name} holds a value that is not finite")
    items = [repr(v) for v in numbers]
    lines, current = [], "   "
    for item in items:
        if len(current) + len(item) + 2 > _WIDTH:
            lines.append(current)
            current = "   "
        current += f" {item},"
    lines.append(current)
    return f"{name} = (\n" + "\n".join(lines) + "\n)"


def constants(pre: Preprocessing) -> str:
    """The module constants of the preprocessing, below INPUT_SHAPE / NETWORK_INPUT_SHAPE."""
    if pre.scale is not None:
        return ("#: forward multiplies the raw values by it (the pixel scale nasforge trained "
                "with).\n"
                f"INPUT_SCALE = {float(np.float32(pre.scale))!r}")
    assert pre.mean is not None and pre.std is not None
    return "\n".join([
        "#: forward standardises the raw values: (x - INPUT_MEAN) / INPUT_STD, in float64,",
        "#: with the training split's statistics, of shape STATS_SHAPE.",
        f"STATS_SHAPE = {shape_text(pre.stats_shape) if pre.stats_shape else '()'}",
        _floats("INPUT_MEAN", pre.mean.ravel()),
        _floats("INPUT_STD", pre.std.ravel()),
    ])


def state_function(pre: Preprocessing) -> str:
    if pre.scale is not None:
        body = '        "input_scale": torch.tensor(INPUT_SCALE, dtype=torch.float32),'
    else:
        body = ('        "input_mean": torch.tensor(INPUT_MEAN, dtype=torch.float64)'
                '.reshape(STATS_SHAPE),\n'
                '        "input_std": torch.tensor(INPUT_STD, dtype=torch.float64)'
                '.reshape(STATS_SHAPE),')
    return "\n".join([
        "def preprocessing_state() -> dict[str, torch.Tensor]:",
        '    """The buffers of the input preprocessing (Model registers them; they are in',
        '    weights.pt too)."""',
        "    return {",
        body,
        "    }",
    ])


def init_lines() -> list[str]:
    return ["        for name, value in preprocessing_state().items():",
            "            self.register_buffer(name, value)"]


def forward_lines(pre: Preprocessing) -> list[str]:
    raw = ", ".join(str(d) for d in pre.raw_shape)
    lines = [f"        x = x.reshape(x.shape[0], *INPUT_SHAPE)  # (N, {raw}) raw values"]
    if pre.scale is not None:
        lines.append("        x = x.to(torch.float32) * self.input_scale  # as in training")
    else:
        lines += ["        x = (x.to(torch.float64) - self.input_mean) / self.input_std",
                  "        x = x.to(torch.float32)  # standardised as in training"]
    if pre.input_shape != pre.raw_shape:
        shape = ", ".join(str(d) for d in pre.input_shape)
        lines.append(f"        x = x.reshape(x.shape[0], *NETWORK_INPUT_SHAPE)  # (N, {shape})")
    return lines


def docstring_section(pre: Preprocessing) -> str:
    """What forward expects and does to it, for the module docstring (free text: escaped
    there)."""
    size = math.prod(pre.raw_shape)
    raw = f"(N, {', '.join(str(d) for d in pre.raw_shape)})"
    if pre.scale is not None:
        step = (f"casts it to float32 and multiplies it by INPUT_SCALE = "
                f"{float(np.float32(pre.scale))!r} (the pixel scale nasforge trained with)")
    else:
        per = "column" if len(pre.raw_shape) == 1 else "channel"
        step = (f"standardises each {per} with the mean and std of the search's training "
                "split, (x - INPUT_MEAN) / INPUT_STD in float64, and casts the result to "
                "float32")
    reshape = (f", then reshapes it to (N, {', '.join(str(d) for d in pre.input_shape)}) "
               "(NETWORK_INPUT_SHAPE)" if pre.input_shape != pre.raw_shape else "")
    paragraphs = [
        f"Input: forward(x) takes RAW samples, x of shape (N, *INPUT_SHAPE) = {raw}"
        + (f": {pre.raw_input}." if pre.raw_input else "."),
        f"Any (N, ...) tensor of any numeric dtype with {size} values per sample works: "
        f"forward reshapes it to {raw}, {step}{reshape}: exactly what nasforge did to the "
        "data this model was trained and evaluated on. So do not scale or standardise the "
        "data yourself. The values are module constants and buffers of Model (in weights.pt "
        "too); model.onnx does the same to its float32 input of shape (N, *INPUT_SHAPE).",
    ]
    text = "\n".join(textwrap.fill(p, _TEXT, break_on_hyphens=False) for p in paragraphs)
    if pre.feature_names:
        text += f"\n\nFeature columns, in this order:\n{json_text(list(pre.feature_names))}"
    return text
