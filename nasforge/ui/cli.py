"""The `nasforge` command line: search, resume, worker, list, show, upgrade, export,
dashboard, benchmark, layers, import.

Every NasforgeError (bad config, unknown name, missing data, bad storage URL) is printed as
one paragraph on stderr with exit code 2; nothing is written to the store before the config,
the data and the storage URL have all been checked.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from nasforge.errors import NasforgeError
from nasforge.leases import DEFAULT_TIMEOUT
from nasforge.ui.dashboard_launch import STORAGE_ENV
from nasforge.ui.import_command import import_app
from nasforge.ui.plain_params import PlainParamsGroup
from nasforge.ui.process_exit import finish

if TYPE_CHECKING:
    from nasforge.store import Store
    from nasforge.ui.dashboard_launch import Launch

# Plain help: Rich markup would eat "[space]" and 'nasforge[ray]', and typer 0.29's Rich
# panels give every flag a "<bool>" value column (0.28 hid it); click's plain formatter has
# neither problem.
# (Rich itself is imported only where a command prints with it: `show --json` never does.)
app = typer.Typer(cls=PlainParamsGroup, add_completion=False, no_args_is_help=True,
                  rich_markup_mode=None, help="nasforge: neural architecture search and AutoML.")
app.add_typer(import_app, name="import")
T = TypeVar("T")

STORAGE_HELP = (f"SQLAlchemy URL of the store (env {STORAGE_ENV}; default "
                "sqlite:///nasforge.db in the working directory).")
Storage = Annotated[str | None, typer.Option("--storage", help=STORAGE_HELP)]
WORKERS_HELP = ("Evaluate candidates in N worker processes (1: in this process). Each round "
                "asks the strategy for max(batch, N) candidates; each worker uses "
                "cores / N threads, or one GPU per worker on CUDA. Local workers are capped at "
                "what this machine holds (its cores, and its available memory at ~400 MiB a "
                "worker). auto (the default): one worker per core when [search] batch > 1 and "
                "candidates train on the CPU (a round's candidates train in parallel), else 1.")
Workers = Annotated[str, typer.Option("--workers", help=WORKERS_HELP)]
Executor = Annotated[str, typer.Option(
    "--executor", help="Where evaluations run: local (this machine's processes) or ray "
    "(Ray actors; pip install \"nasforge[ray]\").")]
RayAddress = Annotated[str | None, typer.Option(
    "--ray-address", help="Ray cluster to use with --executor ray (auto, HOST:6379 or "
    "ray://HOST:10001); default: a local Ray instance.")]
HeartbeatTimeout = Annotated[float, typer.Option(
    "--heartbeat-timeout", help="Seconds without a heartbeat after which another worker's "
    "trials are re-queued and run again.")]


def _storage(url: str | None) -> str:
    from nasforge.store import DEFAULT_URL

    return url or os.environ.get(STORAGE_ENV) or DEFAULT_URL


def _cache_dir() -> Path:
    if "NASFORGE_CACHE_DIR" in os.environ:
        return Path(os.environ["NASFORGE_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "nasforge"


def _read_store(storage: str | None) -> Store:
    """The store opened read-only (reading never writes); a note on stderr when its schema is
    older than this nasforge's."""
    from nasforge.store import open_store

    store = open_store(_storage(storage), create=False, readonly=True)
    note = getattr(store, "upgrade_note", None)
    if note:
        _say("note: ", "bold yellow", note)
    return store


def _say(label: str, style: str, message: str) -> None:
    """`label` in `style`, then the plain `message` (no markup: "[space]" in it stays), on
    stderr."""
    from rich.console import Console
    from rich.text import Text

    Console(stderr=True).print(Text.assemble((label, style), message), highlight=False,
                               soft_wrap=True)


def _run(action: Callable[[], T]) -> T:
    """Run a command body; user errors become a message and exit code 2."""
    try:
        return action()
    except NasforgeError as err:
        _say("error: ", "bold red", str(err))
        raise typer.Exit(code=2) from None


#: commands that only read or upgrade a store: they need no plugin's parts (importing the
#: plugins, and the numpy or torch they import, would be most of their start-up)
STORE_COMMANDS = frozenset({"list", "show", "upgrade"})


@app.callback()
def _main(ctx: typer.Context,
          verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details.")]
          = False) -> None:
    from nasforge.ui.lazy_logging import LazyRichHandler

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s",
                        handlers=[LazyRichHandler()])
    # Optuna (the bayesian strategies) and NNI log every trial at INFO
    for library in ("optuna", "nni"):
        logging.getLogger(library).setLevel(logging.INFO if verbose else logging.WARNING)
    if ctx.invoked_subcommand in STORE_COMMANDS:
        return
    from nasforge.plugins import load_plugins

    load_plugins()  # every other command (worker too) sees the plugins' parts; failures noted


@app.command()
def search(
    config: Annotated[Path, typer.Argument(help="TOML search configuration.")],
    storage: Storage = None,
    budget: Annotated[int | None, typer.Option(help="Number of trials (overrides the config).")]
    = None,
    name: Annotated[str | None, typer.Option(help="Search name (overrides the config).")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed (overrides the config).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the search of this name if "
                                         "it exists (keeps finished trials).")] = False,
    workers: Workers = "auto",
    executor: Executor = "local",
    ray_address: RayAddress = None,
    heartbeat_timeout: HeartbeatTimeout = DEFAULT_TIMEOUT,
) -> None:
    """Run a search described by a TOML config."""

    def body() -> None:
        from nasforge import config as config_module
        from nasforge.ui.run_search import RunOptions, run_search

        options = RunOptions(workers, executor, ray_address, heartbeat_timeout).check()
        loaded = config_module.load(config)
        if name is not None:
            config_module.check_name(name)
        if any(v is not None for v in (name, budget, seed)):
            loaded = loaded.with_overrides(name=name, budget=budget, seed=seed)
        options.prestart(loaded)  # before the store's SQLAlchemy import (`_storage`)
        run_search(loaded, _storage(storage), _cache_dir(), options, resume=resume)

    _run(body)


@app.command()
def resume(
    name: Annotated[str, typer.Argument(help="Name of the search to continue.")],
    storage: Storage = None,
    budget: Annotated[int | None, typer.Option(help="New total number of trials.")] = None,
    workers: Workers = "auto",
    executor: Executor = "local",
    ray_address: RayAddress = None,
    heartbeat_timeout: HeartbeatTimeout = DEFAULT_TIMEOUT,
) -> None:
    """Continue a stopped or killed search with the config it was started with."""

    def body() -> None:
        from nasforge.ui.run_search import RunOptions, run_stored

        options = RunOptions(workers, executor, ray_address, heartbeat_timeout).check()
        run_stored(name, _storage(storage), _cache_dir(), options, budget=budget)

    _run(body)


@app.command()
def worker(
    name: Annotated[str, typer.Argument(help="Name of the running search to join.")],
    storage: Storage = None,
    workers: Workers = "auto",
    executor: Executor = "local",
    ray_address: RayAddress = None,
    heartbeat_timeout: HeartbeatTimeout = DEFAULT_TIMEOUT,
) -> None:
    """Join a running search from any machine that reaches its store: claim and evaluate
    its trials until the budget is finished."""

    def body() -> None:
        from nasforge.ui.run_search import RunOptions, run_stored

        options = RunOptions(workers, executor, ray_address, heartbeat_timeout).check()
        run_stored(name, _storage(storage), _cache_dir(), options, join=True)

    _run(body)


@app.command("list")
def list_searches(
    storage: Storage = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the searches in a store."""

    def body() -> None:
        from nasforge.ui.show_command import list_command

        store = _read_store(storage)
        try:
            list_command(store, as_json)
        finally:
            store.close()

    _run(body)


@app.command()
def show(
    name: Annotated[str, typer.Argument(help="Search name.")],
    storage: Storage = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    show_all: Annotated[bool, typer.Option(
        "--all", help="List every trial (default: the Pareto front and the top 20 others).")
    ] = False,
) -> None:
    """Show a search: the Pareto front, the best other trials and metrics."""

    def body() -> None:
        from nasforge.ui.show_command import show_command

        store = _read_store(storage)
        try:
            show_command(store, name, as_json, show_all)
        finally:
            store.close()

    _run(body)


@app.command()
def upgrade(storage: Storage = None) -> None:
    """Bring a store written by an older nasforge to this version's schema (back it up
    first: older nasforge versions cannot open it afterwards). list, show, export and the
    dashboard read an older store as it is and never change it; search, resume and worker
    upgrade it when they open it."""

    def body() -> None:
        from nasforge.store import upgrade_database
        from nasforge.store.dberrors import safe_url

        before, after = upgrade_database(_storage(storage))
        url = safe_url(_storage(storage))
        if before == after:
            typer.echo(f"store {url}: already at schema {after}; nothing to do")
        else:
            typer.echo(f"store {url}: upgraded from schema {before} to {after}")

    _run(body)


@app.command()
def benchmark(
    name: Annotated[str, typer.Argument(
        help="Table: nb201, fcnet, or a table registered with nasforge.benchmark.register_table.")],
    dataset: Annotated[str | None, typer.Option(
        help="nb201: cifar10, cifar100, imagenet; fcnet: protein, naval, parkinsons, slice "
             "(default: the first).")] = None,
    strategy: Annotated[str, typer.Option(
        help="Strategy, or several separated by commas (random,evolution,bayesian).")]
    = "random",
    budget: Annotated[int, typer.Option(help="Trials per run.")] = 100,
    repeats: Annotated[int, typer.Option(help="Runs per strategy (seeds 0..repeats-1).")] = 10,
    seeds: Annotated[str | None, typer.Option(
        help="The repeats' seeds, comma-separated, one per repeat (e.g. 10,11,12; default "
             "0..repeats-1).")] = None,
    objectives: Annotated[str | None, typer.Option(
        help="Comma-separated metric:direction (default: accuracy:max on nb201, loss:min on "
             "fcnet); e.g. accuracy:max,params:min.")] = None,
    strategy_option: Annotated[list[str] | None, typer.Option(
        "--strategy-option", help="key=value for every strategy, or strategy.key=value for "
        "one; repeat the option for several.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Compare strategies on a published benchmark table against exact baselines (the
    optimum, random search's exact expected best, the exact Pareto front)."""

    def body() -> None:
        from nasforge.ui.benchmark_command import run_benchmark_command

        run_benchmark_command(name, dataset, strategy, budget=budget, repeats=repeats,
                              seeds=seeds, objectives=objectives,
                              strategy_option=strategy_option or [], as_json=as_json)

    _run(body)


@app.command()
def export(
    name: Annotated[str, typer.Argument(help="Search name.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to create (new or empty); "
                                      "one trial_NNNN/ folder per exported trial.")],
    trial: Annotated[int | None, typer.Option("--trial", help="Export trial N.")] = None,
    best: Annotated[str | None, typer.Option("--best", help="Export the best trial by this "
                                             "objective (its direction).")] = None,
    pareto: Annotated[bool, typer.Option("--pareto", help="Export the Pareto front of the "
                                         "search's objectives.")] = False,
    weights: Annotated[bool, typer.Option("--weights", help="Write weights.pt (a state_dict "
                                          "of model.py's Model).")] = False,
    onnx: Annotated[bool, typer.Option("--onnx", help="Write model.onnx, checked with "
                                       "onnxruntime (pip install 'nasforge[export]').")] = False,
    retrain: Annotated[bool, typer.Option("--retrain", help="Train the weights afresh with "
                                          "the trial's own hyper-parameters and seed "
                                          "(default: the trial's stored checkpoint); implies "
                                          "--weights.")]
    = False,
    storage: Storage = None,
) -> None:
    """Export trials as standalone PyTorch code (model.py), weights and ONNX."""

    def body() -> None:
        from nasforge.ui.export_command import ExportRequest, run_export

        run_export(ExportRequest(name, out, trial=trial, best=best, pareto=pareto,
                                 weights=weights, onnx=onnx, retrain=retrain),
                   _storage(storage), lambda: _read_store(storage), _cache_dir())

    _run(body)


@app.command()
def dashboard(
    storage: Storage = None,
    port: Annotated[int, typer.Option("--port", help="Port to serve on.")] = 8501,
    host: Annotated[str, typer.Option("--host", help="Address to bind (0.0.0.0 to serve "
                                      "other machines).")] = "127.0.0.1",
) -> None:
    """Browse searches in a Streamlit dashboard (reads the store, never writes)."""

    def body() -> Launch:
        from nasforge.ui.dashboard_launch import streamlit_launch

        return streamlit_launch(_storage(storage), port=port, host=host, environ=os.environ,
                                cache_dir=_cache_dir())

    launch = _run(body)
    typer.echo(f"nasforge dashboard on http://{host}:{port} (Ctrl-C stops it)")
    # the server replaces this process (one pid to stop); the URL travels in its environment
    os.execve(launch.argv[0], launch.argv, launch.env)


@app.command()
def layers(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """List what a search space may contain: activations, norms, bit widths, families and
    cell operations (the names [space] accepts)."""

    def body() -> None:
        from nasforge.ui.layers_command import print_layers

        print_layers(as_json)

    _run(body)


def main() -> None:
    """The `nasforge` command; it ends without the interpreter's teardown (`finish`)."""
    try:
        app()
    except SystemExit as stop:
        finish(stop.code)
