"""Save a trained candidate's state_dict as ``<folder>/<arch_id>.pt``, atomically (the
evaluator's side of checkpoints). Not where a search keeps its files or which it prunes
(`nasforge.checkpoint_policy`), nor loading one for export (`export.checkpoint_reader`).

The file is written to a temporary name in the same folder and renamed into place
(`os.replace`) once complete, so a reader (export, a pruning search) never sees half a file,
and a crashed process leaves at most a stray ``.<arch_id>.*.tmp``; the store records the
path only after this returns. The file is not fsync'ed: that cost 4-14 ms a checkpoint
(3-10% of a quickstart trial, issue 19) to guard against a crash of the whole machine (power
loss), after which a file renamed just before may be empty; export then says the
checkpoint cannot be read and offers --retrain (training is seeded: the same weights).
Tensors are saved on the CPU, so a checkpoint written on a GPU loads anywhere with
``torch.load(path, weights_only=True)``.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import torch

_SAFE_ID = re.compile(r"[0-9A-Za-z_-]{1,128}")


def checkpoint_name(arch_id: str) -> str:
    """``<arch_id>.pt``; ValueError for an id that could leave the folder or hide a file."""
    if not isinstance(arch_id, str) or not _SAFE_ID.fullmatch(arch_id):
        raise ValueError(f"arch_id {arch_id!r} cannot name a checkpoint file; only letters, "
                         "digits, '_' and '-' are allowed.")
    return f"{arch_id}.pt"


def save_checkpoint(folder: Path, arch_id: str, model: torch.nn.Module) -> Path:
    """Write `model`'s state_dict (detached CPU copies) to ``folder/<arch_id>.pt``; returns
    the path. Raises ValueError (bad id) or OSError (cannot write); nothing is left half
    written either way."""
    path = Path(folder) / checkpoint_name(arch_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {key: value.detach().cpu().clone() for key, value in model.state_dict().items()}
    fd, tmp = tempfile.mkstemp(prefix=f".{arch_id}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(state, handle)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
