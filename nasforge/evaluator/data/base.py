"""What a dataset loader receives and returns, shared by the built-in and file loaders.

A loader turns a `LoadContext` into `RawData`: every sample it has, with raw labels. Label
encoding, splitting, scaling and the final float32 arrays happen once, in `evaluator.data`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nasforge.errors import DataError
from nasforge.userfiles import look_up


@dataclass(frozen=True, slots=True)
class LoadContext:
    """Inputs of one load: validated options, the base folder for relative paths, a cache.

    `path` is the file (folder) part of a `csv:PATH` / `npz:PATH` / `images:DIR` name,
    resolved against `base_dir`; None for built-in datasets. `cache_dir` None means: do not
    cache anything.
    """

    name: str
    options: Mapping[str, object]
    base_dir: Path
    cache_dir: Path | None = None
    path: Path | None = None

    def file(self) -> Path:
        """`path`, for the loaders of `csv:`, `npz:` and `images:` names (which have one)."""
        if self.path is None:
            raise DataError(f"Dataset {self.name!r} names no file.")
        return self.path


@dataclass(frozen=True, slots=True)
class RawData:
    """All samples of a dataset before splitting.

    x: (N, *sample_shape), any numeric dtype (uint8 pixels are fine).
    y: (N,) raw labels: integers, floats or strings.
    x_test / y_test: a predefined test split (both or neither).
    x_val / y_val: a predefined validation split (both or neither; e.g. an image folder's val/).
    pixel_scale: features are multiplied by it (1/255 for uint8 images) and never standardised;
        None means tabular features, standardised with statistics of the train part.
    task: "classification" for datasets that fix it, else "auto".
    num_classes: fixed number of classes for built-in datasets, else None.
    classes: names of the classes in code order, when the dataset knows them.
    label_name / source: how error messages name the label column and the data.
    raw_input: what the raw samples are, in words, for an exported model's docstring (units,
        and where a user finds them, e.g. the feature columns of a CSV in file order).
    feature_names: the feature columns of a CSV, in file order.
    """

    x: np.ndarray
    y: np.ndarray
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    pixel_scale: float | None = None
    task: str = "auto"
    num_classes: int | None = None
    classes: tuple[str, ...] = ()
    label_name: str = "labels"
    source: str = ""
    raw_input: str = ""
    feature_names: tuple[str, ...] = ()
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None

    def __post_init__(self) -> None:
        if (self.x_test is None) != (self.y_test is None):
            raise DataError(f"{self.source}: a predefined test split needs both x_test and y_test.")
        if (self.x_val is None) != (self.y_val is None):
            raise DataError(f"{self.source}: a predefined validation split needs both x_val and "
                            "y_val.")
        pairs = [("", self.x, self.y)]
        if self.x_test is not None and self.y_test is not None:
            pairs.append(("test ", self.x_test, self.y_test))
        if self.x_val is not None and self.y_val is not None:
            pairs.append(("validation ", self.x_val, self.y_val))
        for part, x, y in pairs:
            if x.ndim < 2:
                raise DataError(
                    f"{self.source}: {part}samples must have shape (N, ...), got {x.shape}."
                )
            if y.ndim != 1 or len(y) != len(x):
                raise DataError(
                    f"{self.source}: {part}labels must have shape ({len(x)},) to match "
                    f"{len(x)} samples, got {y.shape}."
                )
        for part, x, _ in pairs[1:]:
            if x.shape[1:] != self.x.shape[1:]:
                raise DataError(
                    f"{self.source}: {part}samples have shape {x.shape[1:]} but training "
                    f"samples have shape {self.x.shape[1:]}; they must match."
                )


@dataclass(frozen=True, slots=True)
class DatasetLoader:
    """A registry entry: the load function and the option keys it accepts."""

    load: Callable[[LoadContext], RawData]
    options: frozenset[str] = frozenset()
    description: str = ""


def resolve_path(raw: str | Path, base_dir: Path, what: str = "Data file") -> Path:
    """`raw` as an absolute path (relative paths resolve against `base_dir`); must exist."""
    path = Path(raw)
    if not path.is_absolute():
        path = base_dir / path
    if look_up(path, what, DataError) is None:
        origin = f" (from {str(raw)!r}, resolved against {base_dir})" if path != Path(raw) else ""
        raise DataError(
            f"{what} {path} not found{origin}. Check the path: relative paths resolve against "
            f"the directory of the config file."
        )
    return path
