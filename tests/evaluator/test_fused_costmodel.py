"""The fused cost model: stack planning, the per-machine calibration and its disk cache, and
the policy's use of it (probing only where it is unsure)."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest
import torch
from fused_helpers import blobs, mlp

from nasforge.evaluator.fused import FusedPolicy, ProbeTiming
from nasforge.evaluator.fused.align import align
from nasforge.evaluator.fused.calibration import (
    cache_dir,
    cached_model,
    calibrate,
    cpu_share,
    machine_facts,
)
from nasforge.evaluator.fused.costmodel import CostModel, fused_features, plan_stacks
from nasforge.evaluator.train import TrainingParams

CPU = torch.device("cpu")
# alone: 1 ms per op, 10 ns per parameter; fused: 0.1 ms per slot, 10 us per model's dropout
# and per activation group, 10 ns per padded parameter
CHEAP_STACKS = CostModel(alone=(1e-3, 1e-8, 0.0, 0.0), fused=(1e-4, 1e-5, 1e-5, 0.0, 1e-8, 0.0))


class Counting:
    def __init__(self, model: CostModel = CHEAP_STACKS) -> None:
        self.model, self.calls = model, 0

    def __call__(self, device: torch.device) -> CostModel:
        self.calls += 1
        return self.model


def test_cache_dir_honours_the_override_then_xdg_then_home() -> None:
    assert cache_dir({"NASFORGE_CACHE_DIR": "/a", "XDG_CACHE_HOME": "/b"}) == Path("/a")
    assert cache_dir({"XDG_CACHE_HOME": "/b"}) == Path("/b/nasforge")
    assert cache_dir({}) == Path.home() / ".cache" / "nasforge"


def test_the_model_is_calibrated_once_per_machine_and_read_back(tmp_path: Path) -> None:
    fake = Counting()
    assert cached_model(CPU, tmp_path, calibrate_fn=fake) == CHEAP_STACKS
    assert cached_model(CPU, tmp_path, calibrate_fn=fake) == CHEAP_STACKS
    assert fake.calls == 1
    [path] = tmp_path.glob("fused-cost-*.json")
    assert json.loads(path.read_text())["facts"] == machine_facts(CPU)


def test_another_thread_count_is_another_machine(tmp_path: Path) -> None:
    fake, threads = Counting(), torch.get_num_threads()
    cached_model(CPU, tmp_path, calibrate_fn=fake)
    try:
        torch.set_num_threads(threads + 1)
        cached_model(CPU, tmp_path, calibrate_fn=fake)
    finally:
        torch.set_num_threads(threads)
    assert fake.calls == 2 and len(list(tmp_path.glob("fused-cost-*.json"))) == 2


@pytest.mark.parametrize("text", ["{not json", '{"facts": 1}', '{"model": {"alone": [1]}}',
                                  "[]"])
def test_a_corrupt_cache_is_logged_and_replaced(tmp_path: Path, text: str,
                                                caplog: pytest.LogCaptureFixture) -> None:
    fake = Counting()
    cached_model(CPU, tmp_path, calibrate_fn=fake)
    [path] = tmp_path.glob("fused-cost-*.json")
    path.write_text(text)
    with caplog.at_level(logging.WARNING):
        assert cached_model(CPU, tmp_path, calibrate_fn=fake) == CHEAP_STACKS
    assert fake.calls == 2 and "unreadable" in caplog.text
    assert cached_model(CPU, tmp_path, calibrate_fn=fake) == CHEAP_STACKS  # replaced
    assert fake.calls == 2


def test_a_calibration_that_shared_its_core_is_cached_with_a_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Waiting (as a thread does while another process has its core) is wall time without
    CPU time: the model is kept, and the user told how to redo it."""
    def waiting(device: torch.device) -> CostModel:
        time.sleep(0.2)
        return CHEAP_STACKS

    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        with caplog.at_level(logging.WARNING):
            assert cached_model(CPU, tmp_path, calibrate_fn=waiting) == CHEAP_STACKS
    finally:
        torch.set_num_threads(threads)
    [path] = tmp_path.glob("fused-cost-*.json")
    assert "other work shared the cores" in caplog.text and str(path) in caplog.text
    assert json.loads(path.read_text())["cpu_share"] < 0.5
    assert cpu_share(1.0, 0.95) == 0.95 and cpu_share(0.01, 0.0) == 1.0  # too short to judge


def test_an_unwritable_cache_still_gives_a_model(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert cached_model(CPU, blocker / "sub", calibrate_fn=Counting()) == CHEAP_STACKS


def test_calibrate_fits_non_negative_coefficients_and_leaves_rng_alone() -> None:
    before = torch.get_rng_state()
    model = calibrate(CPU)
    assert torch.equal(before, torch.get_rng_state())
    assert all(c >= 0 for c in (*model.alone, *model.fused))
    assert model.alone_step(mlp(width=64), 64) > 0


def test_cheap_stacks_take_every_candidate_in_one_stack() -> None:
    plans = [mlp(norm, width=w, depth=d) for norm, w, d in (
        ("none", 16, 1), ("batch", 8, 2), ("layer", 12, 3), ("batch", 16, 2))]
    [stack] = plan_stacks(plans, 24, CHEAP_STACKS)
    assert stack.members == (0, 1, 2, 3) and stack.fused < stack.alone


def test_padding_that_costs_more_than_training_alone_splits_the_stack() -> None:
    compute_bound = CostModel(alone=(1e-3, 1e-7, 0.0, 0.0), fused=(1e-5, 1e-6, 0.0, 0.0, 1e-7, 0.0))
    plans = [mlp(width=w) for w in (256, 8, 240, 8)]
    stacks = plan_stacks(plans, 24, compute_bound)
    assert sorted(s.members for s in stacks) == [(0, 2), (1, 3)]


class CountingProbe:
    def __init__(self, fused: float, sequential: float) -> None:
        self.timing, self.calls = ProbeTiming(fused, sequential), 0

    def __call__(self, *args: object) -> ProbeTiming:
        self.calls += 1
        return self.timing


def test_the_policy_probes_only_where_the_model_is_unsure() -> None:
    plans, params = [mlp(width=16)] * 4, [TrainingParams(batch_size=24)] * 4
    probe = CountingProbe(0.1, 1.0)  # the probe would always fuse
    sure = FusedPolicy(probe, model=Counting(CHEAP_STACKS))
    assert sure.stacks(plans, blobs(), params, "classification") == [([0, 1, 2, 3], True)]
    assert probe.calls == 0
    alone = sum(CostModel((1e-3, 0.0, 0.0, 0.0), (0.0,) * 6).alone_step(p, 24) for p in plans)
    slots = fused_features(align(plans), 24)[0]

    def predicting(fused: float) -> FusedPolicy:  # the model predicts `fused` s a step
        return FusedPolicy(probe, model=CostModel(alone=(1e-3, 0.0, 0.0, 0.0),
                                                  fused=(fused / slots, *(0.0,) * 5)))

    # fused predicted 1.2x faster: x margin 1.1, a gain by less than `unsure`: the probe decides
    unsure = predicting(alone / 1.2)
    assert unsure.stacks(plans, blobs(), params, "classification") == [([0, 1, 2, 3], True)]
    assert probe.calls == 1
    assert unsure.may_fuse(alone / 1.2, alone)
    # fused predicted as slow as alone: no gain predicted, sequential unprobed (the model errs
    # on the fast side)
    no_gain = predicting(alone)
    assert no_gain.stacks(plans, blobs(), params, "classification") == [([0, 1, 2, 3], False)]
    assert probe.calls == 1
    assert not no_gain.may_fuse(alone, alone)
    never = FusedPolicy(probe, model=CostModel(alone=(1e-6, 0.0, 0.0, 0.0),
                                               fused=(1.0, *(0.0,) * 5)))
    assert never.stacks(plans, blobs(), params, "classification") == [([0, 1, 2, 3], False)]
    assert probe.calls == 1


def test_a_model_that_cannot_be_built_falls_back_to_probing() -> None:
    def broken(device: torch.device) -> CostModel:
        raise RuntimeError("no disk")

    probe = CountingProbe(0.1, 1.0)
    policy = FusedPolicy(probe, model=broken)
    plans, params = [mlp(width=16)] * 3, [TrainingParams(batch_size=24)] * 3
    assert policy.stacks(plans, blobs(), params, "classification") == [([0, 1, 2], True)]
    assert probe.calls == 1


def test_cost_model_refuses_bad_coefficients() -> None:
    with pytest.raises(ValueError, match="all >= 0"):
        CostModel(alone=(1.0, -1.0, 0.0, 0.0), fused=(0.0,) * 6)
    with pytest.raises(ValueError):
        CostModel.from_dict({"alone": [1.0]})


def test_a_model_source_is_asked_once_per_thread_count() -> None:
    asked: list[int] = []

    def source(device: torch.device) -> CostModel:
        asked.append(torch.get_num_threads())
        return CHEAP_STACKS

    policy = FusedPolicy(model=source)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert policy.cost_model(CPU) is CHEAP_STACKS
        assert policy.cost_model(CPU) is CHEAP_STACKS
        torch.set_num_threads(2)
        assert policy.cost_model(CPU) is CHEAP_STACKS
    finally:
        torch.set_num_threads(before)
    assert asked == [1, 2]
