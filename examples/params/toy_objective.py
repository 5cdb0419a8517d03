"""A user evaluator for examples/params/run.toml: a synthetic "validation loss" of a few
training hyper-parameters, so the example runs in a second and needs no data.

nasforge calls ``score(params, **options)`` once per candidate: ``params`` is one point of
``[space.params]`` as a dict (``momentum`` only when ``opt == "sgd"``), ``options`` the
``[evaluator.options]`` table. It returns the metrics that ``[search] objectives`` name.
"""

from __future__ import annotations

import math


def score(params: dict[str, object], *, noise: float = 0.0) -> dict[str, float]:
    lr = float(params["lr"])  # best near 1e-2
    depth = int(params["depth"])  # deeper is better, but costs more
    loss = (math.log10(lr) + 2.0) ** 2 + 1.0 / depth + noise
    if params["opt"] == "sgd":
        loss += (0.9 - float(params["momentum"])) ** 2
    else:
        loss += 0.05
    return {"loss": loss, "cost": float(depth)}
