"""The PAU by the name of its initial activation, with suggestions for an unknown name (the
portable class in `portable/pau.py` stays free of nasforge's errors, as model.py inlines it)."""

from __future__ import annotations

from nasforge.errors import UnknownNameError, did_you_mean
from nasforge.searchspace.layers.portable.pau import PAU, PAU_INIT


def pau(init: str = "leaky_relu") -> PAU:
    """A PAU initialised as `init` (one of PAU_INIT); UnknownNameError names the nearest."""
    if init not in PAU_INIT:
        raise UnknownNameError(f"Unknown PAU init {init!r}.{did_you_mean(init, PAU_INIT)} "
                               f"Choose one of: {', '.join(sorted(PAU_INIT))}.")
    return PAU(init)
