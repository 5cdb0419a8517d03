"""An evaluator for a plain parameter space, installed as the entry point ``example_quadratic``
of the group ``nasforge.evaluators`` (a config says ``callable = "example_quadratic"``)."""

from __future__ import annotations

import math


def quadratic(params: dict[str, object], *, scale: float = 1.0) -> dict[str, float]:
    """A smooth bowl with its minimum at lr = 1e-2, depth = 4; cost grows with depth."""
    lr, depth = float(params["lr"]), int(params["depth"])  # type: ignore[arg-type]
    loss = scale * ((math.log10(lr) + 2.0) ** 2 + 0.1 * (depth - 4) ** 2)
    return {"loss": loss, "cost": float(depth)}
