"""Dataset registry, loaders, splitting, scaling and device transfer (evaluator.data/tensors)."""

from __future__ import annotations

import dataclasses
import gzip
import logging
import pickle
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nasforge.errors import DataError, NasforgeError, UnknownNameError
from nasforge.evaluator.data import DATASETS, Dataset, builtin, dataset_names, load_dataset
from nasforge.evaluator.data.split import split_indices

FASHION = builtin.FASHION_MNIST_ROOT


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def table(n: int = 60, classes: int = 3, seed: int = 0, label: str = "label") -> str:
    rng = np.random.default_rng(seed)
    rows = [f"a,b,c,{label}"]
    for i in range(n):
        a, b = rng.normal(size=2)
        rows.append(f"{a:.4f},{b * 10 + 5:.4f},{i},{['cat', 'dog', 'eel'][i % classes]}")
    return "\n".join(rows) + "\n"


def all_y(d: Dataset) -> np.ndarray:
    return np.concatenate([d.y_train, d.y_val, d.y_test])


# --------------------------------------------------------------------------- built-in datasets


def test_registry_names() -> None:
    assert {"digits", "mnist1d", "fashion-mnist"} <= set(DATASETS.names())
    assert "csv:PATH" in dataset_names() and "npz:PATH" in dataset_names()


def test_digits_loads_with_shapes_and_classes() -> None:
    d = load_dataset("digits", seed=0)
    assert d.spec.input_shape == (1, 8, 8) and d.spec.num_outputs == 10
    assert d.spec.task == "classification" and d.spec.name == "digits"
    assert (len(d.y_train), len(d.y_val), len(d.y_test)) == (1079, 359, 359)
    assert d.x_train.dtype == np.float32 and d.y_train.dtype == np.int64
    assert d.x_train.shape == (1079, 1, 8, 8)
    assert 0.0 <= d.x_train.min() and d.x_train.max() == 1.0  # pixels /16, not standardised
    assert set(np.unique(d.y_train)) == set(range(10))
    assert d.classes == tuple("0123456789")


@pytest.fixture(scope="module")
def mnist1d(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    cache = tmp_path_factory.mktemp("cache")
    np.random.seed(1234)
    random.seed(1234)
    before_np, before_py = np.random.get_state(), random.getstate()
    d = load_dataset("mnist1d", seed=0, cache_dir=cache)
    after_np, after_py = np.random.get_state(), random.getstate()
    return {"data": d, "cache": cache, "before": (before_np, before_py),
            "after": (after_np, after_py)}


def test_mnist1d_shapes_and_predefined_split(mnist1d: dict[str, object]) -> None:
    d = mnist1d["data"]
    assert isinstance(d, Dataset)
    assert d.spec.input_shape == (1, 40) and d.spec.num_outputs == 10
    assert len(d.y_train) + len(d.y_val) == 4000 and len(d.y_test) == 1000
    assert len(d.y_val) == 800  # val_fraction of the train part; test_fraction ignored
    assert set(np.unique(d.y_train)) == set(range(10))


def test_mnist1d_leaves_global_rng_untouched(mnist1d: dict[str, object]) -> None:
    (np_before, py_before), (np_after, py_after) = mnist1d["before"], mnist1d["after"]
    assert np_before[0] == np_after[0] and np.array_equal(np_before[1], np_after[1])
    assert np_before[2:] == np_after[2:]
    assert py_before == py_after


def test_mnist1d_second_load_reads_cache(mnist1d: dict[str, object],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    cache = mnist1d["cache"]
    assert isinstance(cache, Path)
    files = list(cache.iterdir())  # one cache file, no temp files left behind
    assert len(files) == 1 and files[0].name.startswith("mnist1d-") and files[0].suffix == ".npz"

    def fail(args: object) -> None:
        raise AssertionError("regenerated despite a valid cache")

    monkeypatch.setattr(builtin, "_generate_mnist1d", fail)
    again = load_dataset("mnist1d", seed=0, cache_dir=cache)
    first = mnist1d["data"]
    assert isinstance(first, Dataset)
    assert np.array_equal(again.x_train, first.x_train)
    assert np.array_equal(again.y_test, first.y_test)


def test_mnist1d_corrupt_cache_is_regenerated(mnist1d: dict[str, object], tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch,
                                              caplog: pytest.LogCaptureFixture) -> None:
    cache = mnist1d["cache"]
    assert isinstance(cache, Path)
    good = next(cache.iterdir())
    corrupt = tmp_path / good.name
    corrupt.write_bytes(good.read_bytes()[:1000])  # truncated archive
    with np.load(good) as arrays:
        saved = {k: arrays[k] for k in arrays.files}
    calls = []

    def generate(args: object) -> dict[str, np.ndarray]:
        calls.append(args)
        return saved

    monkeypatch.setattr(builtin, "_generate_mnist1d", generate)
    with caplog.at_level(logging.WARNING):
        d = load_dataset("mnist1d", seed=0, cache_dir=tmp_path)
    assert len(calls) == 1 and "regenerating" in caplog.text
    with np.load(corrupt) as rewritten:  # the cache file was rewritten whole
        assert rewritten["x"].shape == (4000, 40) and rewritten["y_test"].shape == (1000,)
    assert [p.name for p in tmp_path.iterdir()] == [good.name]
    assert len(d.y_test) == 1000


def test_mnist1d_cache_name_hashes_generation_args(tmp_path: Path) -> None:
    args = builtin.mnist1d_args()
    assert "url" not in args
    changed = dict(args, num_samples=1000)
    assert builtin.mnist1d_cache_path(tmp_path, args) == builtin.mnist1d_cache_path(tmp_path,
                                                                                     dict(args))
    assert builtin.mnist1d_cache_path(tmp_path, args) != builtin.mnist1d_cache_path(tmp_path,
                                                                                     changed)


@pytest.mark.skipif(not FASHION.is_dir(), reason=f"{FASHION} absent (dataset-fashion-mnist)")
def test_fashion_mnist_loads() -> None:
    d = load_dataset("fashion-mnist", seed=0)
    assert d.spec.input_shape == (1, 28, 28) and d.spec.num_outputs == 10
    assert (len(d.y_train), len(d.y_val), len(d.y_test)) == (48000, 12000, 10000)
    assert d.x_test.dtype == np.float32 and d.x_test.max() == 1.0 and d.x_test.min() == 0.0
    assert d.classes[0] == "T-shirt/top"


def write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, dtype=">i4").tobytes()
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


@pytest.fixture
def fake_fashion(tmp_path: Path) -> Path:
    root = tmp_path / "fm"
    root.mkdir()
    rng = np.random.default_rng(0)
    for split, n in (("train", 40), ("t10k", 10)):
        write_idx(root / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        write_idx(root / f"{split}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    return root


def test_fashion_mnist_root_option_and_idx_parsing(fake_fashion: Path) -> None:
    d = load_dataset("fashion-mnist", seed=0, options={"root": "fm"},
                     base_dir=fake_fashion.parent)
    assert d.spec.input_shape == (1, 28, 28)
    assert (len(d.y_train) + len(d.y_val), len(d.y_test)) == (40, 10)
    assert d.x_train.max() <= 1.0


def test_fashion_mnist_bad_idx_files(fake_fashion: Path) -> None:
    labels = fake_fashion / "train-labels-idx1-ubyte.gz"
    labels.write_bytes(gzip.compress(b"\x12\x34\x08\x01" + b"\x00" * 8))
    with pytest.raises(DataError, match="magic"):
        load_dataset("fashion-mnist", seed=0, options={"root": str(fake_fashion)})
    write_idx(labels, np.arange(40) % 10)
    images = fake_fashion / "t10k-images-idx3-ubyte.gz"
    images.write_bytes(gzip.compress(gzip.decompress(images.read_bytes())[:-5]))
    with pytest.raises(DataError, match="truncated"):
        load_dataset("fashion-mnist", seed=0, options={"root": str(fake_fashion)})


def test_fashion_mnist_absent_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(builtin, "FASHION_MNIST_ROOT", tmp_path / "missing")
    with pytest.raises(DataError, match=r"apt-get install dataset-fashion-mnist") as err:
        load_dataset("fashion-mnist", seed=0)
    assert "root" in str(err.value)
    with pytest.raises(DataError, match="install the Debian package dataset-fashion-mnist"):
        load_dataset("fashion-mnist", seed=0, options={"root": str(tmp_path / "nope")})
    (tmp_path / "partial").mkdir()
    with pytest.raises(DataError, match="lacks .*train-images"):
        load_dataset("fashion-mnist", seed=0, options={"root": str(tmp_path / "partial")})


def test_unknown_name_lists_prefixes() -> None:
    with pytest.raises(UnknownNameError, match="digits") as err:
        load_dataset("digit", seed=0)
    assert "csv:PATH" in str(err.value) and "npz:PATH" in str(err.value)
    with pytest.raises(UnknownNameError, match="csv:data.csv"):
        load_dataset("data.csv", seed=0)


def test_dataset_is_frozen_readonly_and_picklable() -> None:
    d = load_dataset("digits", seed=0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.x_train = d.x_val  # type: ignore[misc]
    with pytest.raises(ValueError):
        d.x_train[0, 0, 0, 0] = 1.0
    copy = pickle.loads(pickle.dumps(d))
    assert np.array_equal(copy.y_val, d.y_val) and copy.spec == d.spec
    assert "train=1079" in repr(d)


# --------------------------------------------------------------------------- splitting


def test_split_is_deterministic_per_seed() -> None:
    a, b, c = (load_dataset("digits", seed=s) for s in (7, 7, 8))
    assert np.array_equal(a.x_train, b.x_train) and np.array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.y_train, c.y_train)


def test_split_is_stratified() -> None:
    y = np.array([0] * 90 + [1] * 10)
    s = split_indices(y, seed=3, val_fraction=0.2, test_fraction=0.2, stratify=True)
    assert (len(s.train), len(s.val), len(s.test)) == (60, 20, 20)
    assert s.test is not None
    assert np.bincount(y[s.test]).tolist() == [18, 2]
    assert np.bincount(y[s.val]).tolist() == [18, 2]
    everything = np.sort(np.concatenate([s.train, s.val, s.test]))
    assert np.array_equal(everything, np.arange(100))


def test_split_keeps_every_class_in_train() -> None:
    y = np.array([0] * 20 + [1] * 2 + [2])
    s = split_indices(y, seed=0, val_fraction=0.3, test_fraction=0.3, stratify=True)
    assert set(y[s.train]) == {0, 1, 2}


@pytest.mark.parametrize("val, test", [(0.0, 0.2), (1.0, 0.2), (-0.1, 0.2), (0.2, 1.5),
                                       (0.5, 0.5), (0.7, 0.4)])
def test_bad_fractions(val: float, test: float) -> None:
    with pytest.raises(DataError, match="fraction"):
        load_dataset("digits", seed=0, val_fraction=val, test_fraction=test)


def test_too_few_samples(tmp_path: Path) -> None:
    write_csv(tmp_path / "tiny.csv", "a,label\n1,0\n2,1\n3,0\n")
    with pytest.raises(DataError, match="Only 3 samples"):
        load_dataset("csv:tiny.csv", seed=0, base_dir=tmp_path)
    y = np.array([0] * 5 + [1] * 5)
    with pytest.raises(DataError, match="empty"):
        split_indices(y, seed=0, val_fraction=0.01, test_fraction=0.2, stratify=True)


# --------------------------------------------------------------------------- csv


def test_csv_happy_path_standardises_on_train(tmp_path: Path) -> None:
    write_csv(tmp_path / "d.csv", table(60))
    d = load_dataset("csv:d.csv", seed=0, base_dir=tmp_path)
    assert d.spec.input_shape == (3,) and d.spec.num_outputs == 3
    assert d.classes == ("cat", "dog", "eel") and d.y_train.dtype == np.int64
    assert (len(d.y_train), len(d.y_val), len(d.y_test)) == (36, 12, 12)
    np.testing.assert_allclose(d.x_train.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(d.x_train.std(0), 1, atol=1e-4)
    # column c is the row number: invert the affine map, train stats must be the train rows'
    z = np.concatenate([d.x_train[:, 2], d.x_val[:, 2], d.x_test[:, 2]])
    slope, offset = np.polyfit(np.sort(z), np.arange(60), 1)
    train_rows = np.round(d.x_train[:, 2] * slope + offset)
    assert np.isclose(train_rows.mean(), offset, atol=1e-3)
    assert np.isclose(train_rows.std(), slope, atol=1e-3)


def test_csv_target_options_and_default(tmp_path: Path) -> None:
    write_csv(tmp_path / "d.csv", "x1,kind,x2\n" + "".join(
        f"{i},{i % 2},{i * 0.5}\n" for i in range(30)))
    by_name = load_dataset(f"csv:{tmp_path / 'd.csv'}", seed=0, options={"target": "kind"})
    by_index = load_dataset(f"csv:{tmp_path / 'd.csv'}", seed=0, options={"target": 1})
    assert by_name.spec.num_outputs == 2 and by_name.spec.input_shape == (2,)
    assert np.array_equal(by_name.x_train, by_index.x_train)
    last = load_dataset(f"csv:{tmp_path / 'd.csv'}", seed=0)  # no label/target: last column
    assert last.spec.task == "regression" and last.y_train.dtype == np.float32
    assert last.spec.num_outputs == 1
    with pytest.raises(DataError, match="'nope' is not in"):
        load_dataset("csv:d.csv", seed=0, base_dir=tmp_path, options={"target": "nope"})
    with pytest.raises(DataError, match="out of range"):
        load_dataset("csv:d.csv", seed=0, base_dir=tmp_path, options={"target": 5})


def test_csv_input_shape_option(tmp_path: Path) -> None:
    header = ",".join(f"t{i}" for i in range(12)) + ",target\n"
    rows = "".join(",".join(str((i * j) % 7) for j in range(12)) + f",{i % 2}\n"
                   for i in range(40))
    write_csv(tmp_path / "sig.csv", header + rows)
    d = load_dataset("csv:sig.csv", seed=1, base_dir=tmp_path, options={"input_shape": [1, 12]})
    assert d.spec.input_shape == (1, 12) and d.x_val.shape[1:] == (1, 12)
    with pytest.raises(DataError, match=r"\[1, 5\].*\(12,\)"):
        load_dataset("csv:sig.csv", seed=1, base_dir=tmp_path, options={"input_shape": [1, 5]})


def test_csv_regression_keeps_raw_targets(tmp_path: Path) -> None:
    write_csv(tmp_path / "r.csv", "a,target\n" + "".join(f"{i},{i * 1.5 + 0.25}\n"
                                                          for i in range(20)))
    d = load_dataset("csv:r.csv", seed=0, base_dir=tmp_path)
    assert d.spec.task == "regression" and d.spec.num_outputs == 1
    assert sorted(all_y(d).tolist()) == [i * 1.5 + 0.25 for i in range(20)]


@pytest.mark.parametrize("text, match", [
    ("", "empty"),
    ("a,b,label\n", "no data rows"),
    ("a,b,label\n1,x,0\n" * 1, "'b'.*not numeric"),
    ("a,b\n1,2\n3,4,5\n", "Cannot read CSV.*Expected 2 fields"),
    ("a,b,label\n" + "1,,0\n" * 6 + "1,2,1\n" * 6, r"6 empty.*'b' \(6\).*impute"),
    ("a,label\n" + "1,-1\n2,0\n3,1\n" * 4, "label column out of range.*-1"),
    ("a,label\n" + "1,0\n" * 12, "at least 2"),
    ("a,label\n" + "1,0\n2,1\n3,\n" * 4, "label column 'label' has 4 empty"),
])
def test_csv_errors(tmp_path: Path, text: str, match: str) -> None:
    write_csv(tmp_path / "bad.csv", text)
    with pytest.raises(DataError, match=match):
        load_dataset("csv:bad.csv", seed=0, base_dir=tmp_path)


def test_csv_num_classes_and_task_options(tmp_path: Path) -> None:
    write_csv(tmp_path / "d.csv", "a,label\n" + "".join(f"{i},{i % 6}\n" for i in range(30)))
    with pytest.raises(DataError, match=r"value 5.*column 'label'.*0\.\.3"):
        load_dataset("csv:d.csv", seed=0, base_dir=tmp_path, options={"num_classes": 4})
    d = load_dataset("csv:d.csv", seed=0, base_dir=tmp_path, options={"num_classes": 8})
    assert d.spec.num_outputs == 8
    r = load_dataset("csv:d.csv", seed=0, base_dir=tmp_path, options={"task": "regression"})
    assert r.spec.task == "regression"
    write_csv(tmp_path / "f.csv", "a,label\n" + "".join(f"{i},{i / 7}\n" for i in range(30)))
    with pytest.raises(DataError, match="non-integer"):
        load_dataset("csv:f.csv", seed=0, base_dir=tmp_path, options={"task": "classification"})


def test_num_classes_far_above_the_labels_is_refused(tmp_path: Path) -> None:
    write_csv(tmp_path / "d.csv", "a,label\n" + "".join(f"{i},{i % 3}\n" for i in range(30)))
    for absurd in (1000, 10**9):
        with pytest.raises(DataError, match=rf"num_classes = {absurd} .*0\.\.2.*3 distinct"):
            load_dataset("csv:d.csv", seed=0, base_dir=tmp_path, options={"num_classes": absurd})
    write_csv(tmp_path / "t.csv", table(30))
    with pytest.raises(DataError, match=r"num_classes = 500 .*'cat', 'dog', 'eel'"):
        load_dataset("csv:t.csv", seed=0, base_dir=tmp_path, options={"num_classes": 500})
    # a few classes without samples (a sample of a larger problem) stay allowed
    d = load_dataset("csv:d.csv", seed=0, base_dir=tmp_path, options={"num_classes": 100})
    assert d.spec.num_outputs == 100


def test_a_csv_too_large_for_memory_is_refused_before_loading(tmp_path: Path) -> None:
    from nasforge.evaluator.data.base import LoadContext
    from nasforge.evaluator.data.files import load_csv

    path = write_csv(tmp_path / "big.csv", table(2000))
    ctx = LoadContext("csv:big.csv", {}, tmp_path, path=path)
    size = path.stat().st_size
    with pytest.raises(DataError, match=rf"big\.csv is {size / 1e3:.0f} kB \(about 2,000 rows x "
                                        r"4 columns.*needs about .* available"):
        load_csv(ctx, available=50_000)
    assert len(load_csv(ctx, available=10**9).y) == 2000


def test_options_are_validated(tmp_path: Path) -> None:
    write_csv(tmp_path / "d.csv", table(30))
    with pytest.raises(DataError, match="'colour'.*Allowed options: input_shape, num_classes"):
        load_dataset("csv:d.csv", seed=0, base_dir=tmp_path, options={"colour": 1})
    with pytest.raises(DataError, match="'root'.*not used"):
        load_dataset("csv:d.csv", seed=0, base_dir=tmp_path, options={"root": "/x"})
    with pytest.raises(DataError, match="Allowed options: none"):
        load_dataset("digits", seed=0, options={"target": "x"})
    with pytest.raises(DataError, match="task = 'guess'"):
        load_dataset("csv:d.csv", seed=0, base_dir=tmp_path, options={"task": "guess"})


def test_missing_file_names_path(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nowhere\.csv not found.*Check the path"):
        load_dataset("csv:nowhere.csv", seed=0, base_dir=tmp_path)
    with pytest.raises(DataError, match="names no file"):
        load_dataset("npz:", seed=0)


# --------------------------------------------------------------------------- npz


def test_npz_features_and_images(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "f.npz", X=rng.normal(5, 3, (50, 4)), y=np.arange(50) % 2)
    d = load_dataset("npz:f.npz", seed=0, base_dir=tmp_path)
    assert d.spec.input_shape == (4,) and d.spec.num_outputs == 2
    np.testing.assert_allclose(d.x_train.mean(0), 0, atol=1e-5)
    np.savez(tmp_path / "i.npz", x=rng.integers(0, 9, (30, 3, 5, 5)), y=np.arange(30) % 3)
    i = load_dataset("npz:i.npz", seed=0, base_dir=tmp_path)
    assert i.spec.input_shape == (3, 5, 5) and i.x_train.dtype == np.float32
    np.testing.assert_allclose(i.x_train.mean(axis=(0, 2, 3)), 0, atol=1e-5)  # per channel


def test_npz_predefined_test_split(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "s.npz", x=rng.normal(size=(40, 2, 16)), y=rng.normal(size=40),
             x_test=rng.normal(size=(15, 2, 16)), y_test=rng.normal(size=15))
    d = load_dataset("npz:s.npz", seed=0, base_dir=tmp_path, test_fraction=0.3)
    assert d.spec.task == "regression" and d.spec.input_shape == (2, 16)
    assert (len(d.y_train), len(d.y_val), len(d.y_test)) == (32, 8, 15)


@pytest.mark.parametrize("arrays, match", [
    ({"x": np.ones((20, 3)), "labels": np.zeros(20)}, "'labels'.*needs 'x' and 'y'"),
    ({"x": np.full((20, 3), np.nan), "y": np.arange(20) % 2}, "60 NaN or infinite"),
    ({"x": np.ones((20, 3)), "y": np.zeros(19)}, "shape"),
    ({"x": np.ones(20), "y": np.zeros(20)}, r"\(N, features\)"),
    ({"x": np.ones((20, 3)), "y": np.arange(20) % 2, "x_test": np.ones((5, 3))}, "both"),
])
def test_npz_errors(tmp_path: Path, arrays: dict[str, np.ndarray], match: str) -> None:
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError, match=match):
        load_dataset("npz:bad.npz", seed=0, base_dir=tmp_path)


def test_csv_binary_garbage(tmp_path: Path) -> None:
    (tmp_path / "bin.csv").write_bytes(b"a,label\n\xff\xfe\x00\x81,1\n" * 20)
    with pytest.raises(DataError, match="Cannot read CSV"):
        load_dataset("csv:bin.csv", seed=0, base_dir=tmp_path)


def test_npz_corrupt_file(tmp_path: Path) -> None:
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 this is not a zip archive")
    with pytest.raises(DataError, match=r"Cannot read NPZ file .*junk\.npz"):
        load_dataset("npz:junk.npz", seed=0, base_dir=tmp_path)


# --------------------------------------------------------------------------- torch side


def test_loading_does_not_import_torch(tmp_path: Path) -> None:
    write_csv(tmp_path / "d.csv", table(30))
    code = ("import sys; from nasforge.evaluator.data import load_dataset; "
            f"load_dataset('csv:d.csv', seed=0, base_dir={str(tmp_path)!r}); "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])


def test_to_device_cpu(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from nasforge.evaluator.data.tensors import resolve_device, to_device

    d = load_dataset("digits", seed=0)
    t = to_device(d, resolve_device("cpu"))
    assert t.x_train.dtype == torch.float32 and t.x_train.is_contiguous()
    assert t.y_val.dtype == torch.int64 and t.device == torch.device("cpu")
    assert tuple(t.x_test.shape) == d.x_test.shape and t.spec == d.spec
    assert np.array_equal(t.x_val.numpy(), d.x_val)
    t.x_train.mul_(2)  # a copy: the dataset's arrays are untouched
    assert d.x_train.max() == 1.0
    write_csv(tmp_path / "r.csv", "a,target\n" + "".join(f"{i},{i / 3}\n" for i in range(20)))
    r = to_device(load_dataset("csv:r.csv", seed=0, base_dir=tmp_path), "cpu")
    assert r.y_train.dtype == torch.float32


def test_resolve_device() -> None:
    torch = pytest.importorskip("torch")
    from nasforge.evaluator.data.tensors import resolve_device

    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    with pytest.raises(NasforgeError, match="not a device name"):
        resolve_device("gpu please")
    if not torch.cuda.is_available():
        with pytest.raises(NasforgeError, match=r"no CUDA device is visible.*\"cpu\".*\"auto\""):
            resolve_device("cuda:1")
    else:
        count = torch.cuda.device_count()
        with pytest.raises(NasforgeError, match="visible"):
            resolve_device(f"cuda:{count}")
