"""Standalone Fashion-MNIST figure: search `examples/fashion_mbconv.toml` quickly, retrain the
winner on the full training split, report its test accuracy as JSON.

    PYTHONPATH=. nice -n 5 python bench/fashion_standalone.py --workdir runs/fashion \
        --train-subset 6000 --search-epochs 3 --budget 7 --epochs 15 --retrain-minutes 40

1. Search: the example config with a seeded, stratified subset of the training images (an
   `npz:` file written to --workdir, with a 2,000-image slice of the test split so each trial
   reports quickly; the example's own train_limit is larger, so it keeps them all),
   --search-epochs, --budget, one torch thread, through the `nasforge search` CLI. The rest
   of the config is left as it is.
2. Choice: the most accurate (validation) complete trial whose retraining fits
   --retrain-minutes, estimated from its search wall time (so under the same load) scaled
   to the full training split and --epochs.
3. Retrain: that architecture, with its own trial seed, hyper-parameters and the example's
   augmentation, trained by nasforge's `train_candidate` on the whole split (54,000 images:
   no train_limit) for --epochs and evaluated once on the 10,000 test images.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "fashion_mbconv.toml"


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _subset(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    picks = [rng.permutation(np.flatnonzero(labels == c))[:per_class]
             for c in np.unique(labels)]
    return np.sort(np.concatenate(picks))


def write_subset(workdir: Path, train: int, test: int, seed: int) -> Path:
    """Fashion-MNIST's train and test IDX files cut to a stratified subset, as an npz."""
    from nasforge.evaluator.data.builtin import FASHION_MNIST_FILES, FASHION_MNIST_ROOT, read_idx

    parts = {key: read_idx(FASHION_MNIST_ROOT / name, 3 if key.startswith("x") else 1)
             for key, name in FASHION_MNIST_FILES.items()}
    keep = _subset(parts["y"], train // 10, seed)
    keep_test = _subset(parts["y_test"], test // 10, seed)
    path = workdir / f"fashion-{train}.npz"
    np.savez(path, x=parts["x"][keep][:, None], y=parts["y"][keep],
             x_test=parts["x_test"][keep_test][:, None], y_test=parts["y_test"][keep_test])
    return path


def _set(text: str, pattern: str, line: str) -> str:
    new, count = re.subn(pattern, line, text, count=1, flags=re.MULTILINE)
    if count != 1:
        raise SystemExit(f"{EXAMPLE} has no line matching {pattern!r}")
    return new


def search_config(npz: Path, epochs: int, budget: int) -> str:
    text = EXAMPLE.read_text()
    text = _set(text, r'^dataset = "fashion-mnist"', f'dataset = "npz:{npz}"')
    text = _set(text, r"^epochs = \d+", f"epochs = {epochs}")
    text = _set(text, r"^budget = \d+", f"budget = {budget}")
    return _set(text, r"^\[training\]", "[training]\nthreads = 1")


def choose(store_url: str, name: str, scale: float, minutes: float, epochs: int,
           search_epochs: int) -> tuple[object, float]:
    """The most accurate complete trial whose estimated retraining fits `minutes`."""
    from nasforge.records import TrialState
    from nasforge.store import open_store

    with open_store(store_url, create=False) as store:
        trials = store.trials(name, states=[TrialState.COMPLETE])
    fits = []
    for trial in trials:
        estimate = trial.metrics["train_seconds"] * scale * epochs / search_epochs / 60
        if estimate <= minutes:
            fits.append((trial.metrics["accuracy"], -trial.metrics["macs"], trial, estimate))
    if not fits:
        raise SystemExit(f"no trial's retraining fits {minutes} minutes")
    best = max(fits, key=lambda f: (f[0], f[1]))
    return best[2], best[3]


def retrain(arch: object, epochs: int, example: Path = EXAMPLE, threads: int = 1
            ) -> dict[str, object]:
    import torch

    from nasforge import config as config_module
    from nasforge.evaluator.data.tensors import resolve_device, to_device
    from nasforge.evaluator.seeding import candidate_seed, seeded
    from nasforge.evaluator.train import TrainingParams, train_candidate
    from nasforge.evaluator_setup import load_checked
    from nasforge.searchspace.build import build_from_plan
    from nasforge.searchspace.families import plan_for

    torch.set_num_threads(threads)
    config = config_module.load(example)  # the whole training split, not the search's sample
    config = dataclasses.replace(config, data=dataclasses.replace(config.data, train_limit=None))
    dataset = load_checked(config)
    device = resolve_device(config.training.device)
    data = to_device(dataset, device, config.data.augment)
    seed = candidate_seed(config.seed, arch.arch_id)  # type: ignore[attr-defined]
    plan = plan_for(arch, dataset.spec)  # type: ignore[arg-type]
    with seeded(seed, device):
        model = build_from_plan(plan).to(device)
    params = dataclasses.replace(TrainingParams.from_arch(arch), epochs=epochs)  # type: ignore[arg-type]
    begin = time.perf_counter()

    def progress(curve: list) -> None:  # an epoch hook that never stops: progress on stderr
        print(f"epoch {len(curve)}/{epochs}: val_accuracy {curve[-1].metrics['val_accuracy']:.4f}"
              f" after {time.perf_counter() - begin:.0f} s", file=sys.stderr, flush=True)

    outcome = train_candidate(model, data, params, seed=seed, task=dataset.spec.task,
                              precision=config.training.precision, stop=progress)
    return {
        "test_accuracy": outcome.test_accuracy, "val_accuracy": outcome.val_accuracy,
        "epochs": outcome.epochs, "train_seconds": round(outcome.seconds, 1),
        "curve": [round(p.metrics["val_accuracy"], 4) for p in outcome.curve],
        "macs": plan.macs, "params": sum(p.numel() for p in model.parameters()),
        "train_size": len(dataset.y_train), "val_size": len(dataset.y_val),
        "test_size": len(dataset.y_test), "training": dataclasses.asdict(params),
        "augment": list(config.data.augment), "device": str(device),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--train-subset", type=int, default=6000)
    parser.add_argument("--search-epochs", type=int, default=4)
    parser.add_argument("--budget", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--retrain-minutes", type=float, default=55.0)
    args = parser.parse_args()
    started, cpu_start, load_start = time.perf_counter(), _cpu_seconds(), _uptime()
    args.workdir = args.workdir.resolve()
    args.workdir.mkdir(parents=True, exist_ok=True)
    npz = write_subset(args.workdir, args.train_subset, 2000, seed=0)
    (args.workdir / "search.toml").write_text(search_config(npz, args.search_epochs, args.budget))
    url = f"sqlite:///{args.workdir / 'search.db'}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-m", "nasforge", "search", str(args.workdir / "search.toml"),
                    "--storage", url, "--resume"], check=True, env=env)
    search_wall = time.perf_counter() - started
    search_cpu = _cpu_seconds() - cpu_start
    # the search trains on (1 - val_fraction) of the subset, the retraining on 54,000 images
    print(f"search done in {search_wall:.0f} s; retraining", file=sys.stderr, flush=True)
    trial, estimate = choose(url, "fashion-mbconv", 60000 / args.train_subset,
                             args.retrain_minutes, args.epochs, args.search_epochs)
    result = retrain(trial.arch, args.epochs)  # type: ignore[attr-defined]
    print(json.dumps({
        "command": " ".join(sys.argv), "load_start": load_start, "load_end": _uptime(),
        "search": {"trials": args.budget, "train_subset": args.train_subset,
                   "epochs": args.search_epochs, "wall_seconds": round(search_wall, 1),
                   "cpu_seconds": round(search_cpu, 1)},
        "chosen": {"trial": trial.number, "search_accuracy": trial.metrics["accuracy"],  # type: ignore[attr-defined]
                   "estimated_minutes": round(estimate, 1), "arch": dict(trial.arch)},  # type: ignore[attr-defined]
        "retrained": result,
        "wall_seconds": round(time.perf_counter() - started, 1),
        "cpu_seconds": round(_cpu_seconds() - cpu_start, 1),
    }, indent=2))


if __name__ == "__main__":
    main()
