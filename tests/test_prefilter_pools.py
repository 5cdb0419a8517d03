"""The pre-filter's pools kept with the search (its diagnostics), on SQLite and PostgreSQL:
every score of every pool (non-finite ones too) reads back as written, in order, next to
other diagnostics, and a search without pools reads none."""

from __future__ import annotations

import math

import pytest
from pg_schema import scratch_schema

from nasforge.objectives import parse_objectives
from nasforge.prefilter_pools import PoolArchive
from nasforge.searchspace.architecture import Architecture
from nasforge.store import open_store
from nasforge.strategies.prefilter import Pool


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        store = open_store(f"sqlite:///{tmp_path / 'pools.db'}")
        yield store
        store.close()
        return
    with scratch_schema("pools") as url:
        store = open_store(url)
        yield store
        store.close()


def test_pools_round_trip_in_order_beside_other_diagnostics(store) -> None:
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
    assert store.get_search("s").diagnostics["note"] == 1
    assert PoolArchive(store, "missing").load() == []
