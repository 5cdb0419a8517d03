"""Numeric precision of training: names, per-device resolution, and scoped contexts.

Names: "auto" (bf16 on CUDA, fp32 elsewhere), "fp32" (float32; torch's flags left as they
are), "tf32" (float32 storage, TF32 matmuls and convolutions on CUDA; plain fp32 elsewhere),
"bf16" (bf16 autocast of forward + loss; parameters, gradients, optimizer state and loss sums
stay float32). `resolve_precision` turns a name into what runs on a device ("fp32", "tf32" or
"bf16"); `autocast` and `tf32` are contexts that change nothing outside their block.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from nasforge.errors import ConfigError

PRECISIONS = ("auto", "fp32", "tf32", "bf16")
AUTOCAST_DEVICES = ("cpu", "cuda")


def check_precision(name: object) -> str:
    if name not in PRECISIONS:
        allowed = ", ".join(repr(p) for p in PRECISIONS)
        raise ConfigError(f"precision={name!r} is invalid; choose one of {allowed}.")
    return str(name)


def resolve_precision(name: str, device: torch.device | str) -> str:
    """"fp32", "tf32" or "bf16": what `name` means on `device`. "tf32" is "fp32" off CUDA
    (no TF32 units); "bf16" is refused where torch has no bf16 autocast."""
    device = torch.device(device)
    check_precision(name)
    if name == "auto":
        return "bf16" if device.type == "cuda" else "fp32"
    if name == "tf32" and device.type != "cuda":
        return "fp32"
    if name == "bf16" and device.type not in AUTOCAST_DEVICES:
        raise ConfigError(f"precision='bf16' is not supported on {device}; use 'fp32'.")
    return name


def autocast(device: torch.device | str, precision: str) -> contextlib.AbstractContextManager:
    """bf16 autocast for "bf16", else a no-op context. The cast cache is off: CUDA graph
    capture requires it, and each step enters the context anew, so it would save nothing."""
    if precision != "bf16":
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16, cache_enabled=False)


@contextlib.contextmanager
def tf32(device: torch.device | str, precision: str = "tf32") -> Iterator[None]:
    """TF32 matmuls and cuDNN convolutions inside the block when `precision` is "tf32" on
    CUDA; the previous flags are restored on exit. Elsewhere a no-op."""
    if precision != "tf32" or torch.device(device).type != "cuda":
        yield
        return
    conv = getattr(torch.backends.cudnn, "conv", None)
    flags: tuple[tuple[object, str, bool | str], ...]  # (owner, attribute, value)
    if conv is None:  # torch < 2.9: only the legacy flags (mixing both APIs is an error)
        flags = (torch.backends.cuda.matmul, "allow_tf32", True), (torch.backends.cudnn,
                                                                    "allow_tf32", True)
    else:
        flags = (torch.backends.cuda.matmul, "fp32_precision", "tf32"), (conv, "fp32_precision",
                                                                         "tf32")
    before = [getattr(owner, name) for owner, name, _ in flags]
    for owner, name, value in flags:
        setattr(owner, name, value)
    try:
        yield
    finally:
        for (owner, name, _), value in zip(flags, before, strict=True):
            setattr(owner, name, value)
