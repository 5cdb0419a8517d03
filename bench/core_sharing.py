"""Benchmark: how much one training slows down while another trains on the other core.

    PYTHONPATH=. python bench/core_sharing.py [--widths 16,256] [--steps 3000] [--repeats 3]

One process trains an MLP 64-W-W-10 (ReLU, AdamW, batch 64, one torch thread) for `--steps`
steps, alone; then two such processes run at once. Interleaved repeats, medians of the step
time; `slowdown` = together / alone (1.0: the cores do not interfere). What a CPU pool of
one worker per core pays on top of the work itself (issue 19). Prints one JSON object, with
`uptime` load at start and end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

STEP = """
import sys, time, torch
torch.set_num_threads(1)
w, n = int(sys.argv[1]), int(sys.argv[2])
m = torch.nn.Sequential(torch.nn.Linear(64, w), torch.nn.ReLU(), torch.nn.Linear(w, w),
                        torch.nn.ReLU(), torch.nn.Linear(w, 10))
opt = torch.optim.AdamW(m.parameters(), fused=True)
x, y = torch.randn(64, 64), torch.randint(0, 10, (64,))
def step():
    loss = torch.nn.functional.cross_entropy(m(x), y)
    opt.zero_grad(); loss.backward(); opt.step()
for _ in range(50):
    step()
begin = time.perf_counter()
for _ in range(n):
    step()
print((time.perf_counter() - begin) / n)
"""


def _run(width: int, steps: int, together: int) -> list[float]:
    procs = [subprocess.Popen([sys.executable, "-c", STEP, str(width), str(steps)],
                              stdout=subprocess.PIPE, text=True) for _ in range(together)]
    return [float(p.communicate()[0]) for p in procs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", default="16,256")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    start = [round(x, 2) for x in os.getloadavg()]
    rows = []
    for width in (int(w) for w in args.widths.split(",")):
        alone: list[float] = []
        together: list[float] = []
        for repeat in range(args.repeats):
            for count in ((1, 2) if repeat % 2 == 0 else (2, 1)):
                (alone if count == 1 else together).extend(_run(width, args.steps, count))
        rows.append({"width": width, "alone_ms": 1e3 * statistics.median(alone),
                     "together_ms": 1e3 * statistics.median(together),
                     "slowdown": statistics.median(together) / statistics.median(alone)})
    print(json.dumps({"benchmark": "core_sharing", "steps": args.steps,
                      "repeats": args.repeats, "cpu_count": os.cpu_count(), "rows": rows,
                      "load_start": start,
                      "load_end": [round(x, 2) for x in os.getloadavg()]}, indent=1))


if __name__ == "__main__":
    main()
