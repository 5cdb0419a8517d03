"""The data fingerprint: stable for the same data, and a message that names what changed
(content / shape / split), the file and the fix."""

from __future__ import annotations

import hashlib
from pathlib import Path

from nasforge.config import DataConfig
from nasforge.evaluator.data import load_dataset
from nasforge.evaluator.data.fingerprint import CHUNK_BYTES, compare, data_fingerprint, file_sha256


def _csv(path: Path, rows: int = 50) -> DataConfig:
    path.write_text("a,b,label\n" + "".join(f"{i},{i % 7},{i % 2}\n" for i in range(rows)))
    return DataConfig(f"csv:{path}", options={"target": "label"})


def _fingerprint(data: DataConfig, seed: int = 0) -> dict:
    dataset = load_dataset(data.dataset, seed=seed, options=data.options)
    return data_fingerprint(data, dataset)


def test_the_same_data_gives_the_same_fingerprint(tmp_path: Path) -> None:
    data = _csv(tmp_path / "d.csv")
    first = _fingerprint(data)
    assert first == _fingerprint(data)
    assert compare(first, _fingerprint(data), "s") is None
    assert first["files"] == {str(tmp_path / "d.csv"): hashlib.sha256(
        (tmp_path / "d.csv").read_bytes()).hexdigest()}


def test_a_file_larger_than_a_chunk_is_hashed_whole(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(range(256)) * (CHUNK_BYTES // 128 + 3))
    assert file_sha256(big) == hashlib.sha256(big.read_bytes()).hexdigest()


def test_a_split_change_alone_is_named_as_such(tmp_path: Path) -> None:
    data = _csv(tmp_path / "d.csv")
    stored = _fingerprint(data, seed=0)
    problem = compare(stored, _fingerprint(data, seed=1), "s")
    assert problem is not None
    message = str(problem)
    assert "split changed" in message and "content" not in message and "shape" not in message
    assert str(tmp_path / "d.csv") in message and "another name" in message


def test_content_and_shape_changes_are_named(tmp_path: Path) -> None:
    data = _csv(tmp_path / "d.csv")
    stored = _fingerprint(data)
    _csv(tmp_path / "d.csv", rows=60)
    message = str(compare(stored, _fingerprint(data), "s"))
    assert "content changed" in message and "shape changed" in message
    assert "30/10/10" in message and "36/12/12" in message


def test_builtin_data_is_identified_by_name_shape_and_split() -> None:
    data = DataConfig("digits")
    stored = _fingerprint(data)
    assert stored["files"] == {}
    assert compare(stored, _fingerprint(data), "s") is None
    assert "split changed" in str(compare(stored, _fingerprint(data, seed=3), "s"))


class _RacedStore:
    """A store whose first `data_fingerprint` read misses what another worker has just
    stored (it read before that worker's write committed)."""

    def __init__(self, store) -> None:
        self.store, self.raced = store, False

    def __getattr__(self, name: str):
        return getattr(self.store, name)

    def data_fingerprint(self, name: str):
        if not self.raced:
            self.raced = True
            return None
        return self.store.data_fingerprint(name)


def test_a_worker_that_loses_the_first_fingerprint_write_compares_with_the_winner(
        tmp_path: Path) -> None:
    import pytest

    from nasforge.config import from_dict
    from nasforge.errors import DataError
    from nasforge.search import Search
    from nasforge.store import open_store

    data = _csv(tmp_path / "d.csv")
    winner = _fingerprint(data)
    _csv(tmp_path / "d.csv", rows=60)  # the loser's copy of the data differs
    loser = _fingerprint(data)
    config = from_dict({
        "search": {"name": "s", "budget": 2, "objectives": ["accuracy:max"]},
        "data": {"dataset": f"csv:{tmp_path / 'd.csv'}", "target": "label"},
        "space": {"families": ["mlp"], "activation": ["relu"], "norm": ["none"], "lr": 0.01,
                  "mlp": {"depth": 1, "width": [8, 16]}}})
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    try:
        store.create_search("s", config.objectives, 2, config.raw)  # before fingerprints
        store.set_data_fingerprint("s", winner)  # the other worker's write
        search = Search(config, _RacedStore(store), evaluator=None, join=True,  # type: ignore
                        data_fingerprint=loser)
        with pytest.raises(DataError, match="shape changed"):
            search.check()
        assert store.data_fingerprint("s") == winner
    finally:
        store.close()
