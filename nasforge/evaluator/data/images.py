"""Image folders: `images:DIR`, one sub-folder per class of PNG / JPEG files (read with Pillow).

    DIR/cat/001.png  DIR/dog/a.jpg ...                         -> the seeded stratified split
    DIR/train/cat/...  DIR/val/cat/...  DIR/test/cat/...      -> these splits as they are

Layout: the class folders sit in DIR, or in DIR/train (required then) and optionally DIR/val
and DIR/test. train/ alone is split like a plain folder; train/ + test/: validation is drawn
from train/ (val_fraction of it); train/ + val/: test is drawn from train/ (test_fraction of
it). Labels are the class-folder names, sorted (`classes`); a class of val/ or test/ must also
be in train/. Files whose names do not end in .png, .jpg or .jpeg, hidden files and deeper
folders are skipped (logged once, with a count).

Pixels: if any image is colour (RGB, RGBA, palette, CMYK, ...), every image is loaded as RGB
(C = 3), else as grayscale L (C = 1); alpha is dropped. 16-bit and float images are refused.
Every image is resized (Pillow, bilinear) to one size: the `image_size` option (an integer for
a square, or [height, width]), else the most common size among the files (the others are
counted in one INFO log line). The result is uint8 (N, C, H, W) in 0..255 as `RawData` with
pixel_scale None: `evaluator.data` normalises each channel with the train split's mean and
standard deviation, and `nasforge export` writes the same step into model.py, so an exported
model takes these uint8 arrays (or float values 0..255) as they are.

Every problem raises DataError naming the folder or file and the fix, before anything is
decoded where it can be known from the listing and the image headers alone (layout, classes,
modes, sizes, memory).
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nasforge.errors import DataError
from nasforge.evaluator.data.base import LoadContext, RawData
from nasforge.evaluator.data.memory import available_memory, human
from nasforge.userfiles import is_folder

logger = logging.getLogger(__name__)

SUFFIXES = (".png", ".jpg", ".jpeg")
SPLITS = ("train", "val", "test")
GRAY_MODES = frozenset({"1", "L", "LA"})
COLOUR_MODES = frozenset({"P", "PA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr", "LAB", "HSV"})
# Peak bytes per decoded pixel value: `load_dataset` (the uint8 array, its train copy, float64
# temporaries of the normalisation, the float32 splits) measured 12.1 (6000 RGB 32x32 PNGs,
# 18.4 M values: peak RSS 259 MB from 37 MB), plus the float32 tensors of `to_device` on CPU.
BYTES_PER_VALUE = 16
MAX_SIDE = 4096
_LISTED = 5


@dataclass(frozen=True, slots=True)
class _Header:
    """One image file as its header describes it: (height, width) and Pillow mode."""

    path: Path
    label: int
    size: tuple[int, int]
    mode: str


def _listing(paths: list[Path] | list[str]) -> str:
    shown = ", ".join(str(p) for p in paths[:_LISTED])
    return shown + (f" and {len(paths) - _LISTED} more" if len(paths) > _LISTED else "")


def _visible(folder: Path) -> list[Path]:
    try:
        entries = sorted(folder.iterdir())
    except OSError as err:
        raise DataError(f"Image folder {folder} cannot be listed ({err.strerror}); give this "
                        f"user read access (chmod u+rx {folder}).") from None
    return [e for e in entries if not e.name.startswith(".")]


def split_folders(root: Path) -> dict[str, Path]:
    """{"all": root} for class folders in `root`, else the train/val/test folders present."""
    if not is_folder(root, "Image folder", DataError):
        raise DataError(f"{root} is a file, not a folder; images:DIR needs a folder with one "
                        f"sub-folder of images per class (or train/, val/, test/ of those).")
    entries = _visible(root)
    found = {e.name: e for e in entries if e.name in SPLITS and e.is_dir()}
    if not found:
        return {"all": root}
    if "train" not in found:
        raise DataError(f"Image folder {root} has {'/ and '.join(sorted(found))}/ but no "
                        f"train/; add train/ with one sub-folder per class (val/ and test/ "
                        f"are optional).")
    others = [e.name for e in entries if e.name not in found]
    if others:
        raise DataError(f"Image folder {root} has train/ and also {_listing(others)}; with "
                        f"train/ every class folder goes inside train/ (and val/, test/). "
                        f"Move or remove the others.")
    return {part: found[part] for part in SPLITS if part in found}


def _class_files(folder: Path) -> dict[str, list[Path]]:
    """{class name: its image files, sorted} of one split folder."""
    entries = _visible(folder)
    loose = [e.name for e in entries if not e.is_dir() and e.suffix.lower() in SUFFIXES]
    if loose:
        raise DataError(f"{folder} holds images directly ({_listing(loose)}); every image "
                        f"must be inside a class folder, e.g. {folder / 'cat' / loose[0]}.")
    classes = {e.name: e for e in entries if e.is_dir()}
    if not classes:
        raise DataError(f"Image folder {folder} has no class folders; put each class's PNG or "
                        f"JPEG images in a sub-folder named after the class "
                        f"(e.g. {folder / 'cat'}/, {folder / 'dog'}/).")
    files: dict[str, list[Path]] = {}
    skipped: list[Path] = []
    for name, sub in classes.items():
        entries = _visible(sub)
        kept = [e for e in entries if e.suffix.lower() in SUFFIXES and e.is_file()]
        files[name] = kept
        kept_set = set(kept)  # a list's `in` made this quadratic in the images per class
        skipped += [e for e in entries if e not in kept_set]
        if not files[name]:
            raise DataError(f"Class folder {sub} has no PNG or JPEG images (.png, .jpg, "
                            f".jpeg); add images or remove the folder.")
    if skipped:
        logger.info("%s: skipped %d entries that are not .png/.jpg/.jpeg files (e.g. %s)",
                    folder, len(skipped), skipped[0])
    return files


def image_files(root: Path) -> list[Path]:
    """Every image file an `images:` folder is read from, sorted (for the data fingerprint)."""
    found = []
    for folder in split_folders(root).values():
        for files in _class_files(folder).values():
            found += files
    return sorted(found)


def _headers(parts: dict[str, dict[str, list[Path]]], classes: list[str]
             ) -> dict[str, list[_Header]]:
    from PIL import Image, UnidentifiedImageError

    headers: dict[str, list[_Header]] = {}
    for part, files in parts.items():
        found = headers[part] = []
        for name, paths in files.items():
            for path in paths:
                try:
                    with Image.open(path) as image:
                        size, mode = (image.height, image.width), image.mode
                except (UnidentifiedImageError, Image.DecompressionBombError, OSError,
                        SyntaxError, ValueError) as err:
                    raise _unreadable(path, err) from None
                if mode not in GRAY_MODES | COLOUR_MODES:
                    raise DataError(f"Image {path} has Pillow mode {mode!r} (16-bit or float "
                                    f"pixels); save it as 8-bit grayscale or RGB.")
                found.append(_Header(path, classes.index(name), size, mode))
    return headers


def _unreadable(path: Path, err: BaseException) -> DataError:
    from PIL import Image

    reason = str(err).strip() or type(err).__name__
    if isinstance(err, Image.DecompressionBombError):
        return DataError(f"Image {path} is too large to decode safely ({reason}); downscale "
                         "it (or remove it) before the search.")
    return DataError(f"Image {path} cannot be read ({reason}); it is not a valid PNG or JPEG "
                     f"file (corrupt or truncated?). Replace or delete it.")


def _image_size(option: object, headers: list[_Header], root: Path) -> tuple[int, int]:
    """The size every image is resized to: the option, else the most common size."""
    if option is None:
        counts = Counter(h.size for h in headers)
        size = max(counts, key=lambda s: (counts[s], s[0] * s[1], s))
        others = len(headers) - counts[size]
        if others:
            logger.info("%s: %d of %d images are not %dx%d (the most common size) and are "
                        "resized to it; set [data] image_size to choose the size", root, others,
                        len(headers), size[0], size[1])
        return size
    sides = [option, option] if isinstance(option, int) else option
    if (isinstance(sides, (list, tuple)) and len(sides) == 2
            and all(isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= MAX_SIDE
                    for d in sides)):
        return int(sides[0]), int(sides[1])
    raise DataError(f"image_size = {option!r} must be a whole number of pixels from 1 to "
                    f"{MAX_SIDE} (a square, e.g. 32) or [height, width] (e.g. [32, 48]).")


def _check_fits(root: Path, values: int, available: int | None) -> None:
    if available is None or values * BYTES_PER_VALUE <= available:
        return
    raise DataError(f"The images of {root} decode to {values:,} pixel values; loading and "
                    f"normalising them needs about {human(values * BYTES_PER_VALUE)} of memory, "
                    f"but {human(available)} is available. Set a smaller [data] image_size, "
                    f"search on a sample of the images, or use a machine with more memory.")


def _decode(headers: list[_Header], mode: str, size: tuple[int, int]) -> np.ndarray:
    """uint8 (N, C, H, W) of the images, converted to `mode` and resized to `size`."""
    from PIL import Image

    channels = 3 if mode == "RGB" else 1
    x = np.empty((len(headers), channels, *size), dtype=np.uint8)
    for i, header in enumerate(headers):
        try:
            with Image.open(header.path) as image:
                image.load()
                converted = image.convert(mode)
        except (Image.DecompressionBombError, OSError, SyntaxError, ValueError,
                EOFError) as err:
            raise _unreadable(header.path, err) from None
        if header.size != size:
            converted = converted.resize((size[1], size[0]), Image.Resampling.BILINEAR)
        pixels = np.asarray(converted, dtype=np.uint8)
        x[i] = pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)
    return x


def load_images(ctx: LoadContext, *, available: int | None = None) -> RawData:
    """An `images:DIR` folder (module docstring) as uint8 (N, C, H, W) `RawData`.
    `available`: bytes of memory it may use (default: what the system has available now)."""
    root = ctx.file()
    folders = split_folders(root)
    parts = {part: _class_files(folder) for part, folder in folders.items()}
    main = parts.get("all", parts.get("train", {}))
    classes = sorted(main)
    if len(classes) < 2:
        raise DataError(f"Image folder {folders.get('train', root)} has only one class folder "
                        f"({classes[0]!r}); classification needs at least two: add a sub-folder "
                        f"of images for each other class.")
    for part, files in parts.items():
        extra = sorted(set(files) - set(classes))
        if extra:
            raise DataError(f"{folders[part]} has class folder(s) {_listing(extra)} that "
                            f"train/ lacks; the model can only learn classes it trains on. "
                            f"Add them to {folders['train']} or remove them.")
    headers = _headers(parts, classes)
    every = [h for found in headers.values() for h in found]
    mode = "RGB" if any(h.mode not in GRAY_MODES for h in every) else "L"
    size = _image_size(ctx.options.get("image_size"), every, root)
    channels = 3 if mode == "RGB" else 1
    _check_fits(root, len(every) * channels * size[0] * size[1],
                available_memory() if available is None else available)
    arrays = {part: (_decode(found, mode, size),
                     np.array([h.label for h in found], dtype=np.int64))
              for part, found in headers.items()}
    x, y = arrays["all"] if "all" in arrays else arrays["train"]
    x_val, y_val = arrays.get("val", (None, None))
    x_test, y_test = arrays.get("test", (None, None))
    what = "grayscale (C = 1)" if channels == 1 else "RGB (C = 3)"
    return RawData(
        x=x, y=y, x_val=x_val, y_val=y_val, x_test=x_test, y_test=y_test,
        task="classification", num_classes=len(classes), classes=tuple(classes),
        label_name="the class folders", source=str(root),
        raw_input=f"images as uint8 pixels 0..255, {what}, resized to {size[0]}x{size[1]} "
                  f"(as nasforge read {root.name}{os.sep}: Pillow, bilinear), shape "
                  f"(N, {channels}, {size[0]}, {size[1]})",
    )
