"""A user evaluator for configs converted by `nasforge import nni` (tests/test_import_nni.py):
NNI trial code ported to nasforge, a synthetic accuracy of whatever parameters it is given."""

from __future__ import annotations


def evaluate(params: dict[str, object], **options: object) -> dict[str, float]:
    numbers = [float(v) for v in params.values() if isinstance(v, (int, float))]
    return {"accuracy": 1.0 / (1.0 + sum(abs(x) for x in numbers) / 1000.0),
            "loss": float(len(params))}
