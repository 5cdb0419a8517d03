"""The per-trial queries are answered through indexes, so a trial costs the same at any
history size (issue 19): SQLite's query plan, not a timing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from nasforge.objectives import parse_objectives
from nasforge.searchspace.architecture import Architecture
from nasforge.store import open_store
from nasforge.store.engine import current_revision
from nasforge.store.schema import SCHEMA_REVISION


def _plan(path: Path, sql: str) -> str:
    with sqlite3.connect(path) as con:
        return "; ".join(str(row[-1]) for row in con.execute(f"EXPLAIN QUERY PLAN {sql}"))


def test_the_duplicate_check_looks_up_arch_ids_within_the_search(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    store = open_store(f"sqlite:///{path}")
    store.create_search("s", parse_objectives(["accuracy:max"]), 10_000, {})
    store.add_trials("s", [Architecture({"x": i}) for i in range(300)])
    added = store.add_trials("s", [Architecture({"x": 5}), Architecture({"x": 300})],
                             unique=True)
    store.close()
    assert [t.arch["x"] for t in added] == [300]
    plan = _plan(path, "SELECT arch_id FROM trials WHERE search_id = 1 AND arch_id IN "
                       "('a', 'b') AND created_at != '2026-12-06'")
    assert "ix_trials_search_id_arch_id (search_id=? AND arch_id=?)" in plan, plan


def test_a_revision_0004_store_gains_the_index_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    open_store(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as con:  # back to revision 0004's indexes and tables
        con.execute("DROP TABLE prefilter_pools")
        con.execute("DROP INDEX ix_trials_search_id_arch_id")
        con.execute("DROP INDEX ix_trials_search_id_worker_state")
        con.execute("DROP INDEX ix_trial_metrics_name_value")
        con.execute("CREATE INDEX ix_trials_arch_id ON trials (arch_id)")
        con.execute("UPDATE alembic_version SET version_num = '0004'")
    store = open_store(f"sqlite:///{path}")
    with store.engine.connect() as conn:
        assert current_revision(conn) == SCHEMA_REVISION
    store.close()
    with sqlite3.connect(path) as con:
        names = {row[0] for row in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'trials'")}
    assert "ix_trials_search_id_arch_id" in names and "ix_trials_arch_id" not in names
    assert "ix_trials_search_id_worker_state" in names


def test_best_values_and_worker_counts_are_answered_from_indexes(tmp_path: Path) -> None:
    """`best_trials` walks the metric's (name, value) index from its best end; worker counts
    read (search_id, worker, state) alone (revision 0006)."""
    path = tmp_path / "s.db"
    open_store(f"sqlite:///{path}").close()
    best = _plan(path, "SELECT m.value FROM trial_metrics m JOIN trials t ON t.id = m.trial_id "
                       "WHERE t.search_id = 1 AND t.state = 'COMPLETE' AND m.name = 'a' "
                       "AND m.value > -1e999 AND m.value < 1e999 ORDER BY m.value DESC LIMIT 1")
    assert "USING INDEX ix_trial_metrics_name_value" in best and "TEMP B-TREE" not in best, best
    workers = _plan(path, "SELECT worker, state, count(*) FROM trials WHERE search_id = 1 "
                          "AND worker IS NOT NULL AND state != 'WAITING' GROUP BY worker, state")
    assert "COVERING INDEX ix_trials_search_id_worker_state" in workers, workers
