"""`nasforge export` on data that changed since the search ran: a tiny search on a CSV
through the CLI, then the CSV is edited (a column rescaled, a column added) and exported.

Without --retrain the export is refused (exit 2, the message names the file and what
changed, nothing is written, the store is untouched): model.py's standardisation and the
stored weights would not fit each other. --retrain trains on the new data knowingly: a
warning names the change and the export's README.txt records it. A search stored without a
fingerprint (an older store) exports as before, with a note."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from csv_search import run_csv_search
from typer.testing import CliRunner

from nasforge.ui.cli import app

runner = CliRunner()


@dataclass(frozen=True)
class Searched:
    folder: Path
    url: str
    db: Path
    csv: Path
    original: bytes


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Searched]:
    folder = tmp_path_factory.mktemp("export_data_changed")
    url = run_csv_search(folder, offset=(0.0, 5.0, -50.0, 2.0))
    db = folder / "n.db"
    yield Searched(folder, url, db, folder / "rows.csv", (folder / "rows.csv").read_bytes())


@pytest.fixture
def data(searched: Searched, monkeypatch: pytest.MonkeyPatch) -> Iterator[Searched]:
    """The search, its CSV restored after the test."""
    monkeypatch.setenv("NASFORGE_CACHE_DIR", str(searched.folder / "cache"))
    try:
        yield searched
    finally:
        searched.csv.write_bytes(searched.original)


def _rescale(csv: Path) -> None:
    frame = pd.read_csv(csv)
    frame["c"] = frame["c"] * 1000.0  # other units: same shape, same labels, other scale
    frame.to_csv(csv, index=False)


def _add_column(csv: Path) -> None:
    frame = pd.read_csv(csv)
    frame.insert(2, "e", np.arange(len(frame), dtype=float))
    frame.to_csv(csv, index=False)


def _add_text_column(csv: Path) -> None:
    frame = pd.read_csv(csv)
    frame["note"] = "checked"  # the file no longer loads: the change is named all the same
    frame.to_csv(csv, index=False)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _export(data: Searched, out: Path, *args: str) -> object:
    return runner.invoke(app, ["export", "rows", "--trial", "0", "-o", str(out),
                               "--storage", data.url, *args])


@pytest.mark.parametrize(("change", "named"), [(_rescale, "content changed"),
                                                (_add_column, "shape changed"),
                                                (_add_text_column, "no longer loads")])
@pytest.mark.parametrize("args", [(), ("--weights",)])
def test_export_refuses_data_changed_since_the_search(data: Searched, tmp_path: Path, change,
                                                      named: str, args: tuple[str, ...]
                                                      ) -> None:
    change(data.csv)
    before = _sha256(data.db)
    out = tmp_path / "out"
    result = _export(data, out, *args)
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "Traceback" not in text
    assert "rows" in text and str(data.csv) in text and named in text, text
    assert "changed since the search ran" in text, text
    if change is not _add_text_column:  # the knowing way to export from the new data
        assert "--retrain" in text, text
    else:  # why it does not load, too
        assert "'note' are not numeric" in text, text
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]  # no staging
    assert _sha256(data.db) == before


def test_export_of_unchanged_data_says_nothing_about_it(data: Searched, tmp_path: Path
                                                        ) -> None:
    result = _export(data, tmp_path / "out", "--weights")
    assert result.exit_code == 0, result.output
    said = result.output.replace(str(tmp_path), "OUT")
    assert "fingerprint" not in said and "changed" not in said and "warning" not in said
    readme = (tmp_path / "out" / "trial_0000" / "README.txt").read_text()
    assert "differs" not in readme


def test_retrain_on_changed_data_warns_and_records_the_change(data: Searched, tmp_path: Path
                                                              ) -> None:
    _rescale(data.csv)
    out = tmp_path / "out"
    result = _export(data, out, "--retrain")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "warning" in text and str(data.csv) in text and "content changed" in text, text
    readme = " ".join((out / "trial_0000" / "README.txt").read_text().split())
    assert "content changed" in readme and "retrained" in readme, readme
    module_text = (out / "trial_0000" / "model.py").read_text()
    # model.py standardises with the new data's statistics: column c's mean went from about
    # -50 to about -50000
    mean_line = module_text.split("INPUT_MEAN = (", 1)[1].split(")", 1)[0]
    means = [float(v) for v in mean_line.replace("\n", " ").split(",") if v.strip()]
    assert len(means) == 4 and abs(means[2]) > 5000, means


def test_a_search_stored_without_a_fingerprint_exports_with_a_note(data: Searched,
                                                                   tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    shutil.copyfile(data.db, old)
    with sqlite3.connect(old) as conn:  # as a store written before schema revision 0004 is
        conn.execute("UPDATE searches SET data_fingerprint = NULL")
    out = tmp_path / "out"
    result = runner.invoke(app, ["export", "rows", "--trial", "0", "-o", str(out),
                                 "--storage", f"sqlite:///{old}"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "note:" in text and "without a data fingerprint" in text, text
    assert (out / "trial_0000" / "model.py").is_file()
