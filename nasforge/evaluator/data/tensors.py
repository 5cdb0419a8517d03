"""A loaded `Dataset` as torch tensors on one device, and device-name resolution.

The only data module that imports torch: `evaluator.data` stays torch-free so datasets can be
loaded (and inspected) without it. Lifecycle: load_dataset -> to_device -> trainers read the
tensors for the whole search (no per-batch host->device copies).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from nasforge.errors import ConfigError
from nasforge.evaluator.data import Dataset
from nasforge.searchspace.plan import DataSpec

_DEVICE_HINT = 'Use device = "cpu" or device = "auto" (CUDA when available, else CPU).'


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class DeviceData:
    """x_*: float32 contiguous (N, *spec.input_shape); y_*: (N,) int64 class codes
    (classification) or float32 targets (regression); all on `device`. `augment`: the
    augmentations of training batches (`nasforge.evaluator.augment`; names checked there)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    spec: DataSpec
    classes: tuple[str, ...] = ()
    augment: tuple[str, ...] = ()

    @property
    def device(self) -> torch.device:
        return self.x_train.device

    def __repr__(self) -> str:
        return (f"DeviceData({self.spec.name!r}, {self.spec.task}, device={self.device}, "
                f"train={len(self.y_train)}, val={len(self.y_val)}, test={len(self.y_test)})")


def _tensor(a: np.ndarray, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    # torch.tensor copies, so the tensors never alias the dataset's read-only arrays.
    return torch.tensor(np.ascontiguousarray(a), dtype=dtype, device=device).contiguous()


def to_device(dataset: Dataset, device: torch.device | str,
              augment: tuple[str, ...] = ()) -> DeviceData:
    """Copy the six arrays of `dataset` onto `device` (a torch.device or a name); training
    batches get `augment`."""
    device = device if isinstance(device, torch.device) else resolve_device(device)
    y_dtype = torch.int64 if dataset.spec.task == "classification" else torch.float32
    return DeviceData(
        x_train=_tensor(dataset.x_train, torch.float32, device),
        y_train=_tensor(dataset.y_train, y_dtype, device),
        x_val=_tensor(dataset.x_val, torch.float32, device),
        y_val=_tensor(dataset.y_val, y_dtype, device),
        x_test=_tensor(dataset.x_test, torch.float32, device),
        y_test=_tensor(dataset.y_test, y_dtype, device),
        spec=dataset.spec, classes=dataset.classes, augment=tuple(augment),
    )


def resolve_device(name: str) -> torch.device:
    """"auto" -> cuda when available, else cpu; "cpu", "cuda", "cuda:N", "mps" checked here."""
    text = str(name).strip().lower()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise ConfigError(
            f"device = {name!r} is not a device name. {_DEVICE_HINT} "
            f"Or name a GPU: \"cuda\", \"cuda:1\"."
        ) from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ConfigError(f"device = {name!r} but no CUDA device is visible. {_DEVICE_HINT}")
        if device.index is not None and device.index >= count:
            raise ConfigError(
                f"device = {name!r} but only {count} CUDA device(s) are visible "
                f"(cuda:0..cuda:{count - 1}). {_DEVICE_HINT}"
            )
    elif device.type == "mps":
        if not torch.backends.mps.is_available():
            raise ConfigError(f"device = {name!r} but MPS is not available. {_DEVICE_HINT}")
    elif device.type != "cpu":
        raise ConfigError(f"device = {name!r} is not supported. {_DEVICE_HINT}")
    return device
