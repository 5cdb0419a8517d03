"""mbconv and resnet candidates hold NOT_STACKABLE ops (residual blocks, squeeze-and-excite):
a batch of them asked for fused training trains each alone, with the results of training
them one by one."""

from __future__ import annotations

import numpy as np
import pytest
from fused_helpers import images, spy_train_fused

from nasforge.evaluator.fused import FusionError, check_fusable
from nasforge.evaluator.local import LocalEvaluator
from nasforge.records import TrialState
from nasforge.searchspace.assemble import assemble_space
from nasforge.searchspace.families import plan_for

TIMINGS = {"train_seconds", "train_cpu_seconds", "latency_ms", "latency_ms_p90", "throughput"}
TABLES = {"mbconv": {"stages": {"low": 1, "high": 2}, "width": [4, 8], "expand": [1, 2],
                     "head_channels": 8, "se": True},
          "resnet": {"stages": {"low": 1, "high": 2}, "width": [4, 8], "se": [False, True]}}


@pytest.mark.parametrize("family", ["mbconv", "resnet"])
def test_a_fused_batch_trains_each_candidate_alone_with_the_same_results(
        family: str, monkeypatch: pytest.MonkeyPatch) -> None:
    data = images()
    space = assemble_space([family], {"epochs": 2, "batch_size": 32, "norm": "batch"},
                           {family: TABLES[family]})
    archs = space.sample_distinct(3, np.random.default_rng(0))
    for arch in archs:
        with pytest.raises(FusionError, match="not supported by fused training"):
            check_fusable(plan_for(arch, data.spec), "candidate")
    stacks = spy_train_fused(monkeypatch)
    fused = LocalEvaluator(data, seed=1, fused=True, measure_latency=False).evaluate(archs)
    alone = LocalEvaluator(data, seed=1, fused=False, measure_latency=False).evaluate(archs)
    assert stacks == []  # nothing was stacked
    assert [r.state for r in fused] == [TrialState.COMPLETE] * 3, [r.error for r in fused]
    for a, b in zip(fused, alone, strict=True):
        assert {k: v for k, v in a.metrics.items() if k not in TIMINGS} == \
            {k: v for k, v in b.metrics.items() if k not in TIMINGS}
        assert a.curve == b.curve
        assert 0.0 <= a.metrics["accuracy"] <= 1.0
