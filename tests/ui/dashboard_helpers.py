"""Stores for the dashboard tests: a real tabular NB201 search (random and evolution on one
space, so History has a reference line), digits-MLP trials with curves (for the layer
stack and model.py export), written through the Store API, without torch, and real
searches run by `nasforge search` (an MLP search over epochs, a cell search), whose trials
carry every metric the evaluator reports.

`open_page` opens a dashboard page under `CheckedAppTest`, which fails a test on any
exception or error box after every run (the first, a page switch, a widget change)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from nasforge.benchmark import tabular_config
from nasforge.config import load
from nasforge.objectives import parse_objectives
from nasforge.records import CurvePoint, EvalResult, TrialState
from nasforge.search import Search
from nasforge.store import open_store

ROOT = Path(__file__).parents[2]
OBJECTIVES = parse_objectives(["accuracy:max", "params:min"])


def tabular_store(folder: Path, budget: int = 40) -> str:
    from nasforge.benchmark import TabularBenchmark

    url = f"sqlite:///{folder / 'tabular.db'}"
    bench = TabularBenchmark.load("nb201", "cifar10")
    store = open_store(url)
    try:
        for strategy in ("evolution", "random"):
            config = tabular_config(bench, strategy, OBJECTIVES, budget, 0, name=strategy)
            Search(config, store, bench).run()
    finally:
        store.close()
    return url


def digits_store(folder: Path, n: int = 12) -> str:
    """`n` trials of the quickstart space (metrics made up, one FAILED) in search "digits"."""
    url = f"sqlite:///{folder / 'digits.db'}"
    config = load(ROOT / "examples" / "quickstart.toml")
    rng = np.random.default_rng(0)
    archs = config.space.sample_distinct(n, rng)
    store = open_store(url)
    try:
        store.create_search("digits", OBJECTIVES, n, config.raw)
        for trial in store.add_trials("digits", archs, TrialState.RUNNING):
            if trial.number == n - 1:
                store.finish("digits", trial.number, EvalResult.failed("diverged (NaN loss)"))
                continue
            accuracy = float(rng.uniform(0.7, 0.98))
            curve = tuple(CurvePoint(e, {"train_loss": 1.0 / (e + 1), "val_loss": 1.2 / (e + 1),
                                         "val_accuracy": accuracy * (e + 1) / 3})
                          for e in range(3))
            store.finish("digits", trial.number, EvalResult(
                TrialState.COMPLETE, {"accuracy": accuracy, "params": float(rng.integers(
                    1000, 50000)), "latency_ms": float(rng.uniform(0.1, 2))}, curve))
    finally:
        store.close()
    return url


def latency_store(folder: Path) -> str:
    """Searches "wide" (latency_ms spans four decades: a log axis by default) and "zero"
    (one latency_ms is 0: no log axis possible), 6 COMPLETE trials each."""
    url = f"sqlite:///{folder / 'latency.db'}"
    config = load(ROOT / "examples" / "quickstart.toml")
    archs = config.space.sample_distinct(6, np.random.default_rng(0))
    latencies = {"wide": (0.01, 0.1, 1.0, 3.0, 10.0, 100.0), "zero": (0.0, 1, 2, 3, 4, 5)}
    store = open_store(url)
    try:
        for name, values in latencies.items():
            store.create_search(name, OBJECTIVES, len(archs), config.raw)
            for trial, latency in zip(store.add_trials(name, archs, TrialState.RUNNING),
                                      values, strict=True):
                store.finish(name, trial.number, EvalResult(TrialState.COMPLETE, {
                    "accuracy": 0.5 + trial.number / 20, "params": 1000.0 + trial.number,
                    "latency_ms": float(latency)}))
    finally:
        store.close()
    return url


def older_schema_store(folder: Path, revision: str = "0003") -> str:
    """`digits_store`, taken back to schema `revision` (as an older nasforge wrote it)."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine

    from nasforge.store.engine import MIGRATIONS_DIR

    url = digits_store(folder)
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS_DIR))
            config.attributes["connection"] = conn
            command.downgrade(config, revision)
    finally:
        engine.dispose()
    return url


MLP_SEARCH = """
[search]
name = "mlp"
budget = 4
objectives = ["accuracy:max", "params:min"]
seed = 0

[data]
dataset = "digits"

[training]
measure_latency = false

[space]
families = ["mlp"]
activation = ["relu", "gelu"]
norm = ["none", "batch"]
epochs = [1, 2]

[space.mlp]
depth = { low = 1, high = 2 }
width = [16, 32]
"""

CELL_SEARCH = """
[search]
name = "cell"
budget = 3
objectives = ["accuracy:max", "macs:min"]
seed = 0

[data]
dataset = "digits"

[training]
measure_latency = false
epochs = 1

[space]
families = ["cell"]
activation = ["relu"]
norm = ["batch"]

[space.cell]
nodes = 3
ops = ["none", "skip_connect", "nor_conv_3x3"]
channels = [4]
stages = 1
cells_per_stage = 1
"""


def real_store(folder: Path) -> str:
    """Searches "mlp" (epochs searched: the parameter and the metric share a name) and
    "cell", run by `nasforge search` with the real evaluator (a few seconds)."""
    from typer.testing import CliRunner

    from nasforge.ui.cli import app

    url = f"sqlite:///{folder / 'real.db'}"
    for name, text in (("mlp", MLP_SEARCH), ("cell", CELL_SEARCH)):
        config = folder / f"{name}.toml"
        config.write_text(text)
        result = CliRunner().invoke(app, ["search", str(config), "--storage", url])
        assert result.exit_code == 0, result.output
    return url


@contextmanager
def postgres_url_with_password() -> Iterator[tuple[str, str]]:
    """(URL, its password) of an empty schema on the test PostgreSQL server, the URL
    carrying a password (the server's own, else a made-up one: a trust login ignores it);
    skips without ``NASFORGE_TEST_POSTGRES_URL``."""
    from pg_schema import scratch_schema
    from sqlalchemy import make_url

    with scratch_schema("nasforge_dash", password="s3cret-Pw0rd") as url:
        yield url, str(make_url(url).password)


def _checked_app_test() -> type:
    from streamlit.testing.v1 import AppTest

    class CheckedAppTest(AppTest):
        """An AppTest that fails on any exception or error box a run leaves on the page."""

        def _run(self, widget_state=None, timeout=None):  # every run goes through here
            result = super()._run(widget_state, timeout)
            assert_no_error(self)
            return result

    return CheckedAppTest


def assert_no_error(at: object) -> None:
    exceptions = [f"{e.message}\n" + "\n".join(e.stack_trace) for e in at.exception]  # type: ignore
    assert not exceptions, "the page shows an exception:\n" + "\n\n".join(exceptions)
    errors = [e.value for e in at.error]  # type: ignore[attr-defined]
    assert not errors, f"the page shows an error box: {errors}"


def app_test(storage: str | None, script: Path | None = None) -> object:
    """A checked AppTest of the dashboard (or of `script`) on the store at `storage`."""
    from nasforge.ui.dashboard_launch import APP

    at = _checked_app_test()(script or APP, default_timeout=60)
    if storage is not None:
        at.session_state["storage"] = storage
    return at


def open_page(storage: str, url_path: str, **query: object) -> object:
    """The page at `url_path` with `query` in its URL, as a copied link opens it."""
    from nasforge.ui.dashboard import links

    at = app_test(storage)
    at.query_params.update({k: str(v) for k, v in query.items()})  # type: ignore[attr-defined]
    at.run()  # type: ignore[attr-defined]
    at.switch_page(links.spec_for(url_path).script).run()  # type: ignore[attr-defined]
    return at
