"""User data files: `csv:PATH` (pandas, header row) and `npz:PATH` (numpy arrays x, y).

Both return tabular `RawData` (pixel_scale None): features are standardised on the train part
later, in `evaluator.data`. Every problem with the file raises DataError naming the file; a
pipe or device is refused unread, and a CSV too large for the memory before it is parsed.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from nasforge.errors import DataError
from nasforge.evaluator.data.base import LoadContext, RawData
from nasforge.evaluator.data.memory import available_memory, csv_footprint, human
from nasforge.userfiles import check_regular_file

_DEFAULT_TARGETS = ("label", "target")
_MAX_LISTED = 8


def _listing(names: list[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:_MAX_LISTED])
    return shown + (f" and {len(names) - _MAX_LISTED} more" if len(names) > _MAX_LISTED else "")


def _target_column(columns: list[str], target: object, path: object) -> str:
    """The label column: the `target` option (name or integer index) or a default."""
    if target is None:
        found = [c for c in columns if str(c).strip().lower() in _DEFAULT_TARGETS]
        if len(found) > 1:
            raise DataError(
                f"{path} has several possible label columns ({_listing(found)}); "
                f"set the target option to one of them."
            )
        return found[0] if found else columns[-1]
    if isinstance(target, int):
        if not -len(columns) <= target < len(columns):
            raise DataError(
                f"target = {target} is out of range: {path} has {len(columns)} columns "
                f"(indices 0..{len(columns) - 1}, or negative from the end)."
            )
        return columns[target]
    if target not in columns:
        raise DataError(
            f"target column {target!r} is not in {path}; its columns are {_listing(columns)}."
        )
    return str(target)


def _check_fits(path: Path, available: int | None) -> None:
    """DataError if the CSV's estimated peak memory exceeds `available` bytes."""
    if available is None:
        return
    footprint = csv_footprint(path)
    if footprint.needed > available:
        raise DataError(
            f"{path} is {human(footprint.size)} (about {footprint.rows:,} rows x "
            f"{footprint.columns} columns, estimated from its first lines); loading it needs "
            f"about {human(footprint.needed)} of memory, but {human(available)} is available. "
            f"Search on a sample of its rows, drop unused columns, or use a machine with more "
            f"memory."
        )


def load_csv(ctx: LoadContext, *, available: int | None = None) -> RawData:
    """A CSV with a header row: one label column, every other column a numeric feature.
    `available`: bytes of memory it may use (default: what the system has available now)."""
    import pandas as pd

    path = ctx.file()
    check_regular_file(path, "Data file", DataError)
    try:
        _check_fits(path, available_memory() if available is None else available)
    except OSError:
        pass  # unreadable: read_csv below names the reason
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise DataError(
            f"{path} is empty; a CSV dataset needs a header row and at least one data row."
        ) from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"Cannot read CSV file {path}: {reason}. Check that it is a "
                        f"comma-separated text file with a header row.") from exc
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    if len(frame) == 0:
        raise DataError(f"{path} has a header but no data rows.")
    if len(columns) < 2:
        raise DataError(
            f"{path} has a single column {columns[0]!r}; it needs feature columns and a label "
            f"column (is the separator a comma?)."
        )
    target = _target_column(columns, ctx.options.get("target"), path)
    labels = frame[target]
    if labels.isna().any():
        raise DataError(
            f"{path}: the label column {target!r} has {int(labels.isna().sum())} empty cells; "
            f"remove those rows or fill in their labels."
        )
    features = frame.drop(columns=[target])
    bad = [
        c for c in features.columns
        if not (pd.api.types.is_numeric_dtype(features[c]) or
                pd.api.types.is_bool_dtype(features[c]))
    ]
    if bad:
        example = features[bad[0]].dropna()
        sample = f" (e.g. {example.iloc[0]!r})" if len(example) else ""
        raise DataError(
            f"{path}: feature column(s) {_listing(bad)} are not numeric{sample}; every column "
            f"except the label column {target!r} must hold numbers. Encode or drop them."
        )
    x = features.to_numpy(dtype=np.float64)
    finite = np.isfinite(x)
    if not finite.all():
        per_column = (~finite).sum(axis=0)
        names = [f"{c!r} ({n})" for c, n in zip(features.columns, per_column, strict=True)
                 if n]
        raise DataError(
            f"{path}: {int(per_column.sum())} empty, NaN or infinite feature values in "
            f"column(s) {', '.join(names[:_MAX_LISTED])}"
            f"{' ...' if len(names) > _MAX_LISTED else ''}. Clean the file or impute them "
            f"(e.g. fill with the column mean) before searching."
        )
    feature_names = tuple(str(c) for c in features.columns)
    return RawData(
        x=x, y=labels.to_numpy(), label_name=f"column {target!r}", source=str(path),
        raw_input=f"the {len(feature_names)} feature columns of {path.name} as read from the "
                  f"file, in file order, without the label column {target!r} (values as in "
                  f"the file), shape (N, {len(feature_names)})",
        feature_names=feature_names,
    )


def _pick(arrays: dict[str, np.ndarray], *keys: str) -> np.ndarray | None:
    for key in keys:
        if key in arrays:
            return arrays[key]
    return None


def load_npz(ctx: LoadContext) -> RawData:
    """An .npz with arrays x (or X) and y, optionally x_test and y_test.

    x: (N, F) features, (N, C, L) sequences or (N, C, H, W) images; y: (N,) labels.
    """
    path = ctx.file()
    check_regular_file(path, "Data file", DataError)
    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise DataError(
                f"{path} holds a single .npy array, not an .npz archive; save it with "
                f"numpy.savez(path, x=features, y=labels)."
            )
        with data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"Cannot read NPZ file {path}: {exc}.") from exc
    x, y = _pick(arrays, "x", "X"), _pick(arrays, "y", "Y")
    x_test, y_test = _pick(arrays, "x_test", "X_test"), _pick(arrays, "y_test", "Y_test")
    if x is None or y is None:
        raise DataError(
            f"{path} has arrays {_listing(sorted(arrays)) or 'none'}; it needs 'x' and 'y' "
            f"(optionally 'x_test' and 'y_test'): numpy.savez(path, x=features, y=labels)."
        )
    if (x_test is None) != (y_test is None):
        raise DataError(f"{path}: a predefined test split needs both 'x_test' and 'y_test'.")
    pairs: list[tuple[str, np.ndarray, str, np.ndarray]] = [("x", x, "y", y)]
    if x_test is not None and y_test is not None:
        pairs.append(("x_test", x_test, "y_test", y_test))
    for x_name, xs, y_name, ys in pairs:
        if xs.ndim not in (2, 3, 4):
            raise DataError(
                f"{path}: '{x_name}' has shape {xs.shape}; use (N, features), (N, channels, "
                f"length) or (N, channels, height, width)."
            )
        if xs.dtype.kind not in "biuf":
            raise DataError(f"{path}: '{x_name}' has dtype {xs.dtype}; features must be numbers.")
        if xs.dtype.kind == "f" and not np.isfinite(xs).all():
            count = int((~np.isfinite(xs)).sum())
            raise DataError(
                f"{path}: '{x_name}' holds {count} NaN or infinite values; clean or impute them."
            )
        if ys.ndim == 2 and ys.shape[1] == 1:
            ys = ys[:, 0]
        if ys.ndim != 1 or len(ys) != len(xs):
            raise DataError(
                f"{path}: '{y_name}' has shape {ys.shape} but '{x_name}' has {len(xs)} samples; "
                f"labels must have shape ({len(xs)},)."
            )
        if x_name == "x":
            y = ys
        else:
            y_test = ys
    shape = ", ".join(str(d) for d in ("N", *x.shape[1:]))
    return RawData(
        x=x, y=y, x_test=x_test, y_test=y_test, label_name="array 'y'", source=str(path),
        raw_input=f"samples like array 'x' of {path.name} as stored "
                  f"(dtype {x.dtype}), shape ({shape})",
    )
