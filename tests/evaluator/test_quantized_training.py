"""Quantization-aware training through the evaluator: an MLP with 2-bit weights and 2-bit
activations in every layer still learns digits (0.955 measured), and its metrics carry the
reduced bit operations and size."""

from __future__ import annotations

import pytest

from nasforge.evaluator.data import load_dataset
from nasforge.evaluator.data.tensors import to_device
from nasforge.evaluator.local import LocalEvaluator
from nasforge.records import TrialState
from nasforge.searchspace.architecture import Architecture


@pytest.mark.slow
def test_a_two_bit_mlp_learns_digits() -> None:
    data = to_device(load_dataset("digits", seed=0), "cpu")
    base = {"family": "mlp", "mlp.depth": 1, "mlp.width": 128, "activation": "relu",
            "norm": "batch", "dropout": 0.0, "lr": 3e-3, "weight_decay": 0.0,
            "batch_size": 64, "epochs": 12, "optimizer": "adamw", "schedule": "cosine"}
    archs = [Architecture(base), Architecture({**base, "weight_bits": 2, "act_bits": 2})]
    float_result, quant_result = LocalEvaluator(data, seed=0, measure_latency=False
                                                ).evaluate(archs)
    assert quant_result.state is TrialState.COMPLETE, quant_result.error
    assert quant_result.metrics["accuracy"] >= 0.90
    # every layer, the input one included, multiplies 2-bit weights by 2-bit activations
    assert quant_result.metrics["bops"] == (64 * 128 + 128 * 10) * 2 * 2
    assert float_result.metrics["bops"] == (64 * 128 + 128 * 10) * 32 * 32
    assert quant_result.metrics["size_bits"] < float_result.metrics["size_bits"] / 3
