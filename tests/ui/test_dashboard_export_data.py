"""The trial page's "Export model.py" button on data that changed since the search ran: a
tiny `nasforge search` on a CSV, the CSV edited, the trial page opened by its URL. The page
shows an error box naming the file and the change instead of the button (model.py would
carry the new data's standardisation); on unchanged data the button is there and the page
has no error box (`CheckedAppTest`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("streamlit")
pytest.importorskip("plotly")

from dashboard_helpers import app_test, open_page  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from nasforge.ui.cli import app  # noqa: E402

SEARCH = """[search]
name = "rows"
budget = 1
seed = 3
[data]
dataset = "csv:rows.csv"
[training]
epochs = 1
batch_size = 256
measure_latency = false
[space]
families = ["mlp"]
norm = ["batch"]
activation = ["tanh"]
[space.mlp]
depth = 1
width = 8
"""


def _csv_search(folder: Path) -> tuple[str, Path]:
    """(store URL, CSV) of a one-trial search on a four-column CSV."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(160, 4)) * [1.0, 10.0, 100.0, 0.5]
    frame = pd.DataFrame(x, columns=["a", "b", "c", "d"])
    frame["target"] = (x[:, 0] + x[:, 1] / 10 > 0.5).astype(int)
    frame.to_csv(folder / "rows.csv", index=False)
    (folder / "run.toml").write_text(SEARCH)
    url = f"sqlite:///{folder / 'n.db'}"
    result = CliRunner().invoke(app, ["search", str(folder / "run.toml"), "--storage", url])
    assert result.exit_code == 0, result.output
    return url, folder / "rows.csv"


def test_export_button_on_unchanged_data(tmp_path: Path) -> None:
    url, _ = _csv_search(tmp_path)
    at = open_page(url, "trial", search="rows", trial=0)  # fails on any error box
    assert at.get("download_button"), "no export button"


def test_export_button_refuses_data_changed_since_the_search(tmp_path: Path) -> None:
    from nasforge.ui.dashboard import links

    url, csv = _csv_search(tmp_path)
    frame = pd.read_csv(csv)
    frame["c"] = frame["c"] * 1000.0  # other units: the standardisation would differ
    frame.to_csv(csv, index=False)
    at = app_test(url)
    at.query_params.update({"search": "rows", "trial": "0"})  # type: ignore[attr-defined]
    at.run()  # type: ignore[attr-defined]
    with pytest.raises(AssertionError, match="error box"):  # the expected error box
        at.switch_page(links.spec_for("trial").script).run()  # type: ignore[attr-defined]
    assert not at.exception  # type: ignore[attr-defined]
    (error,) = at.error  # type: ignore[attr-defined]
    text = " ".join(error.value.split())
    assert str(csv) in text and "content changed" in text and "--retrain" in text, text
    assert not at.get("download_button")  # type: ignore[attr-defined]
    titles = [chart.proto.spec for chart in at.get("plotly_chart")]  # type: ignore[attr-defined]
    assert any("Layer stack of trial 0" in spec for spec in titles)  # the page still works


def test_data_that_no_longer_loads_is_named_as_changed(tmp_path: Path) -> None:
    url, csv = _csv_search(tmp_path)
    frame = pd.read_csv(csv)
    frame["note"] = "checked"  # a text column: the CSV no longer loads
    frame.to_csv(csv, index=False)
    at = open_page(url, "trial", search="rows", trial=0)
    captions = " ".join(" ".join(c.value.split()) for c in at.caption)  # type: ignore
    assert f"{csv}: content changed" in captions and "no longer loads" in captions, captions
    assert not at.get("download_button")  # type: ignore[attr-defined]
