"""Will a CSV fit in memory? An estimate from its size and first lines, before loading it.

pandas parses every cell to a float64, `load_csv` copies the features to a float64 array, and
`evaluator.data` indexes the train part (another float64 copy) and writes float32 splits:
about `BYTES_PER_CELL` bytes per cell at the peak (measured: 22.5 for `load_dataset` on a
131 MB CSV of 400,000 rows x 51 columns, peak RSS 653 MB against 193 MB for digits). A file
whose estimate exceeds the available memory is refused with its size, instead of ending in a
MemoryError (or the kernel's OOM killer) minutes into parsing.
"""

from __future__ import annotations

import bz2
import lzma
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from nasforge.evaluator.executors.cgroup import THIS_PROCESS, Cgroups

BYTES_PER_CELL = 24
_SAMPLE_BYTES = 1 << 16
_MAX_SAMPLE = 1 << 24
_CHUNK = 1 << 14
_RATIO_INPUT = 1 << 20
_DECOMPRESSORS: dict[str, Callable[[], Decompressor]] = {
    ".gz": lambda: zlib.decompressobj(wbits=31),  # gzip framing
    ".bz2": bz2.BZ2Decompressor,
    ".xz": lzma.LZMADecompressor,
}
_UNESTIMATED = frozenset({".zip", ".zst", ".tar"})
MEMINFO = Path("/proc/meminfo")


class Decompressor(Protocol):
    @property
    def eof(self) -> bool: ...
    @property
    def unused_data(self) -> bytes: ...

    def decompress(self, data: bytes) -> bytes: ...


@dataclass(frozen=True, slots=True)
class CsvFootprint:
    """`size`: bytes on disk; `rows`, `columns`: estimated from the first lines; `needed`:
    estimated peak bytes of memory to load it."""

    size: int
    rows: int
    columns: int

    @property
    def needed(self) -> int:
        return self.rows * self.columns * BYTES_PER_CELL


def csv_footprint(path: Path) -> CsvFootprint:
    """Estimate rows and columns of a CSV with a header row from its first 64 KiB of text
    (more where the header is longer): columns from the header, rows from the cells per byte
    after it (so a row longer than the sample still counts) times the text's length. A .gz,
    .bz2 or .xz file (pandas reads those as they are) is sampled decompressed; its text length
    is the gzip trailer's (ISIZE, modulo 4 GiB) or the sample's compression ratio times the
    file size. Other archives (.zip, .zst), and a file its suffix misnames, are not
    estimated: 0 rows."""
    size = path.stat().st_size
    text, length = _text_sample(path, size)
    header_end = text.find(b"\n")
    if header_end < 0:  # no line end within the sample: not estimated
        return CsvFootprint(size, 0, text.count(b",") + 1)
    columns = text[:header_end].count(b",") + 1
    body = text[header_end + 1:]
    if not body.strip():
        return CsvFootprint(size, 0, columns)
    cells_per_byte = (body.count(b",") + body.count(b"\n")) / len(body)
    rows = round((length - header_end - 1) * cells_per_byte / columns)
    return CsvFootprint(size, max(rows, 1), columns)


def _text_sample(path: Path, size: int) -> tuple[bytes, int]:
    """The first `_SAMPLE_BYTES` of the file's text (up to `_MAX_SAMPLE` until the header
    line ends) and the text's estimated length. A compressed file is decompressed for at
    least `_RATIO_INPUT` bytes of it: bz2 and xz give their output a block late."""
    suffix = path.suffix.lower()
    if suffix in _UNESTIMATED:
        return b"", 0
    make = _DECOMPRESSORS.get(suffix)
    decompressor = None if make is None else make()
    text, fed, produced = b"", 0, 0
    with path.open("rb") as handle:
        while (len(text) < _SAMPLE_BYTES or (b"\n" not in text and len(text) < _MAX_SAMPLE)
               or (decompressor is not None and fed < _RATIO_INPUT)):
            chunk = handle.read(_CHUNK)
            if not chunk:
                return text, produced if decompressor is not None else size  # all read
            fed += len(chunk)
            try:
                out = chunk if decompressor is None else decompressor.decompress(chunk)
            except (zlib.error, lzma.LZMAError, OSError, EOFError):
                return b"", 0  # not what its suffix says: reading it names the problem
            produced += len(out)
            if len(text) < _MAX_SAMPLE:
                text += out[:_MAX_SAMPLE - len(text)]
            if decompressor is not None and decompressor.eof:  # a member (stream) ends
                fed -= len(decompressor.unused_data)
                if not decompressor.unused_data and not handle.read(1):
                    return text, produced
                break
    if decompressor is None:
        return text, size
    estimate = round(size * produced / max(fed, 1))
    return text, _with_gzip_trailer(path, estimate) if suffix == ".gz" else estimate


def _with_gzip_trailer(path: Path, estimate: int) -> int:
    """The text length a gzip file's trailer gives (ISIZE: the length modulo 2**32 of its last
    member), unless it is under half `estimate` (a file of several members: ISIZE counts only
    the last); else `estimate`. Later rows may compress far better than the first: a larger
    ISIZE stands."""
    with path.open("rb") as handle:
        handle.seek(-4, os.SEEK_END)
        isize = int.from_bytes(handle.read(4), "little")
    wraps = max(0, -(-(estimate // 2 - isize) // 2**32))  # the fewest that reach estimate/2
    return isize + wraps * 2**32


def available_memory(cgroups: Cgroups = THIS_PROCESS, meminfo: Path = MEMINFO) -> int | None:
    """Bytes this process can still allocate: MemAvailable (free plus reclaimable cache),
    lowered by a container's (cgroup's) limit less its usage, page cache not counted as used
    (`Cgroups.memory_available`); else free pages where the platform reports them; None where
    nothing can be read (then nothing is refused)."""
    found = []
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    in_group = cgroups.memory_available()
    if in_group is not None:
        found.append(in_group)
    if not found and hasattr(os, "sysconf"):
        try:
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (OSError, ValueError):
            pass
    return max(min(found), 0) if found else None


def human(size: float) -> str:
    """1234567 -> '1.2 MB' (decimal units, as file managers show sizes)."""
    units = ("bytes", "kB", "MB", "GB", "TB")
    step = 0
    while size >= 1000 and step < len(units) - 1:
        size, step = size / 1000, step + 1
    return f"{size:.0f} {units[step]}" if step < 2 else f"{size:.1f} {units[step]}"
