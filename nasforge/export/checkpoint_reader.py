"""Load a trial's stored checkpoint (the state_dict the search's evaluator saved) into the
model of its plan, for export without retraining. Not finding the file (that is
`nasforge.checkpoint_policy.stored_checkpoint`) nor writing it
(`nasforge.evaluator.checkpoint_writer`)."""

from __future__ import annotations

from pathlib import Path

import torch

from nasforge.evaluator.seeding import seeded
from nasforge.export.onnx_check import ExportError
from nasforge.searchspace.build import build_from_plan
from nasforge.searchspace.plan import NetworkPlan

_RETRAIN = "export with --retrain to train the trial afresh instead"


def load_stored(plan: NetworkPlan, path: Path, number: int) -> torch.nn.Module:
    """The plan's model (CPU, eval mode) with the state_dict at `path`; ExportError naming
    --retrain if the file cannot be read or does not fit the architecture."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated, not a torch file, or not plain tensors
        raise ExportError(f"The checkpoint {path} of trial {number} cannot be read "
                          f"({type(err).__name__}: {err}); {_RETRAIN}.") from None
    with seeded(0, torch.device("cpu")):  # the initial values are all overwritten
        model = build_from_plan(plan)
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ExportError(f"The checkpoint {path} does not fit trial {number}'s architecture "
                          f"({first}); {_RETRAIN}.") from None
    return model.eval()
