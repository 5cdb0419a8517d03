"""Fitting the fused cost model (`costmodel.CostModel`) once per machine, cached on disk.

Lifecycle: `cached_model(device, directory)` -> the file for this machine's facts
(`machine_facts`: CPU model or GPU name, core count, torch version, torch threads, device
type; a different machine or thread count has another file) -> its model, or, when the file
is missing or unreadable (a corrupt file is logged and replaced), `calibrate` (a few timed
training steps of synthetic MLPs alone and stacked, about three seconds on an idle 2-core CPU) ->
written atomically, with the share of its wall time it ran (`cpu_share`; at one thread, below
`QUIET_SHARE` a warning says the machine was busy and how to calibrate again) -> returned.

The folder: `cache_dir(environ)`: ``$NASFORGE_CACHE_DIR``, else ``$XDG_CACHE_HOME/nasforge``,
else ``~/.cache/nasforge`` (the caller passes the environment: tests pass their own).
Calibration trains throw-away models on synthetic data under a fixed seed inside `seeded`
(torch's RNG state is restored): it never touches a candidate.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import platform
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from nasforge.evaluator.fused.align import align, stack_order
from nasforge.evaluator.fused.costmodel import CostModel, alone_features, fit, fused_features
from nasforge.evaluator.fused.steppers import alone_stepper, stack_stepper
from nasforge.evaluator.seeding import seeded
from nasforge.evaluator.train import TrainingParams
from nasforge.searchspace.plan import NetworkPlan, PlanBuilder

__all__ = ["cache_dir", "cached_model", "calibrate", "cpu_share", "interleaved",
           "machine_facts"]

logger = logging.getLogger(__name__)

VERSION = 7  # raised whenever the fused step or the calibration changes (caches are redone)
#: A one-thread calibration that ran less of its wall time than this shared its core with
#: other work (a package install on the other core gave a model that fused losing stacks,
#: `interleaved`): it is cached, with a warning that says how to redo it.
QUIET_SHARE = 0.8
FEATURES, CLASSES, BATCH = 64, 10, 64
PROBE = TrainingParams(lr=1e-3, weight_decay=1e-4)  # every probe's optimizer (AdamW)
Timer = Callable[[], float]


def cache_dir(environ: Mapping[str, str]) -> Path:
    """Where nasforge caches per-machine facts (see the module docstring)."""
    if environ.get("NASFORGE_CACHE_DIR"):
        return Path(environ["NASFORGE_CACHE_DIR"])
    if environ.get("XDG_CACHE_HOME"):
        return Path(environ["XDG_CACHE_HOME"]) / "nasforge"
    return Path.home() / ".cache" / "nasforge"


def machine_facts(device: torch.device) -> dict[str, object]:
    """What a step's timing depends on besides the models: the processor, cores, torch and
    its threads, the device."""
    facts: dict[str, object] = {"version": VERSION, "device": device.type,
                                "cores": os.cpu_count(), "torch": torch.__version__,
                                "threads": torch.get_num_threads(), "cpu": _cpu_model()}
    if device.type == "cuda":
        facts["gpu"] = torch.cuda.get_device_name(device)
    return facts


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cached_model(device: torch.device, directory: Path, *,
                 calibrate_fn: Callable[[torch.device], CostModel] | None = None) -> CostModel:
    """This machine's model from `directory`, calibrated (`calibrate_fn`, default
    `calibrate`) and saved when missing or unreadable."""
    facts = machine_facts(device)
    digest = hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:16]
    path = directory / f"fused-cost-{digest}.json"
    if path.exists():
        try:
            stored = json.loads(path.read_text())
            if stored.get("facts") != facts:
                raise ValueError("the facts stored differ from this machine's")
            return CostModel.from_dict(stored.get("model"))
        except (OSError, ValueError, AttributeError) as err:
            logger.warning("Fused cost model %s is unreadable (%s); calibrating again", path,
                           err)
    wall, cpu = time.perf_counter(), time.thread_time()
    model = (calibrate_fn or calibrate)(device)
    share = cpu_share(time.perf_counter() - wall, time.thread_time() - cpu)
    if device.type == "cpu" and torch.get_num_threads() == 1 and share < QUIET_SHARE:
        logger.warning("The fused cost model was calibrated while other work shared the "
                       "cores (this process ran %.0f%% of the time); its fusion decisions "
                       "may be off. Delete %s to calibrate again on a quiet machine.",
                       100 * share, path)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        scratch = path.with_suffix(f".{os.getpid()}.tmp")
        scratch.write_text(json.dumps({"facts": facts, "model": model.as_dict(),
                                       "cpu_share": round(share, 3)}, indent=1))
        os.replace(scratch, path)
    except OSError as err:  # an unwritable cache costs a calibration per process, no more
        logger.warning("Fused cost model not cached in %s: %s", directory, err)
    return model


def cpu_share(wall: float, cpu: float) -> float:
    """The share of `wall` seconds that a one-thread calibration ran on a core (`cpu`: its
    thread's CPU seconds); 1.0 for a run too short to judge (under 50 ms)."""
    return 1.0 if wall < 0.05 else min(1.0, cpu / wall)


def _mlp(width: int, depth: int, norm: str = "none", activation: str = "relu",
         dropout: float = 0.0) -> NetworkPlan:
    plan = PlanBuilder("mlp", (FEATURES,))
    for _ in range(depth):
        plan.linear(width, bias=norm == "none").norm_activation(norm, activation)
        plan.dropout(dropout)
    return plan.linear(CLASSES).build()


def _mixed(count: int, widths: Sequence[int]) -> list[NetworkPlan]:
    norms, acts, rates = ("none", "batch", "layer"), ("relu", "gelu", "tanh", "silu"), (
        0.0, 0.1, 0.2)
    plans = [(acts[i % 4], _mlp(widths[i % len(widths)], 1 + i % 3, norms[(i // 3) % 3],
                                acts[i % 4], rates[(i // 2) % 3])) for i in range(count)]
    return [plan for _, plan in sorted(plans, key=lambda pair: pair[0])]  # as LocalEvaluator


def probes() -> tuple[list[NetworkPlan], list[list[NetworkPlan]]]:
    """The calibration's models alone and its stacks: widths 16 to 512 at depths 1 to 3 with
    mixed norms, activations and dropout alone; stacks of 4 to 16 of one width at each width
    a search's rounds hold (narrow stacks pay for fusion on a CPU, wide ones do not: the fit
    must see both) and of mixed widths, as a planner joins narrow candidates."""
    norms, acts = ("none", "batch", "layer"), ("relu", "gelu", "tanh", "silu")
    sizes = [(width, depth) for width in (16, 32, 64, 128, 256, 512) for depth in (1, 2, 3)]
    alone = [_mlp(width, depth, norms[(i // 3 + depth) % 3], acts[i % 4], (0.0, 0.1)[i // 2 % 2])
             for i, (width, depth) in enumerate(sizes)]
    fused = [*(_mixed(count, (width,)) for width in (16, 64, 128, 256) for count in (4, 16)),
             [_mlp(32, 2)] * 8, _mixed(8, (16, 256)), _mixed(16, (16, 32, 64)),
             _mixed(6, (128,))]
    return alone, fused


def calibrate(device: torch.device, *, timer: Timer = time.perf_counter) -> CostModel:
    """Time the `probes` on synthetic data (`interleaved`: every probe warmed up, then best
    of three rounds of four steps each, a round timing every probe in turn) and `fit` the
    model."""
    alone_plans, stacks = probes()
    stacks = [[s[i] for i in stack_order(s)] for s in stacks]  # as train_fused stacks them
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4 * BATCH, FEATURES, generator=g).to(device)
    y = torch.randint(0, CLASSES, (4 * BATCH,), generator=g).to(device)
    idx = torch.arange(BATCH, device=device)
    with seeded(0, device):
        steps = [*(functools.partial(alone_stepper(p, PROBE, x, y, idx, F.cross_entropy), 1)
                   for p in alone_plans),
                 *(functools.partial(stack_stepper(s, [PROBE] * len(s), x, y, idx, True), 1)
                   for s in stacks)]
        times = interleaved(steps, device, timer)
    alone_rows = [(alone_features(p, BATCH), t)
                  for p, t in zip(alone_plans, times[:len(alone_plans)], strict=True)]
    fused_rows = [(fused_features(align(s), BATCH), t)
                  for s, t in zip(stacks, times[len(alone_plans):], strict=True)]
    model = fit(alone_rows, fused_rows)
    logger.info("Fused cost model calibrated: %s", model.as_dict())
    return model


def interleaved(steps: Sequence[Callable[[], None]], device: torch.device, timer: Timer, *,
                count: int = 4, rounds: int = 3) -> list[float]:
    """Seconds per call of each of `steps`: one warm-up call each, then `rounds` rounds, each
    timing `count` calls of every step in turn; each step's best round.

    Why rounds over all the probes, not each probe's rounds back to back: a burst of other
    work on the machine shorter than a round then slows one round of a probe, not all of
    them, and the probes alone and stacked (whose ratio decides fusion) are timed under the
    same conditions (load that lasts the whole calibration still slows it all). A
    model is cached for good (`cached_model`): one fitted while other work ran on a 2-core
    machine (each probe's rounds back to back) costed an op 38% more than a quiet fit, and
    the policy then stacked wide candidates that trained 6-32% slower than alone."""
    for step in steps:
        step()
    best = [float("inf")] * len(steps)
    for _ in range(rounds):
        for k, step in enumerate(steps):
            _sync(device)
            start = timer()
            for _ in range(count):
                step()
            _sync(device)
            best[k] = min(best[k], (timer() - start) / count)
    return best


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
