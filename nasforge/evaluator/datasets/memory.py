"""Will a CSV fit in memory? An estimate from its size and first lines, before loading it.

pandas parses every cell to a float64, `load_csv` copies the features to a float64 array, and
`evaluator.data` indexes the train part (another float64 copy) and writes float32 splits:
about `BYTES_PER_CELL` bytes per cell at the peak (measured: 22.5 for `load_dataset` on a
131 MB CSV of 400,000 rows x 51 columns, peak RSS 653 MB against 193 MB for digits). A file
whose estimate exceeds the available memory is refused with its size, instead of ending in a
MemoryError (or the kernel's OOM killer) minutes into parsing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from nasforge.evaluator.cgroup import THIS_PROCESS, Cgroups

BYTES_PER_CELL = 24
_SAMPLE_BYTES = 1 << 16
MEMINFO = Path("/proc/meminfo")


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
    """Estimate rows and columns of a CSV with a header row from its first 64 KiB."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(_SAMPLE_BYTES)
    lines = head.split(b"\n")
    if len(head) == _SAMPLE_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the last line is cut
    header, rows = lines[0], [line for line in lines[1:] if line.strip()]
    columns = header.count(b",") + 1
    if not rows:
        return CsvFootprint(size, 0, columns)
    row_bytes = sum(len(line) + 1 for line in rows) / len(rows)
    return CsvFootprint(size, round((size - len(header) - 1) / row_bytes), columns)


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
