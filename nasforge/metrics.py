"""The metric names nasforge's evaluators report, defined once: what each means, which are
better when larger, and which learning-curve key holds a metric after each epoch.

Torch-free and importing nothing else from nasforge, so every layer may use it (the
evaluator, the strategies, the dashboard). Not the measuring (`evaluator.local`,
`evaluator.measure`) nor checking a search's objectives against what an evaluator returned
(`nasforge.objective_metrics`). The names are a public API: stores and configs hold them.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

# The metrics of a trained candidate (`LocalEvaluator`).
ACCURACY = "accuracy"
LOSS = "loss"
TEST_ACCURACY = "test_accuracy"
TEST_LOSS = "test_loss"
TRAIN_LOSS = "train_loss"
PARAMS = "params"
MACS = "macs"
BOPS = "bops"
SIZE_BITS = "size_bits"
LATENCY_MS = "latency_ms"
LATENCY_MS_P90 = "latency_ms_p90"
THROUGHPUT = "throughput"
TRAIN_SECONDS = "train_seconds"
TRAIN_CPU_SECONDS = "train_cpu_seconds"
EPOCHS = "epochs"
PEAK_MEMORY_MB = "peak_memory_mb"

# The keys of a learning-curve point (one per epoch), besides TRAIN_LOSS.
VAL_ACCURACY = "val_accuracy"
VAL_LOSS = "val_loss"

DESCRIPTIONS: Mapping[str, str] = MappingProxyType({
    ACCURACY: "final-epoch validation accuracy (classification only)",
    LOSS: "final validation loss",
    TEST_ACCURACY: "test accuracy (classification only; reported, never chosen on)",
    TEST_LOSS: "test loss (reported, never chosen on)",
    TRAIN_LOSS: "training loss of the last epoch",
    PARAMS: "trainable parameters",
    MACS: "multiply-accumulates per sample, from the plan",
    BOPS: "bit operations per sample: MACs x weight bits x activation bits, from the plan",
    SIZE_BITS: "weights at their bit width, other parameters at 32",
    LATENCY_MS: ("the fastest forward at latency_batch (what load does not inflate), repeated "
                 "until the fastest is stable (at least 6), when measured"),
    LATENCY_MS_P90: ("the 90th percentile of those forwards: far above latency_ms when other "
                     "work shared the device"),
    THROUGHPUT: "samples per second at throughput_batch, from its fastest forward",
    TRAIN_SECONDS: "training wall time (a fused candidate: its share of the bucket's)",
    TRAIN_CPU_SECONDS: ("this process's CPU time while training, all its threads (waiting for "
                        "a busy CPU does not count)"),
    EPOCHS: "epochs trained",
    PEAK_MEMORY_MB: "peak allocated device memory while training (CUDA only)",
    VAL_ACCURACY: "validation accuracy after an epoch (learning curve)",
    VAL_LOSS: "validation loss after an epoch (learning curve)",
})

#: Metrics that are better when larger; every other metric that is not an objective is
#: taken as a cost (smaller is better).
LARGER_IS_BETTER = frozenset({ACCURACY, TEST_ACCURACY, VAL_ACCURACY, THROUGHPUT})

#: Zero-cost proxy scores (``zc_<proxy>``, `nasforge.proxies`): larger predicts a better
#: network, for every proxy; ``zc_seconds`` is their cost.
ZERO_COST_PREFIX = "zc_"
ZERO_COST_SECONDS = "zc_seconds"


def larger_is_better(metric: str) -> bool:
    """Whether `metric` is better when larger (accuracies, throughput, proxy scores)."""
    return metric in LARGER_IS_BETTER or (metric.startswith(ZERO_COST_PREFIX)
                                          and metric != ZERO_COST_SECONDS)

#: Objective metric -> the learning-curve key that holds its value after each epoch.
CURVE_KEYS: Mapping[str, str] = MappingProxyType({ACCURACY: VAL_ACCURACY, LOSS: VAL_LOSS})

_ALWAYS = (LOSS, TEST_LOSS, TRAIN_LOSS, PARAMS, MACS, BOPS, SIZE_BITS, TRAIN_SECONDS,
           TRAIN_CPU_SECONDS, EPOCHS)
_CLASSIFICATION = (ACCURACY, TEST_ACCURACY)
_TIMED = (LATENCY_MS, LATENCY_MS_P90, THROUGHPUT)


def trained_metrics(task: str, *, measure_latency: bool = True,
                    cuda: bool = False) -> tuple[str, ...]:
    """The metrics a trained candidate reports (`LocalEvaluator`): what objectives may name.
    Accuracies for classification only; latency and throughput when measured; peak memory
    on CUDA only."""
    names = list(_ALWAYS)
    if task == "classification":
        names += _CLASSIFICATION
    if measure_latency:
        names += _TIMED
    if cuda:
        names.append(PEAK_MEMORY_MB)
    return tuple(names)
