"""Torch threads per candidate (`evaluator.threads`): one for a small training step, the
process's threads for a large one, a configured count as given; always restored after."""

from __future__ import annotations

import pytest
import torch
from evaluator_helpers import blobs

from nasforge.config import from_dict
from nasforge.evaluator import local
from nasforge.evaluator.local import LocalEvaluator
from nasforge.evaluator.threads import (
    AUTO_MIN_MACS_PER_STEP,
    candidate_threads,
    candidate_torch_threads,
    torch_threads,
)
from nasforge.evaluator_setup import build_evaluator
from nasforge.searchspace.architecture import Architecture

SMALL_STEP = AUTO_MIN_MACS_PER_STEP // 64 - 1  # MACs a sample, at batch_size 64
#: an 8-input, 3-class MLP of one hidden layer this wide (8w + 3w MACs a sample) has a step of
#: 256 samples above the threshold
HUGE_WIDTH = AUTO_MIN_MACS_PER_STEP // (11 * 256) + 1


@pytest.mark.parametrize("macs, batch, setting, available, expected", [
    (SMALL_STEP, 64, "auto", 2, 1),
    (SMALL_STEP + 1, 64, "auto", 2, 2),
    (SMALL_STEP + 1, 64, "auto", 8, 8),
    (SMALL_STEP, 128, "auto", 4, 4),  # the same model at twice the batch: a large step
    (10**12, 64, "auto", 1, 1),
    (10, 64, 3, 2, 3),  # a configured count is used as given
    (10**12, 64, 1, 8, 1),
])
def test_the_count_depends_on_the_step_the_setting_and_the_available_threads(
        macs, batch, setting, available, expected) -> None:
    assert candidate_threads(macs, batch, setting, available) == expected


@pytest.mark.parametrize("bad", [0, -1, "two", True, 1.5])
def test_a_bad_setting_is_refused(bad) -> None:
    with pytest.raises(ValueError, match="threads ="):
        candidate_threads(10, 64, bad, 2)


@pytest.fixture()
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_the_count_is_restored_even_when_the_block_raises(two_threads) -> None:
    with pytest.raises(RuntimeError), torch_threads(1):
        assert torch.get_num_threads() == 1
        raise RuntimeError("boom")
    assert torch.get_num_threads() == 2


def test_other_devices_keep_the_process_threads(two_threads) -> None:
    with candidate_torch_threads(10, 64, "auto", torch.device("meta")) as threads:
        assert threads == 2 == torch.get_num_threads()


def arch(width: int, **changes: object) -> Architecture:
    values = {"family": "mlp", "mlp.depth": 1, "mlp.width": width, "activation": "relu",
              "norm": "none", "dropout": 0.0, "lr": 1e-2, "epochs": 1, "batch_size": 64,
              "optimizer": "adamw", "schedule": "cosine", **changes}
    return Architecture(values)  # type: ignore[arg-type]


def threads_seen(monkeypatch, evaluator: LocalEvaluator, archs: list[Architecture]) -> list:
    seen: list[int] = []
    train = local.train_candidate

    def recording(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return train(*args, **kwargs)

    monkeypatch.setattr(local, "train_candidate", recording)
    results = evaluator.evaluate(archs)
    assert all(r.error is None for r in results)
    return seen


def test_a_small_candidate_trains_with_one_thread_a_large_one_with_all(
        monkeypatch, two_threads) -> None:
    evaluator = LocalEvaluator(blobs(), seed=0, measure_latency=False, fused=False)
    huge = arch(HUGE_WIDTH, batch_size=256)
    assert threads_seen(monkeypatch, evaluator, [arch(16), huge]) == [1, 2]
    assert torch.get_num_threads() == 2


def test_a_configured_count_applies_to_every_candidate(monkeypatch, two_threads) -> None:
    evaluator = LocalEvaluator(blobs(), seed=0, measure_latency=False, fused=False, threads=1)
    assert threads_seen(monkeypatch, evaluator, [arch(HUGE_WIDTH, batch_size=256)]) == [1]


def test_auto_trains_a_small_candidate_as_one_thread_does(two_threads) -> None:
    """Bitwise: "auto" is one thread here, whatever the process was given."""
    auto = LocalEvaluator(blobs(), seed=0, measure_latency=False).evaluate([arch(32)])[0]
    one = LocalEvaluator(blobs(), seed=0, measure_latency=False,
                         threads=1).evaluate([arch(32)])[0]
    timing = {"train_seconds", "train_cpu_seconds"}
    assert {k: v for k, v in auto.metrics.items() if k not in timing} == {
        k: v for k, v in one.metrics.items() if k not in timing}


def test_the_config_key_reaches_the_evaluator() -> None:
    raw = {"search": {"name": "t", "budget": 1, "objectives": ["accuracy:max"]},
           "data": {"dataset": "digits"}, "training": {"epochs": 1, "threads": 3},
           "space": {"families": ["mlp"]}}
    evaluator = build_evaluator(from_dict(raw))
    assert isinstance(evaluator, LocalEvaluator) and evaluator.threads == 3
