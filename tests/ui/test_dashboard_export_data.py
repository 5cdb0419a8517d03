"""The trial page's "Export model.py" button on data that changed since the search ran: a
tiny `nasforge search` on a CSV, the CSV edited, the trial page opened by its URL. The page
shows an error box naming the file and the change instead of the button (model.py would
carry the new data's standardisation); on unchanged data the button is there and the page
has no error box (`CheckedAppTest`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("streamlit")
pytest.importorskip("plotly")

from csv_search import run_csv_search  # noqa: E402
from dashboard_helpers import app_test, open_page  # noqa: E402


def _csv_search(folder: Path) -> tuple[str, Path]:
    """(store URL, CSV) of a one-trial search on a four-column CSV."""
    return run_csv_search(folder), folder / "rows.csv"


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
