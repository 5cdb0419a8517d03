"""Terminal rendering of search reports (tables that stay readable when piped)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table


def wide_console() -> Console:
    """Tables stay readable when piped (Rich would assume 80 columns)."""
    console = Console()
    return console if console.is_terminal else Console(width=160)


def print_report(report: dict, hidden: int = 0) -> None:
    """The report's summary line, its trials table, then a count of the `hidden` trials
    (those left out of the table), the best trials, workers and diagnostics."""
    console = wide_console()
    objectives = report["objectives"]
    console.print(f"[bold]{report['name']}[/]  objectives {', '.join(objectives)}  "
                  f"budget {report['budget']}  {report['counts']}")
    metrics = [o.split(":")[0] for o in objectives]
    extra = [m for m in ("accuracy", "test_accuracy", "params", "latency_ms", "train_seconds")
             if m not in metrics]
    table = Table("#", "state", "pareto", "family", *metrics, *extra, "arch_id")
    pareto = set(report["pareto"])
    for trial in report["trials"]:
        values = trial["metrics"]
        cells = [fmt(values.get(m)) for m in (*metrics, *extra)]
        table.add_row(str(trial["number"]), trial["state"], "*" if trial["number"] in pareto
                      else "", str(trial["arch"].get("family", "")), *cells, trial["arch_id"])
    console.print(table)
    if hidden:
        console.print(f"... and {hidden} more trials (--all to list them)")
    for key, best in report["best"].items():
        console.print(f"best {key}: trial {best['number']} ({best['value']:.4g})")
    workers = report.get("workers") or {}
    if len(workers) > 1:
        console.print("workers: " + ", ".join(
            f"{name} {row['finished']} finished" + (f", {row['running']} running"
                                                     if row["running"] else "")
            for name, row in workers.items()))
    diagnostics = report.get("diagnostics") or {}
    if "kendall_tau" in diagnostics:
        console.print(f"supernet ranking: Kendall tau {fmt(diagnostics['kendall_tau'])}, "
                      f"Spearman rho {fmt(diagnostics.get('spearman_rho'))} on "
                      f"{diagnostics.get('sample_size')} subnets trained standalone")


def fmt(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.4g}"
    return f"{int(value)}" if isinstance(value, float) else str(value)
