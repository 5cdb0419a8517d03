"""The bodies of `nasforge list` and `nasforge show` (the CLI wiring is in `nasforge.ui.cli`).

`list` reads the counts and the best trials from SQL aggregates (`Store.best_trials`), never
every trial. `show` prints the Pareto front and the `TOP` best other trials by the first
objective, with a count of the rest, from the objectives' values alone (`Store.metric_values`;
whole trials only for the rows it prints); `--all` reads and prints every row; `show --json`
writes its object piece by piece, byte for byte what
``json.dumps(search_report(...), indent=2)`` gives.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from json import encoder as _encoder

import numpy as np
import typer
from rich.table import Table

from nasforge.records import SearchRecord, TrialRecord
from nasforge.store import Store
from nasforge.strategies.pareto import non_dominated_mask
from nasforge.ui.console import print_report, wide_console
from nasforge.ui.report import search_report, search_summary, trial_payload

encode_basestring_ascii = _encoder.encode_basestring_ascii

#: trials `nasforge show` lists beyond the Pareto front (without --all)
TOP = 20
#: trials written per chunk by `show --json`
CHUNK = 500


def list_command(store: Store, as_json: bool) -> None:
    rows = [search_summary(s, store.best_trials(s.name)) for s in store.list_searches()]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table("name", "created", "budget", "complete", "failed", "running", "best")
    for row in rows:
        counts = row["counts"]
        best = ", ".join(f"{k} {v['value']:.4g} (#{v['number']})"
                         for k, v in row["best"].items())
        table.add_row(row["name"], (row["created_at"] or "")[:19], str(row["budget"]),
                      str(counts.get("COMPLETE", 0)), str(counts.get("FAILED", 0)),
                      str(counts.get("RUNNING", 0) + counts.get("WAITING", 0)), best)
    wide_console().print(table)


def show_command(store: Store, name: str, as_json: bool, show_all: bool) -> None:
    search = store.get_search(name)
    if not (as_json or show_all):
        report, hidden = front_report(store, search)
        print_report(report, hidden)
        return
    trials = store.trials(name)
    report = search_report(search, trials, payloads=show_all and not as_json)
    if as_json:
        for chunk in json_chunks(report, trials):
            typer.echo(chunk, nl=False)
        typer.echo("")
        return
    print_report(report)


def front_report(store: Store, search: SearchRecord) -> tuple[dict[str, object], int]:
    """`search_report` with the Pareto front and the `TOP` best other trials as its rows,
    and how many trials it leaves out, from the objectives' values, the best trials and
    per-worker counts (`Store.metric_values`, `best_trials`, `worker_counts`): whole trials
    are read only for the rows shown."""
    objectives = search.objectives
    numbers, values = store.metric_values(search.name, [o.metric for o in objectives])
    # rows: COMPLETE trials; columns: objectives, maximised (NaN: missing, never on the front)
    points = np.array([[o.sign() * v for v in values[o.metric]] for o in objectives],
                      dtype=np.float64).T.reshape(len(numbers), len(objectives))
    on_front = non_dominated_mask(points)
    pareto = [numbers[i] for i in np.flatnonzero(on_front)]
    shown = set(pareto) | top_of(numbers, points, on_front, TOP)
    report = search_report(search, [], payloads=False)
    metric = {str(o): o.metric for o in objectives}
    report["best"] = {key: {"number": t.number, "value": t.metrics[metric[key]]}
                      for key, t in store.best_trials(search.name).items()}
    report["pareto"] = pareto
    report["workers"] = store.worker_counts(search.name)
    report["trials"] = [trial_payload(t) for t in store.trials(
        search.name, numbers=shown)] if shown else []
    return report, sum(search.trial_counts.values()) - len(shown)


def top_of(numbers: Sequence[int], points: np.ndarray, exclude: np.ndarray, k: int
           ) -> set[int]:
    """The `k` trials (`numbers`, rows of maximised `points`) not marked in `exclude` with
    the best finite value of the first objective (ties: the lowest numbers)."""
    if points.shape[1] == 0 or k <= 0:
        return set()
    first = points[:, 0]
    candidates = np.flatnonzero(np.isfinite(first) & ~exclude)
    # numbers ascend with the rows, so a stable sort breaks ties by the lowest number
    best = candidates[np.argsort(-first[candidates], kind="stable")[:k]]
    return {numbers[i] for i in best}


def json_chunks(report: dict[str, object], trials: Sequence[TrialRecord]) -> Iterator[str]:
    """``json.dumps(report, indent=2)`` with `report["trials"]` the payloads of `trials`, in
    pieces of `CHUNK` trials (JSON strings hold no raw newline, so re-indenting is exact)."""
    yield "{\n"
    for i, (key, value) in enumerate(report.items()):
        yield (",\n" if i else "") + f"  {json.dumps(key)}: "
        if key == "trials" and trials:
            yield "["
            for start in range(0, len(trials), CHUNK):
                                yield ("," if start else "") + ",".join(
                    "\n    " + _payload_json(trial_payload(t))
                    for t in trials[start:start + CHUNK])
            yield "\n  ]"
        else:
            yield json.dumps(value, indent=2).replace("\n", "\n  ")
    yield "\n}"


def _scalar(value: object) -> str | None:
    """`value` as ``json.dumps`` writes it, for the scalars of a trial; None otherwise."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is str:
        return encode_basestring_ascii(value)
    if type(value) is int:
        return int.__repr__(value)
    if type(value) is float:
        if value != value:
            return "NaN"
        if value in (math.inf, -math.inf):
            return "Infinity" if value > 0 else "-Infinity"
        return float.__repr__(value)
    return None


def _payload_json(payload: dict[str, object]) -> str:
    """``json.dumps(payload, indent=2)`` indented one level deeper (4 spaces), written
    directly for scalars and flat mappings of scalars (the common trial), by ``json.dumps``
    for anything else."""
    lines = []
    for key, value in payload.items():
        head = f"      {encode_basestring_ascii(key)}: "
        text = _scalar(value)
        if text is None and isinstance(value, dict) and value \
                and all(type(k) is str for k in value):
            inner = [(k, _scalar(v)) for k, v in value.items()]
            if all(v is not None for _, v in inner):
                text = "{\n" + ",\n".join(f"        {encode_basestring_ascii(k)}: {v}"
                                           for k, v in inner) + "\n      }"
        if text is None:
            text = json.dumps(value, indent=2).replace("\n", "\n      ")
        lines.append(head + text)
    return "{\n" + ",\n".join(lines) + "\n    }"
