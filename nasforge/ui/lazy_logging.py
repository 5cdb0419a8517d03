"""The command line's log handler: Rich's, made on the first record it handles.

Importing Rich's handler (and its console) costs tens of milliseconds of a command's
start-up; most runs of `nasforge list` or `nasforge show` log nothing, so the import waits
until a record arrives. What is printed is what Rich's handler prints.
"""

from __future__ import annotations

import logging


class LazyRichHandler(logging.Handler):
    """A `rich.logging.RichHandler` on stderr (no source path), made when first needed."""

    def __init__(self) -> None:
        super().__init__()
        self._inner: logging.Handler | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self._inner is None:
            from rich.console import Console
            from rich.logging import RichHandler

            self._inner = RichHandler(console=Console(stderr=True), show_path=False)
            self._inner.setFormatter(self.formatter)
            self._inner.setLevel(self.level)
        self._inner.handle(record)
