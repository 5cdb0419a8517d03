"""Paths the user names (the config, csv:/npz: data, data folders, the checkpoint folder).

`look_up` says what is at a path (None: nothing), where `Path.exists()` and `is_dir()` raise
a bare PermissionError when a folder on the way may not be searched (`chmod 000`, another
user's home): it raises the caller's NasforgeError naming the path and the fix instead.
`check_regular_file` refuses what is not a regular file: opening a named pipe (FIFO) blocks
until another process writes to it, so a config or data path that names one would hang the
command forever; a device or socket is no better. `stat` tells without opening. Torch-free and
numpy-free: the config loader uses it too.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from nasforge.errors import NasforgeError

_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def look_up(path: Path, what: str, error: type[NasforgeError]) -> os.stat_result | None:
    """`path`'s status (`stat.S_ISDIR(found.st_mode)`: a folder), None where nothing is
    there (or a file stands where a folder is expected on the way). Raises `error` when this
    user may not look (a folder on the way lacks search permission)."""
    try:
        return path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except PermissionError as err:
        raise error(f"{what} {path}: permission denied looking it up ({err.strerror}); a "
                    "folder on the way cannot be read by this user. Give this user access "
                    f"(e.g. chmod u+rx on each folder of {path.parent}), or use a path "
                    "elsewhere.") from None


def is_folder(path: Path, what: str, error: type[NasforgeError]) -> bool:
    """`Path.is_dir()`, raising `error` where this user may not look (`look_up`)."""
    found = look_up(path, what, error)
    return found is not None and stat.S_ISDIR(found.st_mode)


def check_regular_file(path: Path, what: str, error: type[NasforgeError]) -> None:
    """Raise `error` if `path` exists and is a pipe, socket or device (reading it could block
    forever). Missing paths and folders pass: the caller's own open reports those."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    for test, kind in _KINDS:
        if test(mode):
            raise error(f"{what} {path} is {kind}, not a regular file; reading it could wait "
                        "forever. Save the content to a regular file and give its path.")
