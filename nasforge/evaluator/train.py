"""The training loop for one candidate, on tensors already on the device.

Lifecycle of one call: seed -> (optimizer, schedule) -> epochs of [shuffle, steps, one host
read of train and validation metrics, divergence check, early-stopping hook] -> test metrics
-> `TrainOutcome` (a trial the hook stopped skips the rest, test metrics included).

Batches are index slices of the preloaded tensors with a permutation drawn from a
`torch.Generator` seeded with `seed` (the same batch order on every device); no DataLoader,
no per-sample work. The last partial batch is kept, except that a lone final sample joins the
batch before it (batch norm cannot train on one sample). The step loop never reads a value
back to the host: per-step losses stay on the device and are reduced once per epoch.
Training batches of data that carries augmentations (`DeviceData.augment`) pass through the
candidate's own `augment.Augmenter` (seeded from `seed`, apart from the permutation) on the
device; evaluation batches never do. Augmented training runs without CUDA graphs.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import numbers
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn

from nasforge.curves.rule import EpochHook
from nasforge.errors import ConfigError, DataError, NasforgeError, SpaceError
from nasforge.evaluator.augment import AugmentedInput, augmenters_for
from nasforge.evaluator.fused.graphed import (
    Amp,
    GraphedSteps,
    make_graph_optimizer,
    train_step,
    use_graphs,
)
from nasforge.evaluator.kernel_optimizer import FUSED_DEVICES, MOMENTUM, KernelOptimizer, Optimizer
from nasforge.evaluator.layout import eval_batch, nhwc_inputs, use_channels_last
from nasforge.evaluator.precision import autocast, resolve_precision, tf32
from nasforge.evaluator.seeding import seeded
from nasforge.metrics import TRAIN_LOSS, VAL_ACCURACY, VAL_LOSS
from nasforge.records import CurvePoint
from nasforge.searchspace.assemble import OPTIMIZERS, SCHEDULES

logger = logging.getLogger(__name__)

TASKS = ("classification", "regression")
LossFn = Callable[..., torch.Tensor]


class Diverged(NasforgeError):
    """Training produced a non-finite loss; the candidate is a failure, not a crash."""

    def __init__(self, epoch: int, loss: float, split: str = "train") -> None:
        super().__init__(
            f"training diverged at epoch {epoch} ({split} loss {loss}); "
            "lower the learning rate or add normalization"
        )
        self.epoch, self.loss, self.split = epoch, loss, split

    def __reduce__(self) -> tuple[type[Diverged], tuple[int, float, str]]:
        return (type(self), (self.epoch, self.loss, self.split))  # picklable across processes


class TrainData(Protocol):
    """Preloaded tensors on one device (e.g. `nasforge.evaluator.data.tensors.DeviceData`).

    x_*: (N, *input_shape) float; y_*: (N,) int64 class indices for classification,
    (N,) or (N, num_outputs) float targets for regression.
    """

    @property
    def x_train(self) -> torch.Tensor: ...
    @property
    def y_train(self) -> torch.Tensor: ...
    @property
    def x_val(self) -> torch.Tensor: ...
    @property
    def y_val(self) -> torch.Tensor: ...
    @property
    def x_test(self) -> torch.Tensor: ...
    @property
    def y_test(self) -> torch.Tensor: ...


@dataclass(frozen=True, slots=True)
class TrainingParams:
    """How one candidate is trained. `optimizer`: "sgd" (momentum 0.9, Nesterov), "adam" or
    "adamw"; `schedule`: "cosine" (per step, from `lr` to 0) or "constant"."""

    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 64
    epochs: int = 10
    optimizer: str = "adamw"
    schedule: str = "cosine"

    def __post_init__(self) -> None:
        object.__setattr__(self, "lr", _real("lr", self.lr, positive=True))
        object.__setattr__(self, "weight_decay", _real("weight_decay", self.weight_decay))
        object.__setattr__(self, "batch_size", _count("batch_size", self.batch_size))
        object.__setattr__(self, "epochs", _count("epochs", self.epochs))
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_choice("schedule", self.schedule, SCHEDULES)

    @classmethod
    def from_arch(cls, arch: Mapping[str, object]) -> TrainingParams:
        """Read the keys lr, weight_decay, batch_size, epochs, optimizer, schedule (absent
        keys take the defaults); an invalid value raises `SpaceError` naming the key."""
        keys = ("lr", "weight_decay", "batch_size", "epochs", "optimizer", "schedule")
        values = {key: arch[key] for key in keys if key in arch}
        try:
            return cls(**values)  # type: ignore[arg-type]  # __post_init__ checks each value
        except ConfigError as err:
            raise SpaceError(f"Architecture value {err}") from None


def _number(value: object) -> float | None:
    """`value` as a float when it is a real number (not a bool), else None."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    return None


def _real(name: str, value: object, *, positive: bool = False) -> float:
    number = _number(value)
    if number is not None and math.isfinite(number) and (
            number > 0 if positive else number >= 0):
        return number
    need = "a positive" if positive else "a non-negative"
    raise ConfigError(f"{name!r}={value!r} is invalid; it must be {need} finite number.")


def _count(name: str, value: object) -> int:
    number = _number(value)
    if number is not None and math.isfinite(number) and number.is_integer() and number >= 1:
        return int(value) if isinstance(value, numbers.Integral) else int(number)
    raise ConfigError(f"{name!r}={value!r} is invalid; it must be a positive integer.")


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise ConfigError(f"{name!r}={value!r} is invalid; choose one of {allowed}.")


@dataclass(frozen=True, slots=True)
class TrainOutcome:
    """The learning curve (one point per epoch, epochs counted from 1, with train_loss,
    val_loss and, for classification, val_accuracy) and the final metrics. Accuracies are
    None for regression; test metrics are None when the test split is empty."""

    curve: tuple[CurvePoint, ...]
    train_loss: float
    val_loss: float
    val_accuracy: float | None
    test_loss: float | None
    test_accuracy: float | None
    seconds: float
    epochs: int
    stopped: Mapping[str, float] | None = None  # the stop hook's metrics, when it stopped


def train_candidate(
    model: nn.Module, data: TrainData, params: TrainingParams, *, seed: int, task: str,
    precision: str = "fp32", graphs: bool | str = "auto", channels_last: bool | str = "auto",
    compile: bool = False, stop: EpochHook | None = None,
) -> TrainOutcome:
    """Train `model` in place on `data` and evaluate it; torch's global RNG state is unchanged.

    `stop` (e.g. `nasforge.curves.rule.StopRule.watcher`) is called with the curve after each
    epoch; when it returns metrics, training ends there: the outcome has `stopped` set,
    `epochs` the epochs trained and no test metrics.

    The same seed on the same device gives the same curve (bit-identical on CPU). Raises
    `Diverged` when an epoch's train or validation loss is not finite. The model is moved to
    the data's device and left there, trained, in eval mode.

    Fast-path switches (the defaults keep the plain loop on CPU): `precision` ("auto", "fp32",
    "tf32", "bf16"; see `nasforge.evaluator.precision`); `graphs` (full batches replay a
    captured CUDA graph, `nasforge.evaluator.fused.graphed`; "auto": on CUDA for runs of at least
    GRAPH_MIN_STEPS full batches; True off CUDA runs the same static-buffer step eagerly);
    `channels_last` (the model trains in channels_last memory format, and on CUDA its 4-D
    inputs too; "auto": for models with 2-D convolutions, on CUDA and on the CPU; the model is
    handed back contiguous); `compile` (`torch.compile` the model, default mode).
    """
    check_choice("task", task, TASKS)
    classification = task == "classification"
    x, y = data.x_train, checked_targets(data.y_train, classification, "train")
    x_val, y_val = data.x_val, checked_targets(data.y_val, classification, "validation")
    if len(x) == 0 or len(x_val) == 0:
        raise DataError("Training needs non-empty train and validation splits.")
    device = x.device
    mode = resolve_precision(precision, device)
    loss_fn: LossFn = F.cross_entropy if classification else F.mse_loss
    starts = batch_starts(len(x), params.batch_size)
    ends = [*starts[1:], len(x)]
    counts = [end - start for start, end in zip(starts, ends, strict=True)]
    sizes = torch.tensor(counts, dtype=torch.float32, device=device)
    lrs = lr_table(params, len(starts) * params.epochs)
    augmenters = augmenters_for(data, [seed])  # a CUDA graph would replay one draw: no graphs
    graphed = augmenters is None and use_graphs(graphs, device,
                                                counts.count(params.batch_size) * params.epochs)
    layout = use_channels_last(channels_last, model, x)
    x_test = data.x_test
    if nhwc_inputs(layout, x):
        x, x_val, x_test = (t.contiguous(memory_format=torch.channels_last)
                            for t in (x, x_val, x_test))
    begin = time.perf_counter()
    curve: list[CurvePoint] = []
    with seeded(seed, device), tf32(device, mode):
        model.to(device)
        if layout:
            nhwc = torch.channels_last
            model.to(memory_format=nhwc)  # type: ignore[call-overload]  # stubs omit memory_format
        net = _compiled(model) if compile else model
        amp = functools.partial(autocast, device, mode)
        trained = net if augmenters is None else AugmentedInput(net, augmenters[0])
        run, set_lr = _stepper(trained, model, params, loss_fn, x, y, amp, graphed)
        order = torch.Generator().manual_seed(seed)
        step = 0
        stopped: Mapping[str, float] | None = None
        for epoch in range(1, params.epochs + 1):
            model.train()
            perm = torch.randperm(len(x), generator=order).to(device)
            losses = []
            for start, end in zip(starts, ends, strict=True):
                losses.append(run(perm[start:end]))
                if lrs:
                    step += 1
                    set_lr(lrs[step])
            with torch.inference_mode():
                train_sum = torch.dot(torch.stack(losses), sizes)
                val = _sums(net, x_val, y_val, loss_fn, classification, amp)
                values = torch.stack([train_sum, *val]).tolist()  # the epoch's one host read
            point = {TRAIN_LOSS: values[0] / len(x), VAL_LOSS: values[1] / y_val.numel()}
            if classification:
                point[VAL_ACCURACY] = values[2] / len(y_val)
            _check_finite(epoch, point)
            logger.debug("epoch %d: %s", epoch, point)
            curve.append(CurvePoint(epoch, point))
            stopped = stop(curve) if stop is not None else None
            if stopped is not None:
                logger.info("stopped after epoch %d of %d: %s", epoch, params.epochs, stopped)
                break
        test_loss, test_accuracy = (None, None) if stopped is not None else _test_metrics(
            net, x_test, data.y_test, loss_fn, classification, amp)
    if layout:  # handed back as a fused or exported model is: timing and checkpoints agree
        model.to(memory_format=torch.contiguous_format)  # type: ignore[call-overload]  # stubs omit memory_format
    last = curve[-1].metrics
    return TrainOutcome(
        curve=tuple(curve),
        train_loss=last[TRAIN_LOSS],
        val_loss=last[VAL_LOSS],
        val_accuracy=last.get(VAL_ACCURACY),
        test_loss=test_loss,
        test_accuracy=test_accuracy,
        seconds=time.perf_counter() - begin,
        epochs=len(curve),
        stopped=stopped,
    )


def _compiled(model: nn.Module) -> nn.Module:
    """`torch.compile(model)`: an `OptimizedModule` wrapping it (typed as a plain callable)."""
    compiled = torch.compile(model)
    if not isinstance(compiled, nn.Module):
        raise TypeError(f"torch.compile returned {type(compiled).__name__}, not a module")
    return compiled


def _stepper(net: nn.Module, model: nn.Module, params: TrainingParams, loss_fn: LossFn,
             x: torch.Tensor, y: torch.Tensor, amp: Amp, graphed: bool,
             ) -> tuple[Callable[[torch.Tensor], torch.Tensor], Callable[[float], None]]:
    """(run one step on a batch of indices, set the learning rate) for the chosen path."""
    device = x.device
    if graphed:
        optimizer = make_graph_optimizer(model, params.optimizer, params.lr,
                                         params.weight_decay, device)
        steps = GraphedSteps(net, optimizer, loss_fn, x, y, params.batch_size, amp,
                             capture=device.type == "cuda")
        return steps.step, steps.set_lr
    eager = make_optimizer(model, params, device)
    groups = eager.param_groups

    def set_lr(lr: float) -> None:
        for group in groups:
            group["lr"] = lr

    return (lambda idx: train_step(net, eager, loss_fn, x, y, idx, amp)), set_lr


def checked_targets(y: torch.Tensor, classification: bool, split: str) -> torch.Tensor:
    """(N,) int64 class indices, or (N, k) float32 regression targets."""
    if classification:
        if y.ndim != 1 or y.is_floating_point():
            raise DataError(
                f"Classification {split} targets must be (N,) integer class indices, "
                f"got shape {tuple(y.shape)} and dtype {y.dtype}."
            )
        return y.long()
    return y.float().reshape(len(y), -1)


def batch_starts(n: int, batch_size: int) -> list[int]:
    starts = list(range(0, n, batch_size))
    if len(starts) > 1 and n - starts[-1] == 1:
        starts.pop()  # a lone last sample joins the previous batch
    return starts


def lr_table(params: TrainingParams, steps: int) -> list[float]:
    """Learning rate after each step for the cosine schedule ([] for constant)."""
    if params.schedule == "constant":
        return []
    return [0.5 * params.lr * (1.0 + math.cos(math.pi * t / steps)) for t in range(steps + 1)]


def make_optimizer(model: nn.Module, params: TrainingParams, device: torch.device) -> Optimizer:
    """The optimizer: torch's fused kernel called directly (`KernelOptimizer`: torch.optim's
    ``fused=True`` update, without importing torch._dynamo) on CPU and CUDA, torch.optim's
    default implementation elsewhere."""
    weights, lr, decay = list(model.parameters()), params.lr, params.weight_decay
    if device.type in FUSED_DEVICES:
        return KernelOptimizer(params.optimizer, weights, lr=lr, weight_decay=decay)
    if params.optimizer == "sgd":
        return torch.optim.SGD(weights, lr=lr, momentum=MOMENTUM, nesterov=True,
                               weight_decay=decay)
    if params.optimizer == "adam":
        return torch.optim.Adam(weights, lr=lr, weight_decay=decay)
    return torch.optim.AdamW(weights, lr=lr, weight_decay=decay)


def _sums(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn, classification: bool,
    amp: Amp = contextlib.nullcontext,
) -> list[torch.Tensor]:
    """[summed loss, number correct (classification)] over a split, as device scalars; the
    forward runs under `amp`, the loss and the sums in float32."""
    model.eval()
    with torch.inference_mode():
        loss_sum = torch.zeros((), device=x.device)
        correct = torch.zeros((), device=x.device)
        step = eval_batch(x)
        for start in range(0, len(x), step):
            with amp():
                out = model(x[start : start + step])
            out = out.float()  # a no-op in fp32
            target = y[start : start + step]
            loss_sum += loss_fn(out, target, reduction="sum")
            if classification:
                correct += (out.argmax(dim=1) == target).sum()
    return [loss_sum, correct] if classification else [loss_sum]


def _check_finite(epoch: int, point: Mapping[str, float]) -> None:
    for split in ("train", "val"):
        loss = point[f"{split}_loss"]
        if not math.isfinite(loss):
            raise Diverged(epoch, loss, "train" if split == "train" else "validation")


def _test_metrics(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn, classification: bool,
    amp: Amp,
) -> tuple[float | None, float | None]:
    if len(x) == 0:
        return None, None
    y = checked_targets(y, classification, "test")
    with torch.inference_mode():
        values = torch.stack(_sums(model, x, y, loss_fn, classification, amp)).tolist()
    return values[0] / y.numel(), (values[1] / len(y) if classification else None)
