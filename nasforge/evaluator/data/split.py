"""Seeded, stratified train / validation / test split of sample indices.

Only `numpy.random.default_rng(seed)` is used: the same seed gives the same split on every
machine, and no global RNG state is read or written.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nasforge.errors import DataError

MIN_SAMPLES = 10


@dataclass(frozen=True, slots=True)
class SplitIndices:
    """Sorted int64 index arrays into the samples; `test` is None for a predefined test split."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray | None


def check_fractions(val_fraction: float, test_fraction: float) -> None:
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
            raise DataError(f"{name} = {value!r} must be a number strictly between 0 and 1.")
    if val_fraction + test_fraction >= 1:
        raise DataError(
            f"val_fraction + test_fraction = {val_fraction + test_fraction:g} leaves nothing to "
            f"train on; their sum must be below 1 (e.g. 0.2 and 0.2)."
        )


def _count(fraction: float, n: int) -> int:
    return int(np.floor(fraction * n + 0.5))


def _allocate(sizes: np.ndarray, total: int, caps: np.ndarray, rng: np.random.Generator
              ) -> np.ndarray:
    """Share `total` among groups in proportion to `sizes` (largest remainder), each <= cap."""
    quota = total * sizes / max(int(sizes.sum()), 1)
    take = np.minimum(np.floor(quota).astype(np.int64), caps)
    remainder = quota - np.floor(quota)
    order = np.lexsort((rng.random(len(sizes)), -remainder))  # largest remainder, random ties
    short = total - int(take.sum())
    while short > 0:
        open_groups = [g for g in order if take[g] < caps[g]]
        if not open_groups:
            break
        for g in open_groups[:short]:
            take[g] += 1
        short = total - int(take.sum())
    return take


def split_indices(
    y: np.ndarray,
    *,
    seed: int,
    val_fraction: float,
    test_fraction: float,
    stratify: bool,
    predefined_test: bool = False,
    drawn: tuple[str, str] = ("validation", "val_fraction"),
) -> SplitIndices:
    """Split `len(y)` samples; with `stratify`, each class keeps its share in every part.

    Without a predefined test split, test and validation each take their fraction of all
    samples; with one, validation takes `val_fraction` of these (training) samples. Every class
    keeps at least one training sample, so every class is present in train. `drawn` names
    the part `val_fraction` draws and its option, for messages (a predefined validation part
    makes it the test part, drawn with `test_fraction`).
    """
    check_fractions(val_fraction, test_fraction)
    n = len(y)
    if n < MIN_SAMPLES:
        raise DataError(
            f"Only {n} samples to split; a dataset needs at least {MIN_SAMPLES} for train, "
            f"validation and test parts. Use a larger dataset."
        )
    rng = np.random.default_rng(seed)
    if stratify:
        _, codes = np.unique(y, return_inverse=True)
        groups = [np.flatnonzero(codes == c) for c in range(int(codes.max()) + 1)]
    else:
        groups = [np.arange(n)]
    groups = [rng.permutation(g) for g in groups]
    sizes = np.array([len(g) for g in groups], dtype=np.int64)
    if predefined_test:
        n_test = np.zeros_like(sizes)
    else:
        n_test = _allocate(sizes, _count(test_fraction, n), sizes - 1, rng)
    n_val = _allocate(sizes - n_test, _count(val_fraction, n),
                      sizes - n_test - 1, rng)
    test = [g[:t] for g, t in zip(groups, n_test, strict=True)]
    val = [g[t:t + v] for g, t, v in zip(groups, n_test, n_val, strict=True)]
    train = [g[t + v:] for g, t, v in zip(groups, n_test, n_val, strict=True)]
    parts = {name: np.sort(np.concatenate(p)).astype(np.int64)
             for name, p in (("train", train), ("validation", val), ("test", test))}
    empty = [drawn[0] if name == "validation" else name for name, idx in parts.items()
             if len(idx) == 0 and not (name == "test" and predefined_test)]
    if empty:
        raise DataError(
            f"Splitting {n} samples ({drawn[1]}={val_fraction}"
            f"{'' if predefined_test else f', test_fraction={test_fraction}'}) leaves the "
            f"{' and '.join(empty)} part empty; use more samples or larger fractions."
        )
    return SplitIndices(
        parts["train"], parts["validation"], None if predefined_test else parts["test"]
    )
