"""The bodies of `nasforge list` and `nasforge show` (the CLI wiring is in `nasforge.ui.cli`).

`list` reads the counts and the best trials from SQL aggregates (`Store.best_trials`), never
every trial. `show` prints the Pareto front and the `TOP` best other trials by the first
objective, with a count of the rest, from the objectives' values alone (`Store.metric_values`;
whole trials only for the rows it prints); `--all` reads and prints every row. `show --json`
writes the same summary (best, front, workers), then the trials in pages of `CHUNK` as it
reads them (`Store.trial_table`: columns, no record per trial), never holding every trial,
and the proxy pre-filter's pools (`Store.pools`) a page at a time under
``diagnostics.prefilter.pools``: byte for byte what ``json.dumps(search_report(...),
indent=2)`` gives with the pools there (`nasforge.ui.report_json`).

numpy is not imported: the front of one or two objectives is `nasforge.best.non_dominated`;
Rich only where a table is printed (never by ``--json``).
"""

from __future__ import annotations

import heapq
import json
import math
from collections.abc import Iterator, Sequence
from typing import cast

import typer

from nasforge.best import non_dominated
from nasforge.records import SearchRecord
from nasforge.store import Store
from nasforge.store.trial_table import TrialTable
from nasforge.ui.report import search_report, search_summary, trial_payload
from nasforge.ui.report_json import report_chunks

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

    from nasforge.ui.console import wide_console

    table = Table("name", "created", "budget", "complete", "failed", "pruned", "running",
                  "best")
    for row in rows:
        counts = row["counts"]
        best = ", ".join(f"{k} {v['value']:.4g} (#{v['number']})"
                         for k, v in row["best"].items())
        table.add_row(row["name"], (row["created_at"] or "")[:19], str(row["budget"]),
                      str(counts.get("COMPLETE", 0)), str(counts.get("FAILED", 0)),
                      str(counts.get("PRUNED", 0)),
                      str(counts.get("RUNNING", 0) + counts.get("WAITING", 0)), best)
    wide_console().print(table)


def show_command(store: Store, name: str, as_json: bool, show_all: bool) -> None:
    search = store.get_search(name)
    if as_json:
        report, _, _ = summary_report(store, search)
        for chunk in report_chunks(report, trial_tables(store, search),
                                   pool_pages(store, search)):
            typer.echo(chunk, nl=False)
        typer.echo("")
        return
    from nasforge.ui.console import print_report

    if show_all:
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
    columns = [values[o.metric] if o.direction == "max" else [-v for v in values[o.metric]]
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
    pareto = cast("list[int]", report["pareto"])
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


def trial_tables(store: Store, search: SearchRecord) -> Iterator[TrialTable]:
    """The search's trials as `TrialTable` pages of `CHUNK` trials (`limit`, each after the
    last number of the one before): those its counts cover when `show` began."""
    last, left = -1, sum(search.trial_counts.values())
    while left > 0:
        table = store.trial_table(search.name, after=last, limit=min(CHUNK, left))
        if not len(table):
            return
        yield table
        last, left = table.number[-1], left - len(table)


def pool_pages(store: Store, search: SearchRecord) -> Iterator[list[dict[str, object]]]:
    """The search's pre-filter pools (`Store.pools`) in pages of `CHUNK`, oldest first."""
    offset = 0
    while True:
        page = store.pools(search.name, offset=offset, limit=CHUNK)
        if page:
            yield page
        if len(page) < CHUNK:
            return
        offset += len(page)
