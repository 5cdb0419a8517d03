"""Explicit seeds without touching global RNG state.

`candidate_seed` gives each architecture its own seed, independent of where it sits in a
batch; `seeded` runs a block (model init, dropout) on torch's global generators seeded with
it and restores their previous state afterwards.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator

import torch


def candidate_seed(seed: int, arch_id: str) -> int:
    """A stable 63-bit seed from (search seed, arch_id): the same in every process."""
    digest = hashlib.sha256(f"{int(seed)}:{arch_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & (2**63 - 1)


@contextlib.contextmanager
def seeded(seed: int, device: torch.device | str = "cpu") -> Iterator[None]:
    """Seed torch's CPU generator (and `device`'s, if CUDA) inside the block, then restore.

    Code that draws from the global generators (parameter init, dropout) is reproducible
    inside the block, and callers see their RNG state unchanged afterwards. Only the given
    CUDA device is seeded and restored; other GPUs are not touched.
    """
    device = torch.device(device)
    cuda: list[int] = []
    if device.type == "cuda":
        cuda = [device.index if device.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=cuda):
        torch.random.default_generator.manual_seed(seed)
        for index in cuda:
            with torch.cuda.device(index):
                torch.cuda.manual_seed(seed)
        yield
