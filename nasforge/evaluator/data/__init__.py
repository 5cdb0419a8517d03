"""Dataset registry -> preloaded, split numpy arrays + DataSpec (torch-free).

    load_dataset("digits", seed=0)                       # built-in: digits, mnist1d, fashion-mnist
    load_dataset("csv:data/iris.csv", seed=0, options={"target": "species"}, base_dir=cfg_dir)
    load_dataset("npz:signals.npz", seed=0, options={"task": "regression"})
    load_dataset("images:photos", seed=0, options={"image_size": 32})   # a folder per class

Lifecycle: name -> loader (registry or csv:/npz:/images: prefix) -> RawData (all samples, raw
labels) -> labels encoded (task decided) -> seeded stratified split of what is not predefined
-> features scaled (built-in images: fixed pixel scale; tabular data and image folders:
standardised per column / channel with train statistics) -> frozen `Dataset` of read-only
float32 arrays, carrying that `Preprocessing` (what `nasforge export` puts into model.py).
`evaluator.data.tensors.to_device` moves it onto a torch device.

This package is the evaluator's data, and only that: the registry and `load_dataset` (here),
the loaders (`builtin`, `files`, `images`, with `base` their shared types), label encoding
(`labels`), the seeded split (`split`), feature scaling (`preprocessing`), the memory check
before a load (`memory`), the device tensors (`tensors`) and the data fingerprint a search stores
(`fingerprint`). Published benchmark tables are not data here: see `nasforge.benchmark`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np

from nasforge.errors import DataError, UnknownNameError
from nasforge.evaluator.data import builtin, files, images
from nasforge.evaluator.data.base import DatasetLoader, LoadContext, RawData, resolve_path
from nasforge.evaluator.data.labels import TASKS, Labels, encode_labels
from nasforge.evaluator.data.preprocessing import Preprocessing
from nasforge.evaluator.data.split import check_fractions, split_indices
from nasforge.registry import Registry
from nasforge.searchspace.plan import DataSpec

logger = logging.getLogger(__name__)

_SHAPE_OPTIONS = frozenset({"task", "num_classes", "input_shape"})
DATASETS: Registry[DatasetLoader] = Registry("dataset")
DATASETS.register("digits", DatasetLoader(
    builtin.load_digits, description="scikit-learn 8x8 digits, 1797 images, 10 classes"))
DATASETS.register("mnist1d", DatasetLoader(
    builtin.load_mnist1d, description="MNIST-1D signals (1, 40), 4000/1000 split, generated"))
DATASETS.register("fashion-mnist", DatasetLoader(
    builtin.load_fashion_mnist, frozenset({"root"}),
    description="Fashion-MNIST 28x28 images, 60000/10000 split, from IDX files"))

# User files by prefix: "csv:PATH", "npz:PATH" (kept out of DATASETS: they are not names).
FILE_FORMATS: Mapping[str, DatasetLoader] = MappingProxyType({
    "csv": DatasetLoader(files.load_csv, _SHAPE_OPTIONS | {"target"},
                         description="CSV with a header row"),
    "npz": DatasetLoader(files.load_npz, _SHAPE_OPTIONS,
                         description="numpy .npz with arrays x, y (x_test, y_test)"),
    "images": DatasetLoader(images.load_images, frozenset({"image_size"}),
                            description="a folder of PNG/JPEG images, one sub-folder per class"),
})
OPTIONS = frozenset({"target", "task", "num_classes", "input_shape", "root", "image_size"})
_NO_OPTIONS: Mapping[str, object] = MappingProxyType({})


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Dataset:
    """Preloaded, split data. x_*: float32 (N, *spec.input_shape), read-only; y_*: (N,) int64
    class codes (classification) or float32 targets (regression). `classes` names the class
    codes when known."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    spec: DataSpec
    classes: tuple[str, ...] = ()
    preprocessing: Preprocessing | None = None  # raw samples -> x_* (None: made elsewhere)

    def __post_init__(self) -> None:
        y_dtype = np.int64 if self.spec.task == "classification" else np.float32
        for part in ("train", "val", "test"):
            x, y = getattr(self, f"x_{part}"), getattr(self, f"y_{part}")
            if x.dtype != np.float32 or x.shape[1:] != self.spec.input_shape:
                raise DataError(f"x_{part} must be float32 of shape (N, "
                                f"*{self.spec.input_shape}); got {x.dtype} {x.shape}.")
            if y.dtype != y_dtype or y.shape != (len(x),):
                raise DataError(f"y_{part} must be {np.dtype(y_dtype)} of shape ({len(x)},); "
                                f"got {y.dtype} {y.shape}.")

    def __repr__(self) -> str:
        return (f"Dataset({self.spec.name!r}, {self.spec.task}, input_shape="
                f"{self.spec.input_shape}, outputs={self.spec.num_outputs}, train="
                f"{len(self.y_train)}, val={len(self.y_val)}, test={len(self.y_test)})")


def dataset_names() -> tuple[str, ...]:
    """Registered built-in names plus the file prefixes, for help texts."""
    return DATASETS.names() + tuple(f"{prefix}:PATH" for prefix in FILE_FORMATS)


def _resolve_loader(name: str, base_dir: Path) -> tuple[DatasetLoader, Path | None]:
    prefix, sep, rest = name.partition(":")
    if sep and prefix.strip().lower() in FILE_FORMATS:
        if not rest.strip():
            raise DataError(f"Dataset {name!r} names no file; write {prefix}:path/to/file.")
        what = "Image folder" if prefix.strip().lower() == "images" else "Data file"
        return FILE_FORMATS[prefix.strip().lower()], resolve_path(rest.strip(), base_dir, what)
    try:
        return DATASETS.get(name), None
    except UnknownNameError as exc:
        suffix = Path(name).suffix.lower().lstrip(".")
        hint = f" Did you mean '{suffix}:{name}'?" if suffix in FILE_FORMATS else ""
        raise UnknownNameError(
            f"{exc}{hint} For your own data use 'csv:PATH', 'npz:PATH' or 'images:DIR' "
            f"(relative to the config file)."
        ) from None


def _is_shape(value: object) -> bool:
    return isinstance(value, (list, tuple)) and 1 <= len(value) <= 3 and all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in value
    )


def _check_options(name: str, loader: DatasetLoader, options: Mapping[str, object]) -> None:
    unknown = sorted(set(options) - loader.options)
    if unknown:
        allowed = ", ".join(sorted(loader.options)) or "none"
        misplaced = [k for k in unknown if k in OPTIONS]
        why = " (not used by this dataset)" if misplaced and len(misplaced) == len(unknown) else ""
        raise DataError(f"Unknown data option(s) {', '.join(map(repr, unknown))} for dataset "
                        f"{name!r}{why}. Allowed options: {allowed}.")
    task = options.get("task", "auto")
    if task not in TASKS:
        raise DataError(f"task = {task!r} is unknown; use one of {', '.join(TASKS)}.")
    num_classes = options.get("num_classes")
    if num_classes is not None and (isinstance(num_classes, bool)
                                    or not isinstance(num_classes, int) or num_classes < 2):
        raise DataError(f"num_classes = {num_classes!r} must be an integer >= 2.")
    shape = options.get("input_shape")
    if shape is not None and not _is_shape(shape):
        raise DataError(f"input_shape = {shape!r} must be a list of 1 to 3 positive integers, "
                        f"e.g. [1, 12] for a 1-channel signal of length 12.")
    target = options.get("target")
    if target is not None and (isinstance(target, bool) or not isinstance(target, (str, int))):
        raise DataError(f"target = {target!r} must be a column name or an integer index.")


def _input_shape(options: Mapping[str, object]) -> tuple[int, ...]:
    """The input_shape option (checked by `_check_options`), () when absent."""
    shape = options.get("input_shape")
    return tuple(int(d) for d in shape) if isinstance(shape, (list, tuple)) else ()


def _num_classes(options: Mapping[str, object], default: int | None) -> int | None:
    """The num_classes option (checked by `_check_options`), else `default`."""
    value = options.get("num_classes", default)
    return value if isinstance(value, int) else None


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.flags.writeable = False
    return a


@dataclass(frozen=True, slots=True)
class _Parts:
    """Raw train / validation / test samples and their encoded labels, in that order."""

    x: tuple[np.ndarray, np.ndarray, np.ndarray]
    y: tuple[np.ndarray, np.ndarray, np.ndarray]
    labels: Labels


def _split(raw: RawData, options: Mapping[str, object], *, seed: int, val_fraction: float,
           test_fraction: float) -> _Parts:
    """Encode the labels of every part and split off what is not predefined: without
    predefined parts, validation and test take their fractions of all samples; with a
    predefined test (validation) part, validation (test) takes its fraction of the rest."""
    n = len(raw.y)
    n_val = 0 if raw.y_val is None else len(raw.y_val)
    y_all = np.concatenate([raw.y, *(p for p in (raw.y_val, raw.y_test) if p is not None)])
    labels = encode_labels(
        y_all, task=str(options.get("task", raw.task)), label_name=raw.label_name,
        num_classes=_num_classes(options, raw.num_classes),
        source=raw.source, classes=raw.classes,
    )
    codes, stratify = labels.codes, labels.task == "classification"
    test_x, test_y = raw.x_test, codes[n + n_val:]
    if raw.x_val is None:
        split = split_indices(codes[:n], seed=seed, val_fraction=val_fraction,
                              test_fraction=test_fraction, stratify=stratify,
                              predefined_test=raw.x_test is not None)
        train, val_x, val_y = split.train, raw.x[split.val], codes[split.val]
        if split.test is not None:
            test_x, test_y = raw.x[split.test], codes[split.test]
    else:
        val_x, val_y = raw.x_val, codes[n:n + n_val]
        train = np.arange(n)
        if raw.x_test is None:  # the test part comes from the training samples
            split = split_indices(codes[:n], seed=seed, val_fraction=test_fraction,
                                  test_fraction=val_fraction, stratify=stratify,
                                  predefined_test=True, drawn=("test", "test_fraction"))
            train, test_x, test_y = split.train, raw.x[split.val], codes[split.val]
    assert test_x is not None
    return _Parts((raw.x[train], val_x, test_x), (codes[train], val_y, test_y), labels)


def _limited(parts: _Parts, limit: int | None, seed: int) -> _Parts:
    """`parts` with a seeded sample of `limit` training samples (validation and test as they
    are): every class keeps at least one and the rest is shared in proportion to the classes'
    sizes (largest remainder); None or a limit of at least the training samples keeps all."""
    codes = parts.y[0]
    if limit is None or limit >= len(codes):
        return parts
    rng = np.random.default_rng([seed, 1])  # a stream of its own: the split keeps `seed`
    if parts.labels.task != "classification":
        keep = rng.permutation(len(codes))[:limit]
    else:
        groups = [rng.permutation(np.flatnonzero(codes == c)) for c in np.unique(codes)]
        if limit < len(groups):
            raise DataError(f"[data] train_limit = {limit} keeps fewer training samples than "
                            f"the {len(groups)} classes; raise it to at least {len(groups)}.")
        spare = np.array([len(g) - 1 for g in groups], dtype=np.float64)
        quota = (limit - len(groups)) * spare / spare.sum()
        take = np.floor(quota).astype(np.int64)
        for g in np.argsort(np.floor(quota) - quota, kind="stable")[:limit - len(groups)
                                                                     - int(take.sum())]:
            take[g] += 1
        keep = np.concatenate([g[:1 + t] for g, t in zip(groups, take, strict=True)])
    keep = np.sort(keep)
    return _Parts((parts.x[0][keep], *parts.x[1:]), (codes[keep], *parts.y[1:]), parts.labels)


def load_dataset(
    name: str,
    *,
    seed: int,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    options: Mapping[str, object] = _NO_OPTIONS,
    base_dir: Path | None = None,
    cache_dir: Path | None = None,
    train_limit: int | None = None,
) -> Dataset:
    """Load `name` and split it with `seed` (same seed -> same split).

    Without a predefined test split, validation and test take `val_fraction` and
    `test_fraction` of all samples; with one (mnist1d, fashion-mnist, npz with x_test,
    images with test/), `test_fraction` is ignored and validation takes `val_fraction` of the
    training samples; with a predefined validation split (images with val/), test takes
    `test_fraction` of the training samples, or nothing when test/ is there too.
    `options`: target, task, num_classes, input_shape (csv/npz), root (fashion-mnist),
    image_size (images).
    Relative paths resolve against `base_dir` (default: the working directory); `cache_dir`
    holds generated data (mnist1d), None disables caching. `train_limit` keeps a seeded,
    stratified sample of that many training samples (the train split's statistics then
    come from it); validation and test stay whole.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise DataError(f"seed = {seed!r} must be an integer.")
    check_fractions(val_fraction, test_fraction)
    options = _NO_OPTIONS if options is None else options
    started = time.perf_counter()
    base = Path.cwd() if base_dir is None else Path(base_dir)
    loader, path = _resolve_loader(name, base)
    _check_options(name, loader, options)
    ctx = LoadContext(name, MappingProxyType(dict(options)), base,
                      None if cache_dir is None else Path(cache_dir), path)
    raw = loader.load(ctx)
    shape = _input_shape(options) or tuple(raw.x.shape[1:])
    if math.prod(shape) != math.prod(raw.x.shape[1:]):
        raise DataError(
            f"input_shape = {list(shape)} does not fit samples of shape "
            f"{tuple(raw.x.shape[1:])} ({math.prod(raw.x.shape[1:])} values each, "
            f"{math.prod(shape)} wanted). Choose a shape whose product is "
            f"{math.prod(raw.x.shape[1:])}."
        )

    parts = _limited(_split(raw, options, seed=int(seed), val_fraction=val_fraction,
                            test_fraction=test_fraction), train_limit, int(seed))
    labels, preprocessing = parts.labels, Preprocessing.fit(raw, parts.x[0], shape)
    xs = [preprocessing.apply(x) for x in parts.x]
    ys = parts.y
    spec = DataSpec(shape, labels.num_outputs, labels.task, name)
    dataset = Dataset(x_train=_readonly(xs[0]), y_train=_readonly(ys[0]),
                      x_val=_readonly(xs[1]), y_val=_readonly(ys[1]),
                      x_test=_readonly(xs[2]), y_test=_readonly(ys[2]),
                      spec=spec, classes=labels.classes, preprocessing=preprocessing)
    logger.info("loaded %r in %.2f s", dataset, time.perf_counter() - started)
    return dataset
