"""`nasforge list`, `nasforge show NAME` and `nasforge show NAME --json > FILE` as commands
(a fresh interpreter each: start-up and imports included), for this checkout and, with
`--baseline`, another one side by side (a benchmark script, not a test).

    PYTHONPATH=. python bench/commands.py [--store /tmp/cmds_store/s100k.db] [--search NAME]
        [--baseline /work/main] [--repeats 5] [--compiled]

The store (a SQLite file) is built once when it does not exist: `--trials` trials of a random
search through `bench/scale.py`'s trivial evaluator (about a minute per 10k trials on a
laptop core), then reused. Every repeat runs each command of each checkout once, in
turns (interleaved), as ``python -m nasforge ...`` with that checkout first on PYTHONPATH;
per command and checkout it reports the median wall seconds, the median CPU seconds and the
largest resident memory of the child (``os.wait4``), ``-X importtime``'s total and the
biggest top-level imports of one extra run, and whether both checkouts wrote the same
``show --json`` bytes. `--compiled`: the children cache bytecode (a fresh
PYTHONPYCACHEPREFIX, warmed once), as an installed package has it; by default they run as
the environment says (PYTHONDONTWRITEBYTECODE=1 compiles nasforge's sources every start).

Prints one JSON object: ``commands`` (checkout -> command -> figures), ``ratios`` (baseline /
this checkout, per command), ``load_average`` at start and end, python and cpus.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
#: modules whose presence in a command's imports is worth seeing at a glance
WATCHED = ("pydantic", "rich.console", "sqlalchemy", "alembic", "numpy", "pandas", "certifi",
           "nasforge.leases", "nasforge.plugins", "typer._adapters", "shellingham")


def build_store(path: Path, trials: int) -> None:
    """A random search "scale-random" of `trials` trials at `path` (bench/scale.py's)."""
    sys.path.insert(0, str(ROOT / "bench"))
    import scale

    path.parent.mkdir(parents=True, exist_ok=True)
    scale.run_search(f"sqlite:///{path}", "random", trials, max(trials, 1), None)


def commands(url: str, name: str) -> dict[str, list[str]]:
    """Command name -> argv after ``python``."""
    return {"list": ["-m", "nasforge", "list", "--storage", url],
            "show": ["-m", "nasforge", "show", name, "--storage", url],
            "show_json": ["-m", "nasforge", "show", name, "--json", "--storage", url],
            "import_cli": ["-c", "import nasforge.ui.cli"]}


def run_once(argv: list[str], env: dict[str, str], cwd: Path, stdout: Path
             ) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak RSS (MiB) of ``python argv`` (stdout to a file)."""
    with stdout.open("wb") as sink:
        began = time.perf_counter()
        child = subprocess.Popen([sys.executable, *argv], env=env, cwd=cwd, stdout=sink,
                                 stderr=subprocess.PIPE)
        assert child.stderr is not None
        errors = child.stderr.read()
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - began
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f"{argv} in {cwd}: exit {child.returncode}: "
                           f"{errors.decode()[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def digest(path: Path) -> str:
    """SHA-256 of a file read in blocks: this process stays small, and its children inherit
    its peak memory as the start of theirs (``ru_maxrss`` survives ``exec``)."""
    sha = hashlib.sha256()
    with path.open("rb") as source:
        while block := source.read(1 << 20):
            sha.update(block)
    return sha.hexdigest()


def import_profile(argv: list[str], env: dict[str, str], cwd: Path) -> dict[str, Any]:
    """``-X importtime`` of one run: total seconds, the 12 biggest top-level imports and
    which `WATCHED` modules were imported."""
    done = subprocess.run([sys.executable, "-X", "importtime", *argv], env=env, cwd=cwd,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          check=True)
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, module = line.removeprefix("import time:").split("|")
        rows.append((module.rstrip(), int(cumulative)))
    top = [(m.strip(), us) for m, us in rows if not m.startswith("  ")]
    names = {m.strip() for m, _ in rows}
    return {"total_seconds": round(sum(us for _, us in top) / 1e6, 3),
            "top_level": {m: round(us / 1e6, 4) for m, us in
                          sorted(top, key=lambda r: -r[1])[:12]},
            "watched_imported": [w for w in WATCHED if w in names]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=Path("/tmp/cmds_store/s100k.db"))
    parser.add_argument("--search", default="scale-random")
    parser.add_argument("--trials", type=int, default=100_000, help="when building the store")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="another nasforge checkout to time side by side")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--compiled", action="store_true")
    args = parser.parse_args()
    load_start = os.getloadavg()
    if not args.store.exists():
        build_store(args.store, args.trials)
    url = f"sqlite:///{args.store}"
    scratch = Path(tempfile.mkdtemp(prefix="nasforge-commands-"))
    checkouts = {"this": ROOT, **({"baseline": args.baseline} if args.baseline else {})}
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("NASFORGE_NO_PLUGINS", None)  # plugins as users have them
    if args.compiled:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(scratch / "pycache")
    envs = {key: {**env, "PYTHONPATH": str(root)} for key, root in checkouts.items()}
    argvs = commands(url, args.search)
    outputs = {key: scratch / f"{key}.json" for key in checkouts}  # show --json's
    ignored = scratch / "other.out"  # the other commands' output
    located = {key: subprocess.run(
        [sys.executable, "-c", "import nasforge; print(nasforge.__file__)"], env=envs[key],
        cwd=root, capture_output=True, text=True, check=True).stdout.strip()
        for key, root in checkouts.items()}
    for key, root in checkouts.items():  # warm the page cache (and the bytecode cache)
        for command, argv in argvs.items():
            run_once(argv, envs[key], root,
                     outputs[key] if command == "show_json" else ignored)
    wall: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    cpu: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    rss: dict[str, dict[str, float]] = defaultdict(dict)
    digests: dict[str, str] = {}
    for _ in range(args.repeats):
        for command, argv in argvs.items():
            for key, root in checkouts.items():
                seconds, used, peak = run_once(
                    argv, envs[key], root, outputs[key] if command == "show_json" else ignored)
                wall[key][command].append(seconds)
                cpu[key][command].append(used)
                rss[key][command] = max(peak, rss[key].get(command, 0.0))
                if command == "show_json":
                    digests[key] = digest(outputs[key])
    figures = {key: {command: {
        "wall_seconds": round(statistics.median(wall[key][command]), 3),
        "cpu_seconds": round(statistics.median(cpu[key][command]), 3),
        "max_rss_mib": round(rss[key][command], 1),
        "imports": import_profile(argv, envs[key], root)}
        for command, argv in argvs.items()} for key, root in checkouts.items()}
    ratios = {command: {measure: round(figures["baseline"][command][measure]
                                       / figures["this"][command][measure], 2)
                        for measure in ("wall_seconds", "cpu_seconds")}
              for command in argvs} if args.baseline else {}
    print(json.dumps({
        "benchmark": "commands", "store": url, "search": args.search,
        "repeats": args.repeats, "compiled": args.compiled, "nasforge": located,
        "commands": figures, "ratios_baseline_over_this": ratios,
        "show_json_identical": len(set(digests.values())) == 1 if args.baseline else None,
        "show_json_bytes": outputs["this"].stat().st_size,
        "load_average": {"start": load_start, "end": os.getloadavg()},
        "cpus": os.cpu_count(), "python": platform.python_version()}, indent=2))


if __name__ == "__main__":
    main()
