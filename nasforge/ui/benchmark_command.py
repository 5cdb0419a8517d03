"""`nasforge benchmark`: run strategies on a table (with a progress bar on a terminal) and
print the report, as a table or as JSON."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table

from nasforge.ui.console import wide_console


def run_benchmark_command(name: str, dataset: str | None, strategy: str, *, budget: int,
                          repeats: int, seeds: str | None, objectives: str | None,
                          strategy_option: Sequence[str], as_json: bool) -> None:
    """The command's options as typed; NasforgeError for a bad one."""
    from nasforge import benchmark as harness
    from nasforge.benchmark import DATASETS

    names = [s.strip() for s in strategy.split(",")]
    chosen = dataset or (DATASETS[name][0] if name in DATASETS else None)
    options = harness.parse_strategy_options(strategy_option, names)
    chosen_seeds = harness.parse_seeds(seeds)
    chosen_objectives = [o for o in (objectives or "").split(",") if o.strip()]

    def run(progress: Callable[[str, int, int], None] | None = None) -> dict[str, object]:
        return harness.run_benchmark(name, chosen, names, budget=budget, repeats=repeats,
                                     strategy_options=options, seeds=chosen_seeds,
                                     objectives=chosen_objectives, progress=progress)

    stderr = Console(stderr=True)
    if not stderr.is_terminal:
        report = run()
    else:
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                      MofNCompleteColumn(), console=stderr, transient=True) as bar:
            tasks: dict[str, TaskID] = {}

            def advance(strategy_name: str, done: int, total: int) -> None:
                if strategy_name not in tasks:
                    tasks[strategy_name] = bar.add_task(strategy_name, total=total)
                bar.update(tasks[strategy_name], completed=done)

            report = run(progress=advance)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    console = wide_console()
    objective_names = report["objectives"]
    assert isinstance(objective_names, list)  # run_benchmark's report: a list of strings
    baseline = (f"random search's exact expectation {report['random_expectation']:.5g}"
                if report["random_expectation"] is not None else
                f"exact front hypervolume {report['front_hypervolume']:.5g}")
    console.print(f"[bold]{report['benchmark']}/{report['dataset']}[/]  objectives "
                  f"{', '.join(objective_names)}  budget {report['budget']}  repeats "
                  f"{report['repeats']}  optimum {report['optimum']:.5g}  {baseline}")
    headers, rows = harness.summary_table(report)
    table = Table(*headers)
    for row in rows:
        table.add_row(*row)
    console.print(table)
