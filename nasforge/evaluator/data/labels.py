"""Raw labels -> task, class codes and number of outputs.

task "auto": integer-valued or string labels mean classification, anything else regression.
Classification: string labels map to their sorted order; integer labels must lie in 0..K-1
(K = max + 1, or the `num_classes` option). Regression: raw float32 targets, one output.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from nasforge.errors import DataError

logger = logging.getLogger(__name__)

TASKS = ("auto", "classification", "regression")
# In "auto" mode, whole-number labels above this are almost surely values, not classes.
MAX_AUTO_CLASSES = 1000
# num_classes may leave classes without samples (a sample of a larger problem), but not
# more than this many times the classes seen, or this many more, and never above MAX_CLASSES
MAX_EMPTY_FACTOR = 10
MAX_EMPTY_CLASSES = 100
MAX_CLASSES = 100_000


@dataclass(frozen=True, slots=True)
class Labels:
    """codes: (N,) int64 class codes or float32 targets; num_outputs: classes or 1."""

    codes: np.ndarray
    task: str
    num_outputs: int
    classes: tuple[str, ...] = ()


def _is_whole(y: np.ndarray) -> bool:
    return bool(np.all(np.isfinite(y)) and np.all(y == np.round(y)))


def _example(values: np.ndarray) -> str:
    return repr(values[0].item() if hasattr(values[0], "item") else values[0])


def _check_num_classes(num_classes: int, seen: int, present: np.ndarray,
                       classes: tuple[str, ...], where: str, label_name: str) -> None:
    """Refuse a num_classes far above the labels: every model would get that many outputs
    (a typo of 10**9 fails every trial allocating its last layer)."""
    if num_classes <= min(MAX_CLASSES, max(MAX_EMPTY_FACTOR * seen, seen + MAX_EMPTY_CLASSES)):
        return
    if classes:
        shown = ", ".join(repr(c) for c in classes[:8]) + (" ..." if len(classes) > 8 else "")
        labels = f"{len(classes)} distinct labels ({shown})"
    else:
        labels = f"labels 0..{seen - 1}, {len(present)} distinct"
    raise DataError(
        f"{where}num_classes = {num_classes} is far above the classes in {label_name} "
        f"({labels}); every model would get {num_classes} outputs. Set num_classes = {seen} "
        f"(or leave it out: it defaults to the largest label + 1)."
    )


def encode_labels(
    y: np.ndarray,
    *,
    task: str = "auto",
    num_classes: int | None = None,
    label_name: str = "labels",
    source: str = "",
    classes: tuple[str, ...] = (),
) -> Labels:
    """Decide the task and encode `y` (N,); errors name `label_name` of `source`."""
    where = f"{source}: " if source else ""
    kind = y.dtype.kind
    if kind not in "biufOUS":
        raise DataError(f"{where}unsupported label dtype {y.dtype} in {label_name}.")
    textual = kind in "OUS"
    if kind == "f" and not np.isfinite(y).all():
        raise DataError(
            f"{where}{int((~np.isfinite(y)).sum())} NaN or infinite labels in {label_name}; "
            f"remove those samples or fill in their labels."
        )
    detected = task == "auto"
    if detected:
        numeric_whole = kind in "biu" or (kind == "f" and _is_whole(y))
        task = "classification" if (textual or numeric_whole or num_classes) else "regression"
        if task == "classification" and not textual and num_classes is None and len(y) \
                and y.max() >= MAX_AUTO_CLASSES:
            raise DataError(
                f"{where}labels in {label_name} are whole numbers up to {y.max().item()}, "
                f"too many to be classes; set task = \"regression\" (or task = "
                f"\"classification\" with num_classes) in the [data] section."
            )
    if task == "regression":
        if textual:
            raise DataError(
                f"{where}labels in {label_name} are not numeric (e.g. {_example(y)}); "
                f"regression needs numeric targets. Use task = \"classification\" for categories."
            )
        if num_classes is not None:
            raise DataError(f"{where}num_classes is set but task is regression; remove one.")
        if detected:
            logger.info("%s%s: task auto-detected as regression", where, label_name)
        return Labels(np.asarray(y, dtype=np.float32), "regression", 1)
    if task != "classification":
        raise DataError(f"task = {task!r} is unknown; use one of {', '.join(TASKS)}.")

    if textual:
        names, codes = np.unique(y.astype(str), return_inverse=True)
        k = len(names)
        if num_classes is not None and k > num_classes:
            raise DataError(
                f"{where}label column out of range: {k} distinct labels in {label_name} "
                f"but num_classes = {num_classes}. Raise num_classes or fix the labels."
            )
        classes = tuple(str(n) for n in names)
        codes = codes.astype(np.int64)
    else:
        if kind == "f" and not _is_whole(y):
            bad = y[y != np.round(y)]
            raise DataError(
                f"{where}non-integer labels in {label_name} (e.g. {_example(bad)}); class "
                f"labels must be integers 0..K-1. Set task = \"regression\" for values."
            )
        codes = y.astype(np.int64)
        low = int(codes.min()) if len(codes) else 0
        if low < 0:
            raise DataError(
                f"{where}label column out of range: negative value {low} in {label_name}; "
                f"class labels must be integers 0..K-1. Remap the labels, or set "
                f"task = \"regression\" if they are values."
            )
        high = int(codes.max()) if len(codes) else 0
        if num_classes is not None and high >= num_classes:
            raise DataError(
                f"{where}label column out of range: value {high} in {label_name}, but "
                f"num_classes = {num_classes} allows labels 0..{num_classes - 1}. Raise "
                f"num_classes or fix the labels."
            )
        k = high + 1
    present = np.unique(codes)
    if num_classes is not None:
        _check_num_classes(num_classes, k, present, classes if textual else (), where,
                           label_name)
        k = num_classes
    if len(present) < 2 or k < 2:
        raise DataError(
            f"{where}only {len(present)} distinct class(es) in {label_name}; classification needs "
            f"at least 2."
        )
    if len(present) < k:
        logger.warning("%s%s: %d of %d classes have no samples", where, label_name,
                       k - len(present), k)
    if detected:
        logger.info("%s%s: task auto-detected as classification with %d classes", where,
                    label_name, k)
    if classes and len(classes) != k:
        classes = ()
    return Labels(codes, "classification", k, classes)
