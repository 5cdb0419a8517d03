"""What identifies the data a search trains on, so `resume` and `worker` can refuse data
that changed since the search started (torch-free).

    fingerprint = data_fingerprint(config.data, dataset)   # after load_checked
    problem = compare(stored, fingerprint, search_name)      # None, or a DataError

A fingerprint is a plain JSON object:

    files   {path: sha256 of its bytes} of the user's files: the csv:/npz: file, every
            image of an images: folder, or the Fashion-MNIST IDX files; {} for generated
            built-ins (digits, mnist1d), which the name and the two entries below identify
    shape   input shape, outputs, task and the number of train / validation / test samples
    split   sha256 of the labels of each split, in order: the seeded split (and the
            labels themselves); a change with equal file content means the split changed

The split is identified by its labels, not by the scaled features: those are standardised
with floating-point reductions whose last bits may differ between machines, and a worker on
another machine must not be refused for that.

    version VERSION, raised whenever the recipe above changes. Fingerprints of different
            versions cannot be compared: an older one (or one without a version) is
            replaced by the current one rather than refused, a newer one (a newer
            nasforge wrote it) is left alone and the data is not checked (`version`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from nasforge.errors import DataError

if TYPE_CHECKING:
    from nasforge.config import DataConfig
    from nasforge.evaluator.data import Dataset

CHUNK_BYTES = 1 << 20
VERSION = 1


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes, read in 1 MiB chunks (any size, little memory)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def data_files(data: DataConfig) -> tuple[Path, ...]:
    """The files the dataset is read from (absolute, as the config resolved them)."""
    prefix, sep, rest = data.dataset.partition(":")
    if sep and prefix.strip().lower() in ("csv", "npz"):
        return (Path(rest.strip()),)
    if sep and prefix.strip().lower() == "images":
        from nasforge.evaluator.data.images import image_files

        return tuple(image_files(Path(rest.strip())))
    if data.dataset == "fashion-mnist":
        from nasforge.evaluator.data.builtin import FASHION_MNIST_FILES, FASHION_MNIST_ROOT

        root = Path(str(data.options.get("root", FASHION_MNIST_ROOT)))
        return tuple(root / name for name in FASHION_MNIST_FILES.values())
    return ()


def data_fingerprint(data: DataConfig, dataset: Dataset) -> dict[str, object]:
    """The fingerprint (module docstring) of `dataset`, loaded from `data`."""
    split = hashlib.sha256()
    for labels in (dataset.y_train, dataset.y_val, dataset.y_test):
        split.update(len(labels).to_bytes(8, "little"))
        split.update(labels.tobytes())
    spec = dataset.spec
    return {
        "version": VERSION,
        "dataset": data.dataset,
        "files": {str(path): file_sha256(path) for path in data_files(data)},
        "shape": {"input_shape": list(spec.input_shape), "outputs": spec.num_outputs,
                  "task": spec.task, "train": len(dataset.y_train),
                  "val": len(dataset.y_val), "test": len(dataset.y_test)},
        "split": split.hexdigest(),
    }


def version(fingerprint: Mapping[str, object]) -> int:
    """The recipe version a fingerprint was made with (0: made before versions existed)."""
    value = fingerprint.get("version", 0)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _shape_text(shape: object) -> str:
    if not isinstance(shape, Mapping):
        return repr(shape)
    return (f"input {tuple(shape.get('input_shape', ()))}, {shape.get('outputs')} outputs, "
            f"{shape.get('train')}/{shape.get('val')}/{shape.get('test')} "
            "train/val/test samples")


def changes(stored: Mapping[str, object], now: Mapping[str, object]) -> list[str]:
    """What differs between two fingerprints, one phrase a change (files' content, shape,
    split); empty when `now` is the data `stored` describes."""
    found: list[str] = []
    old_files = stored.get("files")
    new_files = now.get("files")
    old_files = old_files if isinstance(old_files, Mapping) else {}
    new_files = new_files if isinstance(new_files, Mapping) else {}
    for path, digest in old_files.items():
        current = new_files.get(path)
        if current is None:
            found.append(f"{path}: no longer read (the search read it)")
        elif current != digest:
            found.append(f"{path}: content changed (sha256 {str(digest)[:12]}... now "
                         f"{str(current)[:12]}...)")
    if stored.get("shape") != now.get("shape"):
        found.append(f"shape changed ({_shape_text(stored.get('shape'))}; now "
                     f"{_shape_text(now.get('shape'))})")
    if stored.get("split") != now.get("split"):
        found.append("split changed (the samples in the train/validation/test sets, "
                     "or their labels, differ)")
    return found


def compare(stored: Mapping[str, object], now: Mapping[str, object],
            search: str) -> DataError | None:
    """None if `now` is the data the search `search` was stored with; else a DataError
    naming the file, what changed (content / shape / split) and the fix."""
    changed = changes(stored, now)
    if not changed:
        return None
    old_files = stored.get("files")
    files = (", ".join(map(str, old_files)) if isinstance(old_files, Mapping) else ""
             ) or f"the dataset {now.get('dataset')!r}"
    return DataError(
        f"The data of search {search!r} differs from the data it was started with, so its "
        f"trials would mix two datasets: {'; '.join(changed)}. Restore {files} as it was "
        f"when the search started, or start a new search under another name (`nasforge "
        f"search CONFIG --name NEW_NAME`). Nothing was changed in the store.")
