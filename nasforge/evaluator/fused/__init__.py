"""Horizontally fused training: candidates of one structure trained as one stacked model.

Modules: `train` (`train_fused`, the loop), `optimizer` (the stacked optimizer), `stack`
(`StackedModel`, `check_fusable`), `align` (plans of different depth, norms and dropout into
one stack's slots; `align_key`, `stack_key`), `layers` (a stacked layer and its two
layouts), `ops` (the stacked implementation of each plan op, named by the op specs' `fused`
references),
`buckets` (which candidates stack together), `policy` (when fusing pays), `costmodel` and
`calibration` (the per-machine model of step times the policy plans with), `steppers` (the
steps alone and stacked that the calibration and the policy's probe time), `chunking` (a
CPU pool's round cut into those stacks, one worker each), `quant` and
`dropout` (per-model quantizer state and random streams), `graphed` (one training step,
eager or replayed from a CUDA graph; used by `evaluator.train` too).

The names below are imported on first use: `evaluator.train` imports `graphed` from this
package while `train` imports `evaluator.train`, so an eager import here would be circular.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "FusedResult": "train", "StackedOptimizer": "optimizer", "check_compatible": "train",
    "fused_step": "train", "train_fused": "train",
    "FusionError": "stack", "StackedModel": "stack", "check_fusable": "stack",
    "padded_shapes": "stack", "stack_key": "stack",
    "fusion_key": "buckets", "padded_macs": "buckets", "split_by_padding": "buckets",
    "FusedPolicy": "policy", "ProbeTiming": "policy", "bucket_key": "policy",
    "probe_steps": "policy",
    "align": "align", "align_key": "align", "CostModel": "costmodel",
    "plan_stacks": "costmodel",
}

__all__ = ["CostModel", "FusedPolicy", "FusedResult", "FusionError", "ProbeTiming",
           "StackedModel", "StackedOptimizer", "align", "align_key", "bucket_key",
           "check_compatible", "check_fusable", "fused_step", "fusion_key", "padded_macs",
           "padded_shapes", "plan_stacks", "probe_steps", "split_by_padding", "stack_key",
           "train_fused"]

if TYPE_CHECKING:
    from nasforge.evaluator.fused.align import align, align_key
    from nasforge.evaluator.fused.buckets import fusion_key, padded_macs, split_by_padding
    from nasforge.evaluator.fused.costmodel import CostModel, plan_stacks
    from nasforge.evaluator.fused.optimizer import StackedOptimizer
    from nasforge.evaluator.fused.policy import FusedPolicy, ProbeTiming, bucket_key, probe_steps
    from nasforge.evaluator.fused.stack import (
        FusionError,
        StackedModel,
        check_fusable,
        padded_shapes,
        stack_key,
    )
    from nasforge.evaluator.fused.train import (
        FusedResult,
        check_compatible,
        fused_step,
        train_fused,
    )


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
