"""Helpers of the export tests: train a built model a few steps, export it, load model.py."""

from __future__ import annotations

import itertools
from pathlib import Path

import torch
import torch.nn.functional as F

from nasforge.evaluator.seeding import seeded
from nasforge.export import ModelMeta, generate
from nasforge.export.weights import load_module, to_named
from nasforge.searchspace.architecture import Architecture
from nasforge.searchspace.build import build_from_plan
from nasforge.searchspace.families import plan_for
from nasforge.searchspace.plan import DataSpec, NetworkPlan

FLAT = DataSpec((12,), 3)
IMAGE = DataSpec((2, 8, 8), 3)
SEQUENCE = DataSpec((2, 12), 3)
_counter = itertools.count()


def mlp(**values: object) -> Architecture:
    base = {"family": "mlp", "mlp.depth": 2, "mlp.width": 8, "activation": "relu",
            "norm": "batch", "dropout": 0.1}
    return _arch(base, values)


def cnn(**values: object) -> Architecture:
    base = {"family": "cnn", "cnn.stages": 2, "cnn.convs_per_stage": 1, "cnn.channels": 4,
            "cnn.kernel": 3, "cnn.pool": "max", "cnn.readout": "global_avg",
            "cnn.head_width": 8, "activation": "relu", "norm": "batch", "dropout": 0.0}
    return _arch(base, values)


def cell(ops: dict[tuple[int, int], str], **values: object) -> Architecture:
    base: dict[str, object] = {"family": "cell", "cell.channels": 4, "cell.stages": 2,
                               "cell.cells_per_stage": 1, "activation": "relu",
                               "norm": "batch", "dropout": 0.0}
    for to, source in ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2)):
        base[f"cell.edge_{to}_{source}"] = ops.get((to, source), "skip_connect")
    return _arch(base, values)


def _arch(base: dict[str, object], values: dict[str, object]) -> Architecture:
    merged = {**base, **values}
    if merged.get("norm") in ("evonorm_b0", "evonorm_s0"):
        merged.pop("activation", None)
    return Architecture(merged)


def trained(arch: Architecture, spec: DataSpec, *, steps: int = 3, seed: int = 0
            ) -> tuple[NetworkPlan, torch.nn.Module]:
    """The built model of `arch` after `steps` SGD steps on random data (observers, BN stats
    and LSQ scales move), in eval mode."""
    return train_plan(plan_for(arch, spec), spec.num_outputs, steps=steps, seed=seed)


def train_plan(plan: NetworkPlan, classes: int, *, steps: int = 3, seed: int = 0
               ) -> tuple[NetworkPlan, torch.nn.Module]:
    g = torch.Generator().manual_seed(seed)
    with seeded(seed):
        model = build_from_plan(plan)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
        for _ in range(steps):
            x = torch.randn(16, *plan.input_shape, generator=g)
            y = torch.randint(0, classes, (16,), generator=g)
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return plan, model.eval()


def exported(plan: NetworkPlan, model: torch.nn.Module, directory: Path,
             meta: ModelMeta | None = None) -> torch.nn.Module:
    """Write model.py for `plan` into `directory`, import it, load `model`'s weights."""
    generated = generate(plan, meta or ModelMeta(search="test", trial=0))
    path = directory / "model.py"
    path.write_text(generated.source)
    module = load_module(path, f"nasforge_export_test_{next(_counter)}")
    out = module.build()
    out.load_state_dict(to_named(model.state_dict(), generated.names))
    return out.eval()


def assert_same(plan: NetworkPlan, model: torch.nn.Module, directory: Path) -> None:
    copy = exported(plan, model, directory)
    x = torch.randn(32, *plan.input_shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(copy(x), model(x), rtol=1.3e-6, atol=1e-5)
