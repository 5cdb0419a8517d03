"""Export only from the data the search ran on (torch-free).

model.py carries the input preprocessing of the data loaded at export time (the train
split's mean and std), and --weights the trial's stored checkpoint, trained on the search's
data. If the data changed since the search (other columns, other scale, other rows), the two
no longer fit and model.py mispredicts on the data the search ran on. `check_export_data`
compares the stored fingerprint with the data's now, by the comparison `resume` and `worker`
use (`nasforge.evaluator.data.fingerprint.changes`):

    same data                -> None
    changed, not retraining  -> DataError (the CLI exits 2; the dashboard shows it)
    changed, --retrain       -> a warning naming the change: the weights are trained afresh on
                                the data as it is now, so model.py and weights.pt fit each
                                other (but not the search's metrics); README.txt records it
    no stored fingerprint    -> a note: a search stored by an older nasforge; nothing checked

Data that no longer loads is compared by its files' bytes alone (`load_failure`), so the
error says the file changed since the search, not only why it does not load.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nasforge.errors import DataError, NasforgeError
from nasforge.evaluator.data.fingerprint import changes, data_files, file_sha256

if TYPE_CHECKING:
    from nasforge.config import DataConfig


@dataclass(frozen=True, slots=True)
class DataNotice:
    """What the export says about its data: `level` "note" or "warning", and the text."""

    level: str
    text: str


def check_export_data(search: str, stored: Mapping[str, object] | None,
                      now: Mapping[str, object], *, retrain: bool) -> DataNotice | None:
    """None when `now` (the fingerprint of the data loaded for the export) is the data search
    `search` ran on (`stored`); DataError when it is not and the export would use it without
    retraining; a DataNotice otherwise (module docstring)."""
    if stored is None:
        return DataNotice("note", (
            f"search {search!r} was stored without a data fingerprint (by an older nasforge), "
            "so the export cannot check that the data is still what the search ran on; "
            "model.py carries the input preprocessing of the data as it is now."))
    found = "; ".join(changes(stored, now))
    if not found:
        return None
    if retrain:
        return DataNotice("warning", (
            f"the data changed since search {search!r} ran ({found}); --retrain trains the "
            "weights on the data as it is now, so the exported model is not the search's "
            "trial: its stored metrics do not apply, the retrained ones do."))
    raise DataError(
        f"Cannot export search {search!r}: its data changed since the search ran "
        f"({found}). model.py would standardise its input with the new data's statistics, "
        "which the search's trained weights and metrics do not fit. Restore the data as it "
        f"was when the search ran ({_dataset(stored)}) and export again, or export with "
        f"`nasforge export {search} ... --retrain` to train this architecture afresh on the "
        "data as it is now (a warning and the export's README.txt then record the change).")


def load_failure(search: str, stored: Mapping[str, object] | None, data: DataConfig,
                 error: NasforgeError) -> NasforgeError:
    """`error` (the data of `data` failed to load), saying first that the files the search
    read changed since, when they did (their bytes against `stored`'s)."""
    files = stored.get("files") if stored is not None else None
    if not isinstance(files, Mapping) or not files:
        return error
    now = {str(path): file_sha256(path) for path in data_files(data) if path.is_file()}
    found = "; ".join(changes({"files": files}, {"files": now}))  # files only: the data is gone
    if not found:
        return error
    return DataError(
        f"Cannot export search {search!r}: its data changed since the search ran "
        f"({found}) and no longer loads: {error} Restore the data as it was when "
        f"the search ran ({_dataset(stored or {})}) and export again.")


def _dataset(stored: Mapping[str, object]) -> str:
    files = stored.get("files")
    if isinstance(files, Mapping) and files:
        return ", ".join(map(str, files))
    return f"dataset = {stored.get('dataset')!r}"
