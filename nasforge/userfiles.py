"""Files the user names (the config, csv:/npz: data): refuse what is not a regular file.

Opening a named pipe (FIFO) blocks until another process writes to it, so a config or data
path that names one would hang the command forever; a device or socket is no better. `stat`
tells without opening. Torch-free and numpy-free: the config loader uses it too.
"""

from __future__ import annotations

import stat
from pathlib import Path

from nasforge.errors import NasforgeError

_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


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
