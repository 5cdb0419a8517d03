"""The error hierarchy: one root, a few specific kinds.

Every message says what was wrong and how to fix it; the CLI prints it and exits with code 2.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(name: object, candidates: Iterable[str], n: int = 3) -> str:
    """' Did you mean \'a\', \'b\'?' for the candidates nearest to `name`, or \'\'."""
    near = difflib.get_close_matches(str(name), list(candidates), n=n, cutoff=0.5)
    return f" Did you mean {', '.join(map(repr, near))}?" if near else ""


class NasforgeError(Exception):
    """Root of every error nasforge raises on purpose."""


class ConfigError(NasforgeError):
    """A configuration file or value is invalid (names the field, the value, what is allowed)."""


class SpaceError(NasforgeError):
    """A search space or an architecture does not fit its space."""


class UnknownNameError(NasforgeError, KeyError):
    """A registry lookup failed; the message lists the nearest registered names."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class DataError(NasforgeError):
    """A dataset is missing, unreadable or malformed."""


class StoreError(NasforgeError):
    """The store cannot be opened, or a request contradicts what it holds."""


class SearchNotFoundError(StoreError):
    """No search of that name exists in the store."""


class SearchExistsError(StoreError):
    """A search of that name already exists (resume it, or choose another name)."""


class LeaseLostError(StoreError):
    """A worker reported a trial it no longer holds: the trial was re-queued (its heartbeat
    went stale) and may be running elsewhere. The late result is dropped; nothing changed."""
