"""The pre-filter's pools kept with the search (a row each, `Store.add_pool`), on SQLite and
PostgreSQL: every score of every pool (non-finite ones too) reads back as written, in order,
without touching the diagnostics; joined workers adding pools to one search keep them all; a
search without pools reads none. And `nasforge search` with a pre-filter loads its data once."""

from __future__ import annotations

import math
import threading

import pytest
from pg_schema import scratch_schema

import nasforge.evaluator.data as data_module
from nasforge.objectives import parse_objectives
from nasforge.prefilter_pools import PoolArchive
from nasforge.searchspace.architecture import Architecture
from nasforge.store import open_store
from nasforge.strategies.prefilter import Pool


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'pools.db'}"
        return
    with scratch_schema("pools") as url:
        yield url


@pytest.fixture
def store(url):
    store = open_store(url)
    yield store
    store.close()


def test_pools_round_trip_in_order_and_leave_the_diagnostics_alone(store) -> None:
    store.create_search("s", parse_objectives(["accuracy:max"]), 10, {"search": {"name": "s"}})
    archive = PoolArchive(store, "s")
    assert archive.load() == []
    store.set_diagnostics("s", {"note": 1})
    a, b, c = (Architecture({"x": i}) for i in range(3))
    pools = [Pool(a.arch_id, (b,), {a.arch_id: {"synflow": 2.5, "zc_seconds": 0.01},
                                    b.arch_id: {"synflow": -math.inf, "zc_seconds": 0.02}}),
             Pool(c.arch_id, (), {c.arch_id: {"synflow": 1e30}})]
    for pool in pools:
        archive.keep(pool)
    assert PoolArchive(store, "s").load() == pools
    assert store.get_search("s").diagnostics == {"note": 1}
    assert PoolArchive(store, "missing").load() == []


def test_joined_workers_keep_every_pool(url) -> None:
    """Two workers (a store each, as `nasforge worker` opens) add pools to one search at once:
    none is lost, and each worker's pools stay in its order."""
    starter = open_store(url)
    starter.create_search("s", parse_objectives(["accuracy:max"]), 100, {})
    workers = [starter, open_store(url)]
    start = threading.Barrier(2)

    def mine(w: int) -> list[Pool]:
        archs = [Architecture({"worker": w, "i": i}) for i in range(20)]
        return [Pool(arch.arch_id, (), {arch.arch_id: {"synflow": float(i)}})
                for i, arch in enumerate(archs)]

    def keep(w: int) -> None:
        archive = PoolArchive(workers[w], "s")
        start.wait()
        for pool in mine(w):
            archive.keep(pool)

    threads = [threading.Thread(target=keep, args=(w,)) for w in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        kept = PoolArchive(starter, "s").load()
        assert len(kept) == 40
        for w in range(2):
            assert [p for p in kept if p in mine(w)] == mine(w)
    finally:
        for s in workers:
            s.close()


CONFIG = """
[search]
name = "zc"
budget = 2
objectives = ["accuracy:max"]
strategy = "random"
strategy_options = { prefilter = { proxy = "synflow", pool = 3 } }
seed = 0

[data]
dataset = "digits"

[training]
epochs = 1
measure_latency = false

[space]
families = ["mlp"]

[space.mlp]
depth = { low = 1, high = 2 }
width = [8, 16]
"""


def test_a_prefiltered_search_loads_its_data_once(tmp_path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from nasforge.ui.cli import app

    loads: list[str] = []
    real = data_module.load_dataset

    def counted(name, *args, **kwargs):
        loads.append(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(data_module, "load_dataset", counted)
    config = tmp_path / "zc.toml"
    config.write_text(CONFIG)
    url = f"sqlite:///{tmp_path / 's.db'}"
    result = CliRunner().invoke(app, ["search", str(config), "--storage", url])
    assert result.exit_code == 0, result.output
    assert loads == ["digits"]
    with open_store(url) as store:
        pools = store.pools("zc")
        assert [p["winner"] for p in pools] == [t.arch.arch_id for t in store.trials("zc")]
