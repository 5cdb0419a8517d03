"""Inherited-weight evaluation: a subnet's validation metrics read off the trained supernet.

Per architecture: recalibrate its batch-norm statistics (`train.recalibrate_on`, forward passes
of the same training samples for every subnet), run the validation split through
`Supernet.forward` (one pass per subnet, metrics summed on the device, one host transfer),
and report ``inherited_accuracy`` (classification) and ``inherited_loss`` beside the cost
metrics of its plan (``params``, ``macs``, ``bops``, ``size_bits``: the same as standalone
training would report, since they depend on the architecture only). The ``inherited_``
prefix keeps weight-sharing estimates apart from standalone-trained ``accuracy`` / ``loss``
in the store, so a Pareto front over ``accuracy`` only ever holds standalone results.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from nasforge.errors import NasforgeError
from nasforge.evaluator import measure
from nasforge.evaluator.layout import eval_batch, nhwc_inputs, use_channels_last
from nasforge.evaluator.train import TrainData
from nasforge.records import EvalResult, TrialState
from nasforge.searchspace.architecture import Architecture
from nasforge.supernet.model import Supernet
from nasforge.supernet.train import recalibrate_on, recalibration_batch

logger = logging.getLogger(__name__)

#: Metric prefix of results measured with weights inherited from the supernet.
from nasforge.strategies.supernet import INHERITED  # noqa: E402,F401

#: Metrics measured on the subnet's weights (prefixed); the rest come from its plan.
MEASURED = ("accuracy", "loss")
COST_METRICS = ("params", "macs", "bops", "size_bits")


class SupernetEvaluator:
    """`evaluate(archs) -> list[EvalResult]` on the trained `net` (no training): milliseconds
    per subnet. `recalibration_batches` x `recalibration_batch` training samples (drawn once,
    generator seeded with `seed`: the same for every subnet) re-estimate each subnet's BN
    statistics (`train.recalibrate_on`)."""

    def __init__(self, net: Supernet, data: TrainData, *, task: str = "classification",
                 seed: int = 0, recalibration_batches: int = 4,
                 recalibration_batch: int = 256) -> None:
        self.net = net
        self.data = data
        self.task = task
        self.seed = seed
        self.recalibration_batches = recalibration_batches
        self.recalibration_batch = recalibration_batch
        self._recalibration: torch.Tensor | None = None
        self._cost_cache: dict[str, dict[str, float]] = {}

    def evaluate(self, archs: Sequence[Architecture]) -> list[EvalResult]:
        if self._recalibration is None or self._recalibration.device != self.data.x_train.device:
            self._recalibration = recalibration_batch(
                self.data.x_train, batches=self.recalibration_batches,
                batch_size=self.recalibration_batch,
                generator=torch.Generator().manual_seed(self.seed))
            if nhwc_inputs(use_channels_last("auto", self.net, self._recalibration),
                           self._recalibration):
                self._recalibration = self._recalibration.contiguous(
                    memory_format=torch.channels_last)
        self.net.eval()
        return [self._one(arch) for arch in archs]

    def _costs(self, arch: Architecture) -> dict[str, float]:
        """The plan's cost metrics, cached by arch_id (walking the plan costs ~0.1 ms)."""
        costs = self._cost_cache.get(arch.arch_id)
        if costs is None:
            plan = self.net.plan(arch)
            params = plan.params
            if params is None:  # a user-registered layer: count the extracted model
                params = measure.count_params(self.net.extract(arch))
            costs = self._cost_cache[arch.arch_id] = {
                "params": float(params), "macs": float(plan.macs), "bops": float(plan.bops),
                "size_bits": float(plan.size_bits_for(params))}
        return costs

    def _one(self, arch: Architecture) -> EvalResult:
        try:
            return self._measure(arch)
        except NasforgeError as err:
            logger.warning("Subnet %s is invalid: %s", arch.arch_id, err)
            return EvalResult.failed(str(err).splitlines()[0])

    @torch.no_grad()
    def _measure(self, arch: Architecture) -> EvalResult:
        start = time.perf_counter()
        net, data = self.net, self.data
        assert self._recalibration is not None
        recalibrate_on(net, arch, self._recalibration)
        n = len(data.y_val)
        nhwc = nhwc_inputs(use_channels_last("auto", net, data.x_val), data.x_val)
        sums = torch.zeros(2, device=data.x_val.device)  # loss, correct
        step = eval_batch(data.x_val)
        for begin in range(0, n, step):
            x, y = data.x_val[begin:begin + step], data.y_val[begin:begin + step]
            if nhwc:
                x = x.contiguous(memory_format=torch.channels_last)
            out = net(x, arch)
            if self.task == "classification":
                sums[0] += F.cross_entropy(out, y, reduction="sum")
                sums[1] += (out.argmax(1) == y).sum()
            else:
                sums[0] += F.mse_loss(out.reshape(y.shape), y, reduction="sum")
        loss_sum, correct = sums.tolist()
        metrics = {f"{INHERITED}loss": loss_sum / max(n, 1), **self._costs(arch),
                   f"{INHERITED}seconds": time.perf_counter() - start}
        if self.task == "classification":
            metrics[f"{INHERITED}accuracy"] = correct / max(n, 1)
        return EvalResult(TrialState.COMPLETE, metrics)
