"""The memory estimate of a CSV before it is parsed: rows and columns from its first bytes,
right for compressed files (pandas reads .gz, .bz2 and .xz as they are) and for rows wider
than the sample."""

from __future__ import annotations

import bz2
import gzip
import lzma
import random
from pathlib import Path

import pytest

from nasforge.evaluator.data.memory import BYTES_PER_CELL, csv_footprint


def table(rows: int, columns: int) -> bytes:
    header = ",".join(f"feature_{c:05d}" for c in range(columns - 1)) + ",label\n"
    body = "".join(",".join(f"{(r * 7 + c) % 1000 / 7:.4f}" for c in range(columns - 1))
                   + f",{r % 3}\n" for r in range(rows))
    return (header + body).encode()


@pytest.mark.parametrize("suffix, compress", [("", bytes), (".gz", gzip.compress),
                                              (".bz2", bz2.compress), (".xz", lzma.compress)])
def test_rows_and_columns_of_plain_and_compressed_files(tmp_path: Path, suffix, compress) -> None:
    path = tmp_path / f"data.csv{suffix}"
    path.write_bytes(compress(table(30_000, 6)))
    found = csv_footprint(path)
    assert found.columns == 6
    assert found.rows == pytest.approx(30_000, rel=0.05), found
    assert found.size == path.stat().st_size
    assert found.needed == found.rows * 6 * BYTES_PER_CELL


def test_gzip_beyond_the_sample_uses_the_trailer_size(tmp_path: Path) -> None:
    """Rows early in the file may compress unlike the rest (here: random, then one row
    repeated): the gzip trailer (ISIZE) gives the exact length."""
    draw = random.Random(0)
    head = "".join(",".join(f"{draw.random():.6f}" for _ in range(7)) + f",{r % 3}\n"
                   for r in range(60_000))  # random digits: > 1 MiB compressed
    text = ("a,b,c,d,e,f,g,label\n" + head).encode()
    text += (",".join(["0.500000"] * 7) + ",1\n").encode() * 600_000
    path = tmp_path / "mixed.csv.gz"
    path.write_bytes(gzip.compress(text, compresslevel=1))
    assert path.stat().st_size > 2**20
    assert csv_footprint(path).rows == pytest.approx(660_000, rel=0.02)


def test_rows_wider_than_the_sample(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    path.write_bytes(table(6, 20_000))  # a 280 kB header, 160 kB rows
    found = csv_footprint(path)
    assert found.columns == 20_000
    assert found.rows == pytest.approx(6, abs=1), found


def test_a_header_only_file_has_no_rows(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"a,b,label\n")
    assert (csv_footprint(path).rows, csv_footprint(path).columns) == (0, 3)


@pytest.mark.parametrize("suffix", [".gz", ".bz2", ".xz"])
def test_a_file_that_is_not_what_its_suffix_says_is_not_estimated(tmp_path: Path,
                                                                  suffix: str) -> None:
    """No decompression error escapes: reading the file (pandas) names the problem later."""
    path = tmp_path / f"data.csv{suffix}"
    path.write_bytes(table(100, 3))  # plain text
    assert csv_footprint(path).rows == 0
