"""The `rings` dataset: three noisy concentric rings in 2-D plus 6 noise features, generated
offline from a fixed seed (nasforge splits it with the search's seed)."""

from __future__ import annotations

import numpy as np

from nasforge.evaluator.data.base import LoadContext, RawData

SAMPLES = 600


def load_rings(ctx: LoadContext) -> RawData:
    """Three concentric noisy rings (600 samples, 8 features, 3 classes), generated."""
    rng = np.random.default_rng(0)
    y = np.arange(SAMPLES) % 3
    angle = rng.uniform(0, 2 * np.pi, SAMPLES)
    radius = 1.0 + y + rng.normal(0, 0.25, SAMPLES)
    ring = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    x = np.concatenate([ring, rng.normal(0, 1, (SAMPLES, 6))], axis=1).astype(np.float32)
    return RawData(x, y, task="classification", num_classes=3, classes=("inner", "middle", "outer"),
                   source="rings (nasforge_example)",
                   raw_input="8 features: a point on a ring (x, y), then 6 noise features")
