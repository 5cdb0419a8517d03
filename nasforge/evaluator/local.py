"""LocalEvaluator: train and measure candidates one after another on one device.

Per architecture: seed = candidate_seed(search seed, arch_id) (the same wherever the arch sits
in a batch) -> TrainingParams.from_arch -> plan_for -> build (seeded init) -> train -> measure
-> EvalResult. A candidate that diverges, runs out of memory, is invalid or raises becomes a
FAILED result with a one-line reason; the batch goes on. KeyboardInterrupt always propagates.

Metrics: `nasforge.metrics.trained_metrics` names them and `nasforge.metrics.DESCRIPTIONS`
says what each means (a public API; names are stable). Latency and throughput are measured
with `measure.time_forwards` (the two batch sizes interleaved).

Fused training (`fused`): `evaluate` groups the candidates whose plans stack
(`fused.fusion_key`: same anchors (`fused.align`), batch size, epochs, optimizer and schedule;
depth, widths, norm kinds, activations and dropout rates of flat layers may differ) and trains
a stack of two or more as one stacked model (`fused.train_fused`); the rest (stacks of one;
learned-step quantized, residual, cell or learnable-activation plans) train one by one.
"auto" asks a `FusedPolicy` (a per-machine cost model, and a probe where it predicts a small
gain) to cut each group into stacks and decide each; True fuses every group, split where
padding wastes compute; False never fuses. A fused candidate's metrics are measured on its
own extracted model; ``train_seconds`` (``train_cpu_seconds``) is its share (1/M) of the
bucket's time, and on CUDA ``peak_memory_mb`` the bucket's peak. Results agree with
sequential training to float rounding (rtol 1e-4, atol 1e-5). If the fused run raises, the
bucket is retried sequentially.

Checkpoints (`checkpoint_dir`): each COMPLETE candidate's trained state_dict is saved
atomically as ``<checkpoint_dir>/<arch_id>.pt``, its path reported as `EvalResult.checkpoint`
(one that cannot be written is logged and left out; the result stays COMPLETE).

Early stopping (`evaluate(archs, stop=rule)`, a `curves.rule.StopRule`): after each epoch,
fused or alone, a candidate asks the rule's watcher (its plan's costs, its own seed); one it
stops is PRUNED with its curve so far, its metrics then and the prediction
(`predicted_<objective>`, `p_improve`); no latency, test metrics or checkpoint.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch

from nasforge.curves.rule import EpochHook, StopRule
from nasforge.errors import ConfigError, NasforgeError
from nasforge.evaluator import measure
from nasforge.evaluator.checkpoint_writer import save_checkpoint
from nasforge.evaluator.fused import (
    FusedPolicy,
    FusedResult,
    split_by_padding,
    train_fused,
)
from nasforge.evaluator.fused.buckets import read_candidate
from nasforge.evaluator.seeding import candidate_seed, seeded
from nasforge.evaluator.threads import candidate_torch_threads
from nasforge.evaluator.train import (
    Diverged,
    TrainData,
    TrainingParams,
    TrainOutcome,
    train_candidate,
)
from nasforge.metrics import (
    ACCURACY,
    BOPS,
    EPOCHS,
    LATENCY_MS,
    LATENCY_MS_P90,
    LOSS,
    MACS,
    PARAMS,
    PEAK_MEMORY_MB,
    SIZE_BITS,
    TEST_ACCURACY,
    TEST_LOSS,
    THROUGHPUT,
    TRAIN_CPU_SECONDS,
    TRAIN_LOSS,
    TRAIN_SECONDS,
    trained_metrics,
)
from nasforge.records import EvalResult, TrialState
from nasforge.searchspace.architecture import Architecture
from nasforge.searchspace.build import build_from_plan
from nasforge.searchspace.families import plan_for
from nasforge.searchspace.plan import DataSpec, NetworkPlan

logger = logging.getLogger(__name__)
_MAX_REASON = 500


class EvalData(TrainData, Protocol):
    """Preloaded tensors plus the spec they fit, e.g. `evaluator.data.tensors.DeviceData`."""

    @property
    def spec(self) -> DataSpec: ...


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A candidate ready for training: its index in the batch, seed, params and plan."""

    index: int
    arch: Architecture
    seed: int
    params: TrainingParams
    plan: NetworkPlan


class LocalEvaluator:
    """Evaluates architectures on the device that holds `data`, fusing stackable buckets (an
    `evaluator.protocol.Evaluator`).

    `fused`: "auto" (a `FusedPolicy`: cost model and probes decide), True (always fuse
    compatible buckets), False (never), or a `FusedPolicy` to use (e.g. with an injected
    probe or cost model). Stored as given; validated and resolved on the first `evaluate`.
    `checkpoint_dir`: where to save each COMPLETE candidate's state_dict (None: nowhere).
    `proxies`: zero-cost proxies each candidate reports as ``zc_<name>`` metrics (and
    ``zc_seconds``), computed on the candidate built alone (`nasforge.proxies.candidate`).
    """

    def __init__(
        self,
        data: EvalData,
        *,
        seed: int,
        latency_batch: int = 1,
        throughput_batch: int = 256,
        measure_latency: bool = True,
        fused: bool | str | FusedPolicy = "auto",
        precision: str = "fp32",
        compile: bool = False,
        checkpoint_dir: Path | None = None,
        threads: int | str = "auto",
        proxies: Sequence[str] = (),
    ) -> None:
        self.data = data
        self.seed = seed
        self.latency_batch = latency_batch
        self.throughput_batch = throughput_batch
        self.measure_latency = measure_latency
        self.fused = fused
        self.precision = precision
        self.compile = compile
        self.checkpoint_dir = checkpoint_dir
        self.threads = threads  # a sequential candidate's torch threads (evaluator.threads)
        self.proxies = tuple(proxies)  # zero-cost proxies reported as zc_<name> metrics
        self._policy: FusedPolicy | None = None

    stops_early = True  # evaluate takes `stop` (protocol.evaluate_batch)

    def evaluate(self, archs: Sequence[Architecture], stop: StopRule | None = None
                 ) -> list[EvalResult]:
        """One result per architecture, in order; failures are FAILED results, not raises;
        candidates `stop` stops are PRUNED results."""
        mode = self._fused_mode()
        results: list[EvalResult | None] = [None] * len(archs)
        if mode is not False and len(archs) > 1:
            for bucket, fuse in self._stacks(archs, mode):
                if len(bucket) > 1 and fuse:
                    for item, result in zip(bucket, self._evaluate_fused(bucket, stop),
                                            strict=True):
                        results[item.index] = result
        return [result if result is not None else self._evaluate_one(arch, stop)
                for arch, result in zip(archs, results, strict=True)]

    def _fused_mode(self) -> bool | FusedPolicy:
        if isinstance(self.fused, FusedPolicy):
            return self.fused
        if self.fused is True or self.fused is False:
            return self.fused
        if self.fused == "auto":
            if self._policy is None:
                self._policy = FusedPolicy()
            return self._policy
        raise ConfigError(f"fused={self.fused!r} is invalid; choose 'auto', True, False or a "
                          "FusedPolicy.")

    def _stacks(self, archs: Sequence[Architecture], mode: bool | FusedPolicy
                ) -> list[tuple[list[_Prepared], bool]]:
        """Stacks of candidates with their decision: with a policy, each fusion key's group
        cut and decided by it (`FusedPolicy.stacks`); with True, each group split by padding
        (`fused.split_by_padding`), all fused."""
        out: list[tuple[list[_Prepared], bool]] = []
        for group in self._groups(archs):
            if isinstance(mode, FusedPolicy):
                # decided (and the cost model calibrated) at the threads its members train with
                with candidate_torch_threads(max(c.plan.macs for c in group),
                                             group[0].params.batch_size, self.threads,
                                             self.data.x_train.device):
                    decided = mode.stacks([c.plan for c in group], self.data,
                                          [c.params for c in group], self.data.spec.task)
                out.extend((_by_activation([group[i] for i in members]), fuse)
                           for members, fuse in decided)
            else:
                out.extend((bucket, True)
                           for bucket in split_by_padding(group, lambda item: item.plan))
        return out

    def _groups(self, archs: Sequence[Architecture]) -> list[list[_Prepared]]:
        """Candidates that fused training accepts, grouped by what must match to stack
        (`fused.fusion_key`)."""
        groups: dict[tuple[object, ...], list[_Prepared]] = {}
        for index, arch in enumerate(archs):
            try:
                entry = read_candidate(arch, self.data.spec)
            except Exception:  # invalid: the sequential path reports it
                continue
            if entry.key is None:  # not fusable: trained alone
                continue
            seed = candidate_seed(self.seed, arch.arch_id)
            groups.setdefault(entry.key, []).append(
                _Prepared(index, arch, seed, entry.params, entry.plan))
        return list(groups.values())

    def _buckets(self, archs: Sequence[Architecture]) -> list[list[_Prepared]]:
        """The stacks this evaluator would consider (its mode's cut; decisions aside)."""
        mode = self._fused_mode()
        return [bucket for bucket, _ in self._stacks(archs, True if mode is False else mode)]

    def _evaluate_fused(self, bucket: list[_Prepared], stop: StopRule | None = None
                        ) -> list[EvalResult | None]:
        """Fused results in bucket order; None (train sequentially) if the fused run raised."""
        device = self.data.x_train.device
        plans, params = [c.plan for c in bucket], [c.params for c in bucket]
        try:
            measure.reset_peak_memory(device)
            cpu = time.process_time()
            with candidate_torch_threads(sum(p.macs for p in plans), params[0].batch_size,
                                         self.threads, device):
                trained = train_fused(plans, self.data, params,
                                      seeds=[c.seed for c in bucket],
                                      task=self.data.spec.task, precision=self.precision,
                                      stops=[_watcher(stop, c.params.epochs, c.plan, c.seed)
                                             for c in bucket])
        except Exception:
            logger.warning("Fused training of %d candidates failed; training them one by one",
                           len(bucket), exc_info=True)
            if device.type == "cuda":
                torch.cuda.empty_cache()
            return [None] * len(bucket)
        cpu = (time.process_time() - cpu) / len(bucket)
        peak = measure.peak_memory_mb(device)
        return [self._guarded(c.arch, functools.partial(self._fused_result, c, r, peak, cpu))
                for c, r in zip(bucket, trained, strict=True)]

    def _fused_result(self, item: _Prepared, result: FusedResult, peak: float | None,
                      cpu_seconds: float) -> EvalResult:
        if result.error is not None:
            raise result.error
        assert result.outcome is not None
        with candidate_torch_threads(item.plan.macs, item.params.batch_size, self.threads,
                                     self.data.x_train.device):  # timed as when alone
            return self._result(item.arch, item.plan, result.model, result.outcome, peak,
                                cpu_seconds)

    def _evaluate_one(self, arch: Architecture, stop: StopRule | None = None) -> EvalResult:
        device = self.data.x_train.device
        seed = candidate_seed(self.seed, arch.arch_id)
        return self._guarded(arch, lambda: self._run(arch, seed, device, stop))

    def _guarded(self, arch: Architecture, run: Callable[[], EvalResult]) -> EvalResult:
        """`run()`, or a FAILED result with a one-line reason for what it raised."""
        device = self.data.x_train.device
        out_of_memory = False
        try:
            return run()
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

    def _run(self, arch: Architecture, seed: int, device: torch.device,
             stop: StopRule | None = None) -> EvalResult:
        spec = self.data.spec
        params = TrainingParams.from_arch(arch)
        plan = plan_for(arch, spec)
        with candidate_torch_threads(plan.macs, params.batch_size, self.threads, device):
            with seeded(seed, device):
                model = build_from_plan(plan).to(device)
            measure.reset_peak_memory(device)
            cpu = time.process_time()
            outcome = train_candidate(model, self.data, params, seed=seed, task=spec.task,
                                      precision=self.precision, compile=self.compile,
                                      stop=_watcher(stop, params.epochs, plan, seed))
            cpu = time.process_time() - cpu
            return self._result(arch, plan, model, outcome, measure.peak_memory_mb(device),
                                cpu)

    def _result(self, arch: Architecture, plan: NetworkPlan, model: torch.nn.Module,
                outcome: TrainOutcome, peak: float | None, cpu_seconds: float) -> EvalResult:
        """Metrics of a trained candidate, measured on its own model."""
        device = self.data.x_train.device
        params = measure.count_params(model)
        metrics: dict[str, float] = {
            LOSS: outcome.val_loss,
            TRAIN_LOSS: outcome.train_loss,
            PARAMS: params,
            SIZE_BITS: plan.size_bits_for(params),
            MACS: plan.macs,
            BOPS: plan.bops,
            TRAIN_SECONDS: outcome.seconds,
            TRAIN_CPU_SECONDS: cpu_seconds,
            EPOCHS: outcome.epochs,
        }
        optional = {
            ACCURACY: outcome.val_accuracy,
            TEST_LOSS: outcome.test_loss,
            TEST_ACCURACY: outcome.test_accuracy,
            PEAK_MEMORY_MB: peak,
        }
        metrics.update({k: v for k, v in optional.items() if v is not None})
        metrics.update(self._proxy_metrics(arch, plan))
        if outcome.stopped is not None:
            metrics.update(outcome.stopped)
            logger.debug("Candidate %s stopped early: %s", arch.arch_id, metrics)
            return EvalResult(TrialState.PRUNED, metrics, outcome.curve)
        if self.measure_latency:
            latency, batch = measure.time_forwards(
                model, plan.input_shape, device, [self.latency_batch, self.throughput_batch])
            metrics[LATENCY_MS] = latency.best_ms
            metrics[LATENCY_MS_P90] = latency.p90_ms
            metrics[THROUGHPUT] = self.throughput_batch / (batch.best_ms / 1e3)
        logger.debug("Candidate %s: %s", arch.arch_id, metrics)
        return EvalResult(TrialState.COMPLETE, metrics, outcome.curve,
                          checkpoint=self._checkpoint(arch, model))

    def _proxy_metrics(self, arch: Architecture, plan: NetworkPlan) -> dict[str, float]:
        """``zc_<name>`` of `proxies`, on the candidate built alone (fused and alone agree)."""
        if not self.proxies:
            return {}
        from nasforge.proxies.candidate import candidate_proxies
        return candidate_proxies(plan, candidate_seed(self.seed, arch.arch_id),
                                 self.data.x_train, self.data.y_train, self.data.spec.task,
                                 self.proxies)

    def _checkpoint(self, arch: Architecture, model: torch.nn.Module) -> str | None:
        if self.checkpoint_dir is None:
            return None
        try:
            return str(save_checkpoint(Path(self.checkpoint_dir), arch.arch_id, model))
        except (OSError, ValueError) as err:
            logger.warning("Candidate %s: checkpoint not saved in %s: %s", arch.arch_id,
                           self.checkpoint_dir, err)
            return None


def _watcher(stop: StopRule | None, epochs: int, plan: NetworkPlan, seed: int
             ) -> EpochHook | None:
    return None if stop is None else stop.plan_watcher(epochs, plan, seed)


def _by_activation(stack: list[_Prepared]) -> list[_Prepared]:
    """The stack ordered by its models' activation kinds, deeper plans first within a kind
    (stable): each kind's models side by side and, at a slot that shallower models skip, its
    users before its skippers, so a stacked activation applies to a few views (results do not
    depend on the order)."""
    return sorted(stack, key=lambda item: (str(item.arch.get("activation", "")),
                                           -len(item.plan.ops)))


def metric_names(task: str, *, measure_latency: bool = True,
                 device: torch.device | None = None, proxies: Sequence[str] = ()
                 ) -> tuple[str, ...]:
    """The metrics `LocalEvaluator` reports for a task on `device` (with ``zc_<name>`` for
    each of `proxies`): what objectives may name (`metrics.trained_metrics`)."""
    from nasforge.proxies.candidate import proxy_metric_names

    return trained_metrics(task, measure_latency=measure_latency,
                           cuda=device is not None and device.type == "cuda"
                           ) + proxy_metric_names(proxies)


def _is_out_of_memory(err: BaseException) -> bool:
    return isinstance(err, torch.cuda.OutOfMemoryError) or (
        isinstance(err, RuntimeError) and "out of memory" in str(err)
    )


def _one_line(text: str) -> str:
    line = next((part.strip() for part in text.splitlines() if part.strip()), text.strip())
    return line if len(line) <= _MAX_REASON else line[: _MAX_REASON - 3] + "..."
