"""`images:DIR` folders (PNG files written with Pillow from scikit-learn's digits, upscaled):
layouts, modes, sizes, the per-channel normalisation, and every bad folder as a DataError
naming the folder or file and the fix."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits

from nasforge.config import DataConfig
from nasforge.errors import DataError
from nasforge.evaluator.data import load_dataset
from nasforge.evaluator.data.base import LoadContext
from nasforge.evaluator.data.fingerprint import data_files
from nasforge.evaluator.data.images import load_images

DIGITS = load_digits()


def write_digits(folder: Path, rows: range, *, size: int = 16, rgb: bool = False,
                 classes: int = 10, suffix: str = ".png") -> None:
    """Digits `rows` as PNG files in folder/d<class>/<row>.png (RGB: tinted per class)."""
    for row in rows:
        label = int(DIGITS.target[row]) % classes
        pixels = (DIGITS.images[row] * 255 / 16).astype(np.uint8)
        image = Image.fromarray(pixels, "L").resize((size, size), Image.Resampling.NEAREST)
        if rgb:
            tint = np.array([1.0, 0.5 + 0.05 * label, 0.3], dtype=np.float32)
            image = Image.fromarray((np.asarray(image)[..., None] * tint).astype(np.uint8),
                                    "RGB")
        (folder / f"d{label}").mkdir(parents=True, exist_ok=True)
        image.save(folder / f"d{label}" / f"{row:04d}{suffix}")


def _load(folder: Path, **options: object):  # noqa: ANN202
    return load_dataset(f"images:{folder}", seed=0, options=options)


def test_a_grayscale_folder_loads_split_and_normalised(tmp_path: Path) -> None:
    write_digits(tmp_path, range(300))
    data = _load(tmp_path)
    assert data.spec.input_shape == (1, 16, 16) and data.spec.num_outputs == 10
    assert data.classes == tuple(f"d{i}" for i in range(10))
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (180, 60, 60)
    assert abs(float(data.x_train.mean())) < 1e-4 and abs(float(data.x_train.std()) - 1) < 1e-3
    pre = data.preprocessing
    assert pre is not None and pre.mean is not None and pre.mean.shape == (1, 1, 1)
    again = _load(tmp_path)
    assert np.array_equal(again.x_test, data.x_test)
    assert np.array_equal(again.y_train, data.y_train)


def test_one_colour_image_makes_every_image_rgb(tmp_path: Path) -> None:
    write_digits(tmp_path, range(100))
    write_digits(tmp_path, range(100, 101), rgb=True)
    data = _load(tmp_path)
    assert data.spec.input_shape == (3, 16, 16)
    pre = data.preprocessing
    assert pre is not None and pre.mean is not None and pre.mean.shape == (3, 1, 1)
    assert "RGB (C = 3)" in pre.raw_input


def test_rgb_images_normalise_each_channel(tmp_path: Path) -> None:
    write_digits(tmp_path, range(150), rgb=True, suffix=".jpg")
    data = _load(tmp_path)
    assert data.spec.input_shape == (3, 16, 16)
    means = data.x_train.mean(axis=(0, 2, 3))
    stds = data.x_train.std(axis=(0, 2, 3))
    np.testing.assert_allclose(means, 0, atol=1e-4)
    np.testing.assert_allclose(stds, 1, atol=1e-3)


def test_train_val_test_folders_are_the_splits(tmp_path: Path) -> None:
    write_digits(tmp_path / "train", range(200))
    write_digits(tmp_path / "val", range(200, 260))
    write_digits(tmp_path / "test", range(260, 300))
    data = _load(tmp_path)
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (200, 60, 40)
    expected = [int(DIGITS.target[r]) for r in sorted(range(260, 300),
                                                       key=lambda r: (DIGITS.target[r], r))]
    assert data.y_test.tolist() == expected


@pytest.mark.parametrize(("present", "sizes"), [
    (("train", "test"), (160, 40, 100)),  # validation: val_fraction of train/
    (("train", "val"), (160, 100, 40)),  # test: test_fraction of train/
    (("train",), (120, 40, 40)),  # train/ alone: split like a plain folder
])
def test_missing_split_folders_are_drawn_from_train(tmp_path: Path, present: tuple[str, ...],
                                                    sizes: tuple[int, int, int]) -> None:
    write_digits(tmp_path / "train", range(200))
    for part in present[1:]:
        write_digits(tmp_path / part, range(200, 300))
    data = _load(tmp_path)
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == sizes


def test_image_size_resizes_every_image(tmp_path: Path) -> None:
    write_digits(tmp_path, range(60))
    assert _load(tmp_path, image_size=8).spec.input_shape == (1, 8, 8)
    assert _load(tmp_path, image_size=[8, 12]).spec.input_shape == (1, 8, 12)


def test_mixed_sizes_are_resized_to_the_most_common_and_counted(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_digits(tmp_path, range(60))
    write_digits(tmp_path, range(60, 63), size=20)
    with caplog.at_level(logging.INFO, logger="nasforge.evaluator.data.images"):
        data = _load(tmp_path)
    assert data.spec.input_shape == (1, 16, 16)
    assert "3 of 63 images are not 16x16" in caplog.text


def test_other_files_are_skipped(tmp_path: Path) -> None:
    write_digits(tmp_path, range(60))
    (tmp_path / "d0" / "notes.txt").write_text("not an image")
    (tmp_path / ".DS_Store").write_text("")
    assert len(_load(tmp_path).y_train) == 36


def test_the_fingerprint_reads_every_image(tmp_path: Path) -> None:
    write_digits(tmp_path, range(30))
    files = data_files(DataConfig(f"images:{tmp_path}"))
    assert len(files) == 30 and all(f.suffix == ".png" for f in files)


def _bad(tmp_path: Path, case: str) -> Path:
    root = tmp_path / "images"
    if case == "missing":
        return tmp_path / "nowhere"
    if case == "a file":
        root.write_text("x")
        return root
    root.mkdir()
    if case == "no class folders":
        return root
    if case == "loose images":
        write_digits(root, range(20))
        Image.new("L", (16, 16)).save(root / "stray.png")
    elif case == "one class":
        write_digits(root, range(40), classes=1)
    elif case == "empty class":
        write_digits(root, range(40))
        (root / "d9_empty").mkdir()
    elif case == "corrupt":
        write_digits(root, range(40))
        (root / "d3" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    elif case == "truncated":
        write_digits(root, range(40))
        good = (root / "d1").glob("*.png").__next__().read_bytes()
        (root / "d1" / "cut.png").write_bytes(good[:len(good) // 2])
    elif case == "sixteen bit":
        write_digits(root, range(40))
        Image.fromarray(np.zeros((16, 16), dtype=np.uint16)).save(root / "d2" / "deep.png")
    elif case == "val without train":
        write_digits(root / "val", range(40))
    elif case == "train and strays":
        write_digits(root / "train", range(40))
        (root / "extra").mkdir()
    elif case == "class only in test":
        write_digits(root / "train", range(40), classes=5)
        write_digits(root / "test", range(40, 80))
    return root


BAD = {
    "missing": r"Image folder .*nowhere not found",
    "a file": r"is a file, not a folder",
    "no class folders": r"has no class folders; put each class",
    "loose images": r"holds images directly \(stray\.png\)",
    "one class": r"only one class folder \('d0'\)",
    "empty class": r"Class folder .*d9_empty has no PNG or JPEG images",
    "corrupt": r"Image .*d3/broken\.png cannot be read",
    "truncated": r"Image .*d1/cut\.png cannot be read",
    "sixteen bit": r"Image .*d2/deep\.png has Pillow mode 'I;16'",
    "val without train": r"has val/ but no train/",
    "train and strays": r"has train/ and also extra",
    "class only in test": r"test has class folder\(s\) d5, d6, d7, d8, d9 that train/ lacks",
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_folder_is_a_data_error_naming_it(tmp_path: Path, case: str) -> None:
    root = _bad(tmp_path, case)
    with pytest.raises(DataError, match=BAD[case]):
        _load(root)


@pytest.mark.parametrize("size", [0, -3, "32", [32], [4, 5, 6], True, 10_000])
def test_a_bad_image_size_is_refused(tmp_path: Path, size: object) -> None:
    write_digits(tmp_path, range(20))
    with pytest.raises(DataError, match=r"image_size = .* must be a whole number of pixels"):
        _load(tmp_path, image_size=size)


def test_images_too_large_for_the_memory_are_refused_before_decoding(tmp_path: Path) -> None:
    write_digits(tmp_path, range(20))
    ctx = LoadContext(f"images:{tmp_path}", {}, tmp_path, path=tmp_path)
    with pytest.raises(DataError, match=r"decode to 5,120 pixel values; .* about 82 kB of "
                                        r"memory, but 1 kB is available"):
        load_images(ctx, available=1000)


def test_an_image_too_large_to_decode_safely_is_a_data_error_naming_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_digits(tmp_path, range(40))
    # Pillow refuses images above twice MAX_IMAGE_PIXELS (a decompression bomb) with an
    # exception that is not an OSError; 16x16 images are "bombs" below 128 pixels
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(DataError, match=r"Image .*\.png is too large to decode safely.*downscale"):
        _load(tmp_path)


def test_a_test_part_drawn_from_train_and_left_empty_names_the_test_fraction(
        tmp_path: Path) -> None:
    write_digits(tmp_path / "train", range(12))
    write_digits(tmp_path / "val", range(12, 40))
    with pytest.raises(DataError, match=r"\(test_fraction=0\.01\) leaves the test part empty"):
        load_dataset(f"images:{tmp_path}", seed=0, test_fraction=0.01)
