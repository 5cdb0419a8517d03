"""Where checkpoints live (root derivation), how stored paths resolve, and pruning to the
Pareto front: exactly the Pareto trials keep their files and recorded paths."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from nasforge.checkpoint_policy import (
    CheckpointError,
    Checkpoints,
    checkpoint_root,
    prune,
    resolve,
    search_checkpoints,
    stored_checkpoint,
)
from nasforge.config import from_dict
from nasforge.records import EvalResult, TrialState
from nasforge.search import Search
from nasforge.searchspace.architecture import Architecture
from nasforge.store import open_store

RAW = {
    "search": {"name": "s", "budget": 12, "objectives": ["accuracy:max", "params:min"]},
    "data": {"dataset": "digits"},
    "space": {"families": ["mlp"], "activation": ["relu", "gelu"], "norm": ["none"],
              "lr": 0.01, "mlp": {"depth": {"low": 1, "high": 3}, "width": [8, 16, 32]}},
}


def config(**training: object):  # type: ignore[no-untyped-def]
    return from_dict({**RAW, "training": training})


@pytest.mark.parametrize("url,expected", [
    ("sqlite:///runs/n.db", "runs/n.db.checkpoints"),
    ("sqlite:///n", "n.checkpoints"),
    ("sqlite://", None),
    ("sqlite:///:memory:", None),
    ("sqlite:///file:x?mode=memory&uri=true", None),
    ("postgresql+psycopg://u:p@host/db", None),
    ("not a url", None),
])
def test_checkpoint_root_beside_a_sqlite_file(url: str, expected: str | None, tmp_path: Path,
                                              monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    root = checkpoint_root(url)
    assert root == (None if expected is None else tmp_path / expected)
    assert checkpoint_root("sqlite:////abs/n.db") == Path("/abs/n.db.checkpoints")


def test_checkpoint_dir_wins_for_every_store(tmp_path: Path) -> None:
    for url in ("postgresql+psycopg://u@h/db", "sqlite:///x.db", "sqlite://"):
        assert checkpoint_root(url, str(tmp_path / "c")) == tmp_path / "c"


def test_search_checkpoints_follow_the_mode(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'n.db'}"
    pareto = search_checkpoints(config(), url)
    assert pareto == Checkpoints(tmp_path / "n.db.checkpoints", "s", prune=True)
    assert pareto.folder == tmp_path / "n.db.checkpoints" / "s"
    assert search_checkpoints(config(checkpoints="all"), url).prune is False
    assert search_checkpoints(config(checkpoints="none"), url) is None
    assert search_checkpoints(config(), "postgresql+psycopg://u@h/db") is None
    pg = search_checkpoints(config(checkpoint_dir=str(tmp_path / "c")), "postgresql://u@h/d")
    assert pg is not None and pg.folder == tmp_path / "c" / "s"


def test_relative_and_resolve_stay_under_the_root(tmp_path: Path) -> None:
    ckpt = Checkpoints(tmp_path / "root", "s")
    assert ckpt.relative(str(tmp_path / "root" / "s" / "a.pt")) == "s/a.pt"
    assert ckpt.relative(str(tmp_path / "elsewhere.pt")) is None
    assert resolve(tmp_path, "s/a.pt") == tmp_path / "s" / "a.pt"
    for hostile in ("../x.pt", "/etc/passwd", "s/../../x", "", "c:\\x"):
        assert resolve(tmp_path, hostile) is None, hostile


class WritingEvaluator:
    """Scripted metrics (accuracy grows with width, params = width * depth); writes a file
    per COMPLETE candidate into `folder`, as LocalEvaluator does."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def evaluate(self, archs: Sequence[Architecture]) -> list[EvalResult]:
        self.folder.mkdir(parents=True, exist_ok=True)
        results = []
        for arch in archs:
            path = self.folder / f"{arch.arch_id}.pt"
            path.write_bytes(b"weights")
            width = arch["mlp.width"]
            results.append(EvalResult(TrialState.COMPLETE, {
                "accuracy": 0.5 + width / 100 + (0.01 if arch["activation"] == "gelu" else 0),
                "params": float(width * arch["mlp.depth"])}, checkpoint=str(path)))
        return results


def pareto_numbers(store, name: str) -> set[int]:  # type: ignore[no-untyped-def]
    from nasforge.export.select import choose_trials

    return {t.number for t in choose_trials(store, name, pareto=True)}


@pytest.mark.parametrize("mode", ["pareto", "all"])
def test_a_search_keeps_exactly_the_pareto_trials_files(tmp_path: Path, mode: str) -> None:
    url = f"sqlite:///{tmp_path / 'n.db'}"
    cfg = config(checkpoints=mode)
    ckpt = search_checkpoints(cfg, url)
    assert ckpt is not None
    with open_store(url) as store:
        Search(cfg, store, WritingEvaluator(ckpt.folder), checkpoints=ckpt).run()
        trials = store.trials("s", [TrialState.COMPLETE])
        front = pareto_numbers(store, "s")
    assert len(trials) == 12 and 0 < len(front) < 12
    kept = {t.number for t in trials if t.checkpoint}
    assert kept == (front if mode == "pareto" else {t.number for t in trials})
    for t in trials:
        if t.checkpoint:
            assert t.checkpoint == f"s/{t.arch_id}.pt"
            assert stored_checkpoint(t, ckpt.root).read_bytes() == b"weights"
    files = {p.name for p in ckpt.folder.iterdir()}
    assert files == {f"{t.arch_id}.pt" for t in trials if t.number in kept}


def test_prune_never_deletes_a_file_a_pareto_trial_names(tmp_path: Path) -> None:
    """Two trials of one architecture share a file; one is dominated, one is not (a rerun
    measured better). A stray file of a dominated trial (a crash after the store was
    cleared) is deleted too."""
    url = f"sqlite:///{tmp_path / 'n.db'}"
    ckpt = Checkpoints(tmp_path / "root", "s")
    ckpt.folder.mkdir(parents=True)
    cfg = config()
    same = Architecture({"family": "mlp", "mlp.width": 8})
    stray = Architecture({"family": "mlp", "mlp.width": 16})
    with open_store(url) as store:
        store.create_search("s", cfg.objectives, 10, cfg.raw)
        a, b, c = store.add_trials("s", [same, same, stray], TrialState.RUNNING)
        (ckpt.folder / f"{same.arch_id}.pt").write_bytes(b"w")
        (ckpt.folder / f"{stray.arch_id}.pt").write_bytes(b"w")
        rel = f"s/{same.arch_id}.pt"
        store.finish("s", a.number, EvalResult(TrialState.COMPLETE,
                                               {"accuracy": 0.5, "params": 10.0},
                                               checkpoint=rel))
        store.finish("s", b.number, EvalResult(TrialState.COMPLETE,
                                               {"accuracy": 0.9, "params": 10.0},
                                               checkpoint=rel))
        store.finish("s", c.number, EvalResult(TrialState.COMPLETE,
                                               {"accuracy": 0.4, "params": 20.0}))
        assert prune(store, cfg.objectives, ckpt) == [a.number]
        by_number = {t.number: t.checkpoint for t in store.trials("s")}
    assert by_number == {a.number: None, b.number: rel, c.number: None}
    assert [p.name for p in ckpt.folder.iterdir()] == [f"{same.arch_id}.pt"]


def test_stored_checkpoint_errors_name_retrain(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'n.db'}"
    cfg = config()
    with open_store(url) as store:
        store.create_search("s", cfg.objectives, 10, cfg.raw)
        (t0, t1, t2) = store.add_trials("s", [Architecture({"w": i}) for i in range(3)],
                                        TrialState.RUNNING)
        done = [store.finish("s", t.number, EvalResult(TrialState.COMPLETE, {"accuracy": 1.0},
                                                       checkpoint=c))
                for t, c in ((t0, None), (t1, "s/gone.pt"), (t2, "../../etc/passwd"))]
    with pytest.raises(CheckpointError, match=r"no stored weights.*--retrain"):
        stored_checkpoint(done[0], tmp_path)
    with pytest.raises(CheckpointError, match=r"no stored weights.*--retrain"):
        stored_checkpoint(done[1], None)
    for record in done[1:]:
        with pytest.raises(CheckpointError, match=r"missing.*--retrain"):
            stored_checkpoint(record, tmp_path)


@pytest.mark.parametrize("training,match", [
    ({"checkpoints": "best"}, r"checkpoints = 'best'.*\"pareto\".*\"all\" or \"none\""),
    ({"checkpoints": True}, r"checkpoints = True"),
    ({"checkpoint_dir": ""}, r"checkpoint_dir = ''.*folder path"),
    ({"checkpoint_dir": 3}, r"checkpoint_dir = 3"),
    ({"checkpoint": "all"}, r"Unknown field 'checkpoint'.*checkpoints"),
])
def test_bad_checkpoint_settings_are_config_errors(training: dict, match: str) -> None:
    from nasforge.errors import ConfigError

    with pytest.raises(ConfigError, match=match):
        config(**training)


def test_checkpoint_dir_is_relative_to_the_config_file(tmp_path: Path) -> None:
    from nasforge.config import load

    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "run.toml"
    path.write_text('[search]\nname = "s"\n[data]\ndataset = "digits"\n'
                    '[training]\ncheckpoints = "all"\ncheckpoint_dir = "ck"\n')
    loaded = load(path)
    assert loaded.training.checkpoints == "all"
    assert loaded.training.checkpoint_dir == str(tmp_path / "sub" / "ck")
    again = from_dict(loaded.raw)  # the stored config (resume) keeps the resolved folder
    assert again.training.checkpoint_dir == str(tmp_path / "sub" / "ck")
    assert config().training.checkpoints == "pareto"
    assert config().training.checkpoint_dir is None


def test_changing_where_checkpoints_go_does_not_block_a_resume(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'n.db'}"
    with open_store(url) as store:
        first = config()
        Search(first.with_overrides(budget=2), store, WritingEvaluator(tmp_path / "x")).run()
        later = config(checkpoints="none").with_overrides(budget=3)
        outcome = Search(later, store, WritingEvaluator(tmp_path / "x"), resume=True).run()
        assert outcome.complete == 3
        # no checkpoint root given to the search: no path is recorded
        assert all(t.checkpoint is None for t in store.trials("s"))
