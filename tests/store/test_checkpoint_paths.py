"""Trial checkpoint paths in the store (every backend of conftest.py): recorded by `finish`,
cleared by `clear_checkpoints` (the one change a finished trial allows), and a store of the
first schema (0001) upgrades in place when opened."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from sqlalchemy import create_engine, text
from store_helpers import Backend, arch

from nasforge.errors import StoreError
from nasforge.records import EvalResult, TrialState
from nasforge.store import SQLStore
from nasforge.store.engine import MIGRATIONS_DIR, current_revision
from nasforge.store.schema import SCHEMA_REVISION

C = TrialState.COMPLETE


def test_finish_records_the_checkpoint_path(store: SQLStore, search: str) -> None:
    a, b = store.add_trials(search, [arch(0), arch(1)], TrialState.RUNNING)
    done = store.finish(search, a.number, EvalResult(C, {"accuracy": 1.0},
                                                     checkpoint="s/abc.pt"))
    assert done.checkpoint == "s/abc.pt"
    store.finish(search, b.number, EvalResult(C, {"accuracy": 0.5}))
    assert [t.checkpoint for t in store.trials(search)] == ["s/abc.pt", None]
    assert store.trial(search, a.number).checkpoint == "s/abc.pt"
    (waiting,) = store.add_trials(search, [arch(2)])
    assert waiting.checkpoint is None
    assert store.claim(search, 1)[0].checkpoint is None


def test_clear_checkpoints_changes_only_the_paths(store: SQLStore, search: str) -> None:
    trials = store.add_trials(search, [arch(i) for i in range(3)], TrialState.RUNNING)
    for t in trials:
        store.finish(search, t.number, EvalResult(C, {"accuracy": 0.1 * t.number},
                                                  checkpoint=f"s/{t.number}.pt"))
    before = store.trials(search)
    assert store.clear_checkpoints(search, [0, 2, 2, 7]) == [0, 2]
    assert store.clear_checkpoints(search, [0]) == []  # already cleared
    assert store.clear_checkpoints(search, []) == []
    after = store.trials(search)
    assert [t.checkpoint for t in after] == [None, "s/1.pt", None]
    for old, new in zip(before, after, strict=True):
        assert (old.state, old.metrics, old.finished_at) == (new.state, new.metrics,
                                                             new.finished_at)


@pytest.mark.parametrize("bad", ["", 3, "x" * 5000])
def test_a_bad_checkpoint_path_is_refused_and_changes_nothing(store: SQLStore, search: str,
                                                              bad: object) -> None:
    (t,) = store.add_trials(search, [arch(0)], TrialState.RUNNING)
    with pytest.raises(StoreError, match="checkpoint path"):
        store.finish(search, t.number, EvalResult(C, {"accuracy": 1.0},
                                                  checkpoint=bad))  # type: ignore[arg-type]
    assert store.trial(search, t.number).state is TrialState.RUNNING


def test_a_first_schema_store_upgrades_on_open(backend: Backend) -> None:
    if not backend.shared:
        pytest.skip("needs a database that outlives a store")
    from alembic import command
    from alembic.config import Config

    engine = create_engine(backend.url)
    with engine.begin() as conn:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
        assert current_revision(conn) == "0001"
        conn.execute(text("INSERT INTO searches (name, objectives, budget, config, "
                          "created_at) VALUES ('old', :objectives, 5, '{}', :now)"),
                     {"objectives": json.dumps([{"metric": "accuracy", "direction": "max"}]),
                      "now": datetime(2025, 1, 1)})
        conn.execute(text("INSERT INTO trials (search_id, number, arch_json, arch_id, state) "
                          "SELECT id, 0, :json, :aid, 'COMPLETE' FROM searches"),
                     {"json": arch(0).json, "aid": arch(0).arch_id})
    engine.dispose()
    with backend.open(create=False) as store:
        assert store.trial("old", 0).checkpoint is None
        (t,) = store.add_trials("old", [arch(1)], TrialState.RUNNING)
        assert t.number == 1 and t.checkpoint is None
        done = store.finish("old", t.number, EvalResult(C, {"accuracy": 1.0},
                                                        checkpoint="old/x.pt"))
        assert done.checkpoint == "old/x.pt"
        with store.engine.connect() as conn:
            assert current_revision(conn) == SCHEMA_REVISION
