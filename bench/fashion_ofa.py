"""Once-for-All on Fashion-MNIST: run `examples/fashion_ofa.toml` as a user would, then
retrain the chosen subnet on the whole training split; report the issue-16 figures as JSON.

    PYTHONPATH=. nohup nice -n 5 python bench/fashion_ofa.py --workdir runs/ofa --epochs 15

1. Search: `nasforge search examples/fashion_ofa.toml --workers 2` (supernet training,
   inherited-weight search, the top-k and the ranking sample trained standalone), timed
   (wall and CPU seconds, children included).
2. Figures from the store: the diagnostics (Kendall tau, Spearman rho, sample size, phase
   seconds), and the Pareto front of the inherited results (accuracy against MACs): how many
   subnets, and the ratio of its largest to smallest MACs.
3. Retrain: of the subnets trained standalone (top-k and ranking sample), the most accurate
   (standalone validation accuracy), with its own trial seed and hyper-parameters and the
   example's augmentation, on all 54,000 training images for --epochs, then evaluated once
   on the 10,000 test images (`fashion_standalone.retrain`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fashion_standalone import _cpu_seconds, _uptime, retrain  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "fashion_ofa.toml"
NAME = "fashion-ofa"


def inherited_front(url: str) -> tuple[dict[str, object], object]:
    """The diagnostics, the inherited front's size and MACs span, and the most accurate
    standalone-trained trial."""
    from nasforge.records import TrialState
    from nasforge.store import open_store
    from nasforge.strategies.pareto import pareto_front
    from nasforge.strategies.supernet import is_inherited, plain_metrics

    with open_store(url, create=False) as store:
        search = store.get_search(NAME)
        trials = store.trials(NAME, states=[TrialState.COMPLETE])
    inherited = [t for t in trials if is_inherited(t)]
    plain = [plain_metrics(t).metrics for t in inherited]
    front = sorted((plain[i] for i in pareto_front(plain, search.objectives)),
                   key=lambda m: m["macs"])
    standalone = [t for t in trials if not is_inherited(t)]
    best = max(standalone, key=lambda t: (t.metrics["accuracy"], -t.metrics["macs"]))
    return {
        "diagnostics": dict(search.diagnostics or {}),
        "inherited_subnets": len(inherited), "standalone_trainings": len(standalone),
        "front_size": len(front),
        "front_macs_span": round(front[-1]["macs"] / front[0]["macs"], 2) if front else None,
        "front": [{"macs": m["macs"], "inherited_accuracy": round(m["accuracy"], 4)}
                  for m in front],
        "best_standalone": {"trial": best.number, "accuracy": best.metrics["accuracy"],
                            "macs": best.metrics["macs"], "arch": dict(best.arch)},
    }, best.arch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1, help="of the retraining")
    parser.add_argument("--skip-retrain", action="store_true")
    args = parser.parse_args()
    started, cpu_start, load_start = time.perf_counter(), _cpu_seconds(), _uptime()
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{workdir / 'ofa.db'}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-m", "nasforge", "search", str(EXAMPLE), "--storage", url,
                    "--workers", "2", "--resume"], check=True, env=env, cwd=workdir)
    search_wall, search_cpu = time.perf_counter() - started, _cpu_seconds() - cpu_start
    load_after_search = _uptime()
    print(f"search done in {search_wall:.0f} s; retraining", file=sys.stderr, flush=True)
    figures, arch = inherited_front(url)
    result = None if args.skip_retrain else retrain(arch, args.epochs, EXAMPLE, args.threads)
    print(json.dumps({
        "command": " ".join(sys.argv), "load_start": load_start,
        "load_after_search": load_after_search, "load_end": _uptime(),
        "search": {"wall_seconds": round(search_wall, 1), "cpu_seconds": round(search_cpu, 1)},
        **figures, "retrained": result,
        "wall_seconds": round(time.perf_counter() - started, 1),
        "cpu_seconds": round(_cpu_seconds() - cpu_start, 1),
    }, indent=2, default=str))


if __name__ == "__main__":
    main()
