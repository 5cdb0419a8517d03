"""The bodies of `nasforge list` and `nasforge show` (the CLI wiring is in `nasforge.ui.cli`).

`list` reads the counts and the best trials from SQL aggregates (`Store.best_trials`), never
every trial. `show` prints the Pareto front and the `TOP` best other trials by the first
objective, with a count of the rest, from the objectives' values alone (`Store.metric_values`;
whole trials only for the rows it prints); `--all` reads and prints every row. `show --json`
writes the same summary (best, front, workers) and then the trials `CHUNK` at a time as it
reads them, never holding every trial: byte for byte what
``json.dumps(search_report(...), indent=2)`` gives.

numpy is not imported: the front of one or two objectives is `nasforge.best.non_dominated`.
"""

from __future__ import annotations

import heapq
import json
import math
from collections.abc import Iterator, Sequence
from json import encoder as _encoder

import typer

from nasforge.best import non_dominated
from nasforge.records import SearchRecord
from nasforge.store import Store
from nasforge.ui.console import print_report, wide_console
from nasforge.ui.report import search_report, search_summary, trial_payload

encode_basestring_ascii = _encoder.encode_basestring_ascii

#: trials `nasforge show` lists beyond the Pareto front (without --all)
TOP = 20
#: trials read and written per chunk by `show --json`
CHUNK = 500


def list_command(store: Store, as_json: bool) -> None:
    rows = [search_summary(s, store.best_trials(s.name)) for s in store.list_searches()]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.table import Table

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
    if as_json:
        report, _, _ = summary_report(store, search)
        for chunk in json_chunks(report, trial_chunks(store, search)):
            typer.echo(chunk, nl=False)
        typer.echo("")
    elif show_all:
        print_report(search_report(search, store.trials(name)))
    else:
        print_report(*front_report(store, search))


def summary_report(store: Store, search: SearchRecord
                   ) -> tuple[dict[str, object], list[int], list[list[float]]]:
    """`search_report` without its trials, from SQL aggregates and the objectives' values
    (`Store.best_trials`, `metric_values`, `worker_counts`), never whole trials; and the
    numbers of the COMPLETE trials with their objectives' values (one column per objective,
    maximised; NaN where missing), for choosing the rows to show."""
    objectives = search.objectives
    numbers, values = store.metric_values(search.name, [o.metric for o in objectives])
    columns = [[v if o.direction == "max" else -v for v in values[o.metric]]
               for o in objectives]
    report = search_report(search, [], payloads=False)
    metric = {str(o): o.metric for o in objectives}
    report["best"] = {key: {"number": t.number, "value": t.metrics[metric[key]]}
                      for key, t in store.best_trials(search.name).items()}
    report["pareto"] = [numbers[i] for i in non_dominated(columns)]
    report["workers"] = store.worker_counts(search.name)
    return report, numbers, columns


def front_report(store: Store, search: SearchRecord) -> tuple[dict[str, object], int]:
    """`search_report` with the Pareto front and the `TOP` best other trials as its rows,
    and how many trials it leaves out (`summary_report`): whole trials are read only for
    the rows shown."""
    report, numbers, columns = summary_report(store, search)
    pareto: list[int] = report["pareto"]  # type: ignore[assignment]
    shown = set(pareto) | top_of(numbers, columns[0] if columns else [], set(pareto), TOP)
    report["trials"] = [trial_payload(t) for t in store.trials(
        search.name, numbers=shown)] if shown else []
    return report, sum(search.trial_counts.values()) - len(shown)


def top_of(numbers: Sequence[int], values: Sequence[float], exclude: set[int], k: int
           ) -> set[int]:
    """The `k` trials (`numbers`, with the maximised `values` of the first objective) not in
    `exclude` with the best finite values (ties: the lowest numbers)."""
    if k <= 0:
        return set()
    scored = ((-v, n) for n, v in zip(numbers, values, strict=True)
              if -math.inf < v < math.inf and n not in exclude)
    return {n for _, n in heapq.nsmallest(k, scored)}


def trial_chunks(store: Store, search: SearchRecord) -> Iterator[list[dict[str, object]]]:
    """The payloads (`trial_payload`) of the search's trials, `CHUNK` numbers at a time (trial
    numbers are 0, 1, 2, ... per search): those its counts cover when `show` began."""
    total = sum(search.trial_counts.values())
    for start in range(0, total, CHUNK):
        yield [trial_payload(t) for t in store.trials(
            search.name, numbers=range(start, min(start + CHUNK, total)))]


def json_chunks(report: dict[str, object], chunks: Iterator[list[dict[str, object]]]
                ) -> Iterator[str]:
    """``json.dumps(report, indent=2)`` with `report["trials"]` the payloads in `chunks`, a
    piece per chunk (JSON strings hold no raw newline, so re-indenting is exact)."""
    yield "{\n"
    for i, (key, value) in enumerate(report.items()):
        yield (",\n" if i else "") + f"  {json.dumps(key)}: "
        if key != "trials":
            yield json.dumps(value, indent=2).replace("\n", "\n  ")
            continue
        written = False
        for chunk in chunks:
            if chunk:
                yield ("," if written else "[") + ",".join(
                    "\n    " + _payload_json(payload) for payload in chunk)
                written = True
        yield "\n  ]" if written else "[]"
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
