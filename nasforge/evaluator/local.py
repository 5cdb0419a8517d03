"""LocalEvaluator: train and measure candidates one after another on one device.

Per architecture: seed = candidate_seed(search seed, arch_id) (the same wherever the arch sits
in a batch) -> TrainingParams.from_arch -> plan_for -> build (seeded init) -> train -> measure
-> EvalResult. A candidate that diverges, runs out of memory, is invalid or raises becomes a
FAILED result with a one-line reason; the batch goes on. KeyboardInterrupt always propagates.

Metrics (a public API; names are stable): ``accuracy`` (final-epoch validation accuracy,
classification only), ``loss`` (final validation loss), ``test_accuracy`` (classification),
``test_loss``, ``train_loss`` (last epoch), ``params``, ``macs`` (per sample, from the plan),
``bops`` (bit operations per sample: MACs x weight bits x activation bits, from the plan),
``size_bits`` (weights at their bit width, other parameters at 32), ``latency_ms`` (median
forward time at ``latency_batch``) and ``throughput`` (samples per second at
``throughput_batch``) when measured, ``train_seconds``, ``epochs``; on CUDA also
``peak_memory_mb`` (peak allocated memory while training).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

import torch

from nasforge.errors import NasforgeError
from nasforge.evaluator import measure
from nasforge.evaluator.seeding import candidate_seed, seeded
from nasforge.evaluator.train import Diverged, TrainData, TrainingParams, train_candidate
from nasforge.records import EvalResult, TrialState
from nasforge.searchspace.architecture import Architecture
from nasforge.searchspace.build import build_from_plan
from nasforge.searchspace.families import plan_for
from nasforge.searchspace.plan import DataSpec

logger = logging.getLogger(__name__)

_MAX_REASON = 500


class EvalData(TrainData, Protocol):
    """Preloaded tensors plus the spec they fit, e.g. `nasforge.evaluator.tensors.DeviceData`."""

    @property
    def spec(self) -> DataSpec: ...


class LocalEvaluator:
    """Evaluates architectures sequentially on the device that holds `data`."""

    def __init__(
        self,
        data: EvalData,
        *,
        seed: int,
        latency_batch: int = 1,
        throughput_batch: int = 256,
        measure_latency: bool = True,
    ) -> None:
        self.data = data
        self.seed = seed
        self.latency_batch = latency_batch
        self.throughput_batch = throughput_batch
        self.measure_latency = measure_latency

    def evaluate(self, archs: Sequence[Architecture]) -> list[EvalResult]:
        """One result per architecture, in order; failures are FAILED results, not raises."""
        return [self._evaluate_one(arch) for arch in archs]

    def _evaluate_one(self, arch: Architecture) -> EvalResult:
        device = self.data.x_train.device
        out_of_memory = False
        try:
            return self._run(arch, candidate_seed(self.seed, arch.arch_id), device)
        except NasforgeError as err:  # Diverged, SpaceError, UnknownNameError, DataError, ...
            what = "diverged" if isinstance(err, Diverged) else "is invalid"
            logger.warning("Candidate %s %s: %s", arch.arch_id, what, err)
            reason = _one_line(str(err) or type(err).__name__)
        except Exception as err:
            out_of_memory = _is_out_of_memory(err)
            logger.warning("Candidate %s failed", arch.arch_id, exc_info=True)
            if out_of_memory:
                reason = (
                    f"out of memory on {device} (batch_size="
                    f"{arch.get('batch_size', 'default')}); lower batch_size or choose a "
                    "smaller architecture"
                )
            else:
                reason = _one_line(f"{type(err).__name__}: {err}")
        if out_of_memory and device.type == "cuda":
            torch.cuda.empty_cache()  # after the except block: the traceback's tensors are gone
        return EvalResult.failed(reason)

    def _run(self, arch: Architecture, seed: int, device: torch.device) -> EvalResult:
        spec = self.data.spec
        params = TrainingParams.from_arch(arch)
        plan = plan_for(arch, spec)
        with seeded(seed, device):
            model = build_from_plan(plan).to(device)
        measure.reset_peak_memory(device)
        outcome = train_candidate(model, self.data, params, seed=seed, task=spec.task)
        params = measure.count_params(model)
        metrics: dict[str, float] = {
            "loss": outcome.val_loss,
            "train_loss": outcome.train_loss,
            "params": params,
            "size_bits": plan.size_bits_for(params),
            "macs": plan.macs,
            "bops": plan.bops,
            "train_seconds": outcome.seconds,
            "epochs": outcome.epochs,
        }
        optional = {
            "accuracy": outcome.val_accuracy,
            "test_loss": outcome.test_loss,
            "test_accuracy": outcome.test_accuracy,
            "peak_memory_mb": measure.peak_memory_mb(device),
        }
        metrics.update({k: v for k, v in optional.items() if v is not None})
        if self.measure_latency:
            metrics["latency_ms"] = measure.measure_latency(
                model, plan.input_shape, device, batch_size=self.latency_batch
            )
            batch_ms = measure.measure_latency(
                model, plan.input_shape, device, batch_size=self.throughput_batch
            )
            metrics["throughput"] = self.throughput_batch / (batch_ms / 1e3)
        logger.debug("Candidate %s: %s", arch.arch_id, metrics)
        return EvalResult(TrialState.COMPLETE, metrics, outcome.curve)


def metric_names(task: str, *, measure_latency: bool = True,
                 device: torch.device | None = None) -> tuple[str, ...]:
    """The metrics `LocalEvaluator` reports for a task: what objectives may name."""
    names = ["loss", "test_loss", "train_loss", "params", "macs", "bops", "size_bits",
             "train_seconds", "epochs"]
    if task == "classification":
        names += ["accuracy", "test_accuracy"]
    if measure_latency:
        names += ["latency_ms", "throughput"]
    if device is not None and device.type == "cuda":
        names.append("peak_memory_mb")
    return tuple(names)


def _is_out_of_memory(err: BaseException) -> bool:
    return isinstance(err, torch.cuda.OutOfMemoryError) or (
        isinstance(err, RuntimeError) and "out of memory" in str(err)
    )


def _one_line(text: str) -> str:
    line = next((part.strip() for part in text.splitlines() if part.strip()), text.strip())
    return line if len(line) <= _MAX_REASON else line[: _MAX_REASON - 3] + "..."
