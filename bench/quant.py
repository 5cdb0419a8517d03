"""Benchmark: the cost of quantization-aware training and of analytic cost metrics.

    python bench/quant.py [--repeats 9] [--steps 50] [--device cpu] [--threads N]

1. QAT step vs float step: the same MLP 64-256-256-10 (ReLU, batch norm; batch 64, AdamW,
   the evaluator's own training step) built float and at several bit widths (fixed and
   learned steps); each timed run is `--steps` training steps on digits tensors; runs are
   interleaved (the order alternates each repeat) after a warm-up. Reports medians and the
   ratio quantized / float per variant (target <= 2) for this MLP and for a small CNN
   (1x8x8 -> 2 conv stages of 16/32 channels).
2. Analytic costs: the time to plan an architecture and read MACs, BOPs, params and size
   from the plan, against the median time of one float training step of the same model
   (target <= 0.1 of a step).
3. A 2-bit MLP on digits: 2-bit weights and activations (8-bit first and last layer,
   learned steps), trained by the evaluator; reports its validation accuracy (target >= 0.90).
Prints one JSON object with the machine and versions.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from machine import torch_machine  # noqa: E402  (bench/machine.py)

from nasforge.evaluator.data import load_dataset  # noqa: E402
from nasforge.evaluator.data.tensors import DeviceData, to_device  # noqa: E402
from nasforge.evaluator.local import LocalEvaluator  # noqa: E402
from nasforge.evaluator.seeding import seeded  # noqa: E402
from nasforge.searchspace.architecture import Architecture  # noqa: E402
from nasforge.searchspace.build import build_from_plan  # noqa: E402
from nasforge.searchspace.families import plan_for  # noqa: E402
from nasforge.searchspace.plan import DataSpec  # noqa: E402

BATCH, SEED = 64, 0
VARIANTS = {  # name -> quantization values of the architecture
    "float": {},
    "w8a8": {"weight_bits": 8, "act_bits": 8},
    "w4a4": {"weight_bits": 4, "act_bits": 4},
    "w2a2": {"weight_bits": 2, "act_bits": 2},
    "w1a1": {"weight_bits": 1, "act_bits": 1},
    "w4a4_learned": {"weight_bits": 4, "act_bits": 4, "quant_step": "learned"},
    "bf16": {"weight_bits": 16, "act_bits": 16},
}
MODELS = {
    "mlp": {"family": "mlp", "mlp.depth": 2, "mlp.width": 256, "activation": "relu",
            "norm": "batch", "dropout": 0.0},
    "cnn": {"family": "cnn", "cnn.stages": 2, "cnn.channels.0": 16, "cnn.channels.1": 32,
            "cnn.convs_per_stage": 1, "cnn.kernel": 3, "cnn.pool": "max",
            "cnn.readout": "global_avg", "cnn.head_width": 0, "activation": "relu",
            "norm": "batch", "dropout": 0.0},
}


def step_runner(arch: Architecture, data: DeviceData, steps: int) -> Callable[[], None]:
    """`steps` AdamW training steps of `arch`'s model on index-sliced batches."""
    with seeded(SEED):
        model = build_from_plan(plan_for(arch, data.spec)).to(data.x_train.device).train()
    fused = data.x_train.device.type in ("cpu", "cuda")
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=fused)
    n = len(data.x_train)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(SEED))

    def run() -> None:
        for i in range(steps):
            index = order[(i * BATCH) % (n - BATCH):][:BATCH]
            loss = F.cross_entropy(model(data.x_train[index]), data.y_train[index])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if data.x_train.device.type == "cuda":
            torch.cuda.synchronize()

    return run


def time_interleaved(runs: dict[str, Callable[[], None]], repeats: int) -> dict[str, list[float]]:
    for run in runs.values():
        run()  # warm-up: lazy init, allocator, observers
    times: dict[str, list[float]] = {name: [] for name in runs}
    for r in range(repeats):
        for name in (list(runs) if r % 2 == 0 else list(reversed(runs))):
            start = time.perf_counter()
            runs[name]()
            times[name].append(time.perf_counter() - start)
    return times


def qat_ratios(data: DeviceData, steps: int, repeats: int) -> dict[str, object]:
    out: dict[str, object] = {}
    for model_name, values in MODELS.items():
        runs = {variant: step_runner(Architecture({**values, **quant}), data, steps)
                for variant, quant in VARIANTS.items()}
        times = time_interleaved(runs, repeats)
        medians = {k: statistics.median(v) for k, v in times.items()}
        out[model_name] = {
            "median_step_ms": {k: round(v / steps * 1e3, 4) for k, v in medians.items()},
            "ratio_over_float": {k: round(v / medians["float"], 3) for k, v in medians.items()
                                 if k != "float"},
        }
    return out


def analytic_cost(data: DeviceData, steps: int, repeats: int) -> dict[str, object]:
    arch = Architecture({**MODELS["mlp"], "weight_bits": 4, "act_bits": 8,
                         "keep_ends_8bit": True})
    calls = 200

    def costs() -> None:
        for _ in range(calls):
            plan = plan_for(arch, data.spec)
            _ = (plan.macs, plan.bops, plan.params, plan.size_bits)

    step = step_runner(Architecture(MODELS["mlp"]), data, steps)
    times = time_interleaved({"costs": costs, "step": step}, repeats)
    cost_s = statistics.median(times["costs"]) / calls
    step_s = statistics.median(times["step"]) / steps
    return {"cost_us_per_candidate": round(cost_s * 1e6, 2),
            "float_step_us": round(step_s * 1e6, 2),
            "cost_over_step": round(cost_s / step_s, 4), "target": 0.1}


def two_bit_accuracy(data: DeviceData) -> dict[str, object]:
    arch = Architecture({**MODELS["mlp"], "weight_bits": 2, "act_bits": 2,
                         "keep_ends_8bit": True, "quant_step": "learned", "lr": 3e-3,
                         "weight_decay": 0.0, "batch_size": 64, "epochs": 30,
                         "optimizer": "adamw", "schedule": "cosine"})
    (result,) = LocalEvaluator(data, seed=SEED, measure_latency=False).evaluate([arch])
    metrics = result.metrics
    return {"arch": dict(arch), "state": result.state.value, "error": result.error,
            "val_accuracy": metrics.get("accuracy"), "test_accuracy": metrics.get("test_accuracy"),
            "bops": metrics.get("bops"), "float_bops": plan_for(
                Architecture(MODELS["mlp"]), data.spec).bops, "target": 0.90}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    data = to_device(load_dataset("digits", seed=SEED), device)
    assert isinstance(data.spec, DataSpec)
    print(json.dumps({
        "benchmark": "quant",
        "qat_step": qat_ratios(data, args.steps, args.repeats),
        "qat_target_ratio": 2.0,
        "analytic_cost": analytic_cost(data, args.steps, args.repeats),
        "two_bit_mlp": two_bit_accuracy(data),
        "steps": args.steps, "repeats": args.repeats, "batch_size": BATCH,
        "device": str(device), **torch_machine(),
    }, indent=2))


if __name__ == "__main__":
    main()
