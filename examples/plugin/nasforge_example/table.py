"""The `example_table` benchmark table: a 3 x 3 x 3 space of (activation, width, blocks) with
made-up accuracies and exact parameter counts, built from arrays."""

from __future__ import annotations

import numpy as np

from nasforge.benchmark import TabularBenchmark
from nasforge.searchspace.params import Choice
from nasforge.searchspace.space import SearchSpace

SPACE = SearchSpace({"activation": Choice(("relu", "sqrelu", "gelu")),
                     "width": Choice((16, 32, 64)), "blocks": Choice((1, 2, 3))})


def example_table() -> TabularBenchmark:
    """Accuracy grows with width and depth (sqrelu a little ahead); params count exactly."""
    archs = [a.mapping for a in SPACE.enumerate()]
    bonus = {"relu": 0.0, "sqrelu": 0.01, "gelu": 0.005}
    accuracy = np.array([0.8 + 0.02 * np.log2(a["width"] / 16) + 0.015 * a["blocks"]
                         + bonus[a["activation"]] for a in archs])
    params = np.array([float(a["blocks"] * (a["width"] ** 2 + a["width"])) for a in archs])
    return TabularBenchmark.from_arrays(SPACE, {"accuracy": accuracy, "params": params},
                                        name="example_table", directions={"params": "min"})
