"""Suite-wide settings."""

from __future__ import annotations

import os
import tempfile


def pytest_configure(config: object) -> None:
    """Installed plugins stay out of the suite (their names would change the registries the
    tests compare); tests/test_example_plugin.py turns them on for its own processes.

    One intra-op thread per xdist worker: `pytest -n 2` already fills both cores, and two
    workers each spinning two OpenMP threads on two cores make small convolutions run
    hundreds of times slower (measured: a 6x4x8x8 conv step 0.09 ms alone, 78 ms so)."""
    os.environ.setdefault("NASFORGE_NO_PLUGINS", "1")
    # the fused cost model's per-machine cache: never the user's ~/.cache in tests
    os.environ.setdefault("NASFORGE_CACHE_DIR", tempfile.mkdtemp(prefix="nasforge-tests-"))
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import torch

        torch.set_num_threads(1)
