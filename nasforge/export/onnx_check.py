"""model.onnx from an exported Model, checked with onnxruntime against PyTorch."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from nasforge.errors import NasforgeError

OPSET = 17
RTOL, ATOL = 1e-4, 1e-5


class ExportError(NasforgeError):
    """An export could not be made or did not check out."""


@dataclass(frozen=True, slots=True)
class OnnxCheck:
    max_abs_diff: float
    batch: int


def write_onnx(model: torch.nn.Module, input_shape: tuple[int, ...], path: Path, *,
               seed: int = 0, batch: int = 8) -> OnnxCheck:
    """Export `model` (eval mode, batch axis dynamic) to `path` and compare onnxruntime's
    outputs with PyTorch's on a seeded random batch; raises ExportError if they differ by
    more than rtol 1e-4 / atol 1e-5 or if onnx / onnxruntime are missing."""
    try:
        import onnxruntime
    except ImportError:
        raise ExportError("--onnx needs onnx and onnxruntime: pip install 'nasforge[export]'."
                          ) from None
    model = model.eval()
    x = torch.randn(batch, *input_shape, generator=torch.Generator().manual_seed(seed))
    with warnings.catch_warnings():  # the TorchScript exporter warns that it is deprecated
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), str(path), dynamo=False, opset_version=OPSET,
                          input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected = model(x)
    got = torch.from_numpy(session.run(None, {"input": x.numpy()})[0])
    diff = float((got - expected).abs().max())
    if not torch.allclose(got, expected, rtol=RTOL, atol=ATOL):
        raise ExportError(f"model.onnx disagrees with PyTorch under onnxruntime (max abs "
                          f"difference {diff:.3g}); export without --onnx and report this.")
    return OnnxCheck(diff, batch)
