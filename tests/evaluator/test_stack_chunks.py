"""A CPU pool cuts a round into the stacks fusion pays for (whole) and single candidates,
costliest first (`fused.chunking.StackChunks`); a planner that fails falls back to the plain
split (`chunks.dispatch_order`)."""

from __future__ import annotations

import logging

import pytest
import torch

from nasforge.config import from_dict
from nasforge.evaluator.executors.chunks import dispatch_order, plan_chunks
from nasforge.evaluator.executors.pool import WorkerPool
from nasforge.evaluator.fused.chunking import StackChunks, _parts
from nasforge.evaluator.fused.costmodel import CostModel
from nasforge.evaluator_setup import load_checked, make_executor
from nasforge.searchspace.architecture import Architecture
from nasforge.searchspace.plan import DataSpec

SPEC = DataSpec((64,), 10)
# alone: 1 ms an op and 1 ns a MAC; fused: 1 ms a slot and 2 ns a padded MAC of each model.
# Narrow stacks (overhead) fuse, wide ones (arithmetic) train one after another.
OVERHEAD_BOUND = CostModel(alone=(1e-3, 0.0, 1e-9, 0.0), fused=(1e-3, 0.0, 0.0, 0.0, 0.0, 2e-9))


def _source(device: torch.device) -> CostModel:
    return OVERHEAD_BOUND


def _archs(widths: list[int], epochs: int = 2) -> list[Architecture]:
    return [Architecture({"family": "mlp", "mlp.depth": 2, "mlp.width": w, "activation": "relu",
                          "norm": "none", "dropout": 0.0, "lr": 1e-3, "epochs": epochs})
            for w in widths]


def _planner() -> StackChunks:
    return StackChunks(SPEC, "auto", 1, model=_source)


def test_narrow_candidates_go_out_as_one_stack_and_wide_ones_alone_costliest_first() -> None:
    archs = _archs([16, 512, 16, 512, 16, 16])
    assert _planner()(archs, 2) == [(1,), (3,), (0, 2, 4, 5)]


def test_a_stack_above_a_worker_s_share_is_cut_so_no_worker_idles() -> None:
    chunks = _planner()(_archs([16] * 8), 2)
    assert len(chunks) == 2 and sorted(i for c in chunks for i in c) == list(range(8))
    assert all(len(c) == 4 for c in chunks)
    assert _planner()(_archs([16] * 8), 1) == [tuple(range(8))]


def test_only_candidates_of_one_fusion_key_share_a_stack() -> None:
    archs = [*_archs([16, 16]), *_archs([16, 16], epochs=3)]
    assert _planner()(archs, 1) == [(2, 3), (0, 1)]  # three epochs cost more than two


def test_a_candidate_without_a_plan_is_a_chunk_of_its_own_and_goes_last() -> None:
    archs = [*_archs([16, 16]), Architecture({"family": "nope"})]
    assert _planner()(archs, 1) == [(0, 1), (2,)]


def test_wide_candidates_never_stack_under_a_model_that_says_fusion_costs_more() -> None:
    chunks = _planner()(_archs([512, 256, 512, 384]), 2)
    assert sorted(chunks) == [(0,), (1,), (2,), (3,)]


def test_the_model_is_asked_once_at_the_threads_a_worker_trains_with() -> None:
    asked: list[int] = []

    def source(device: torch.device) -> CostModel:
        asked.append(torch.get_num_threads())
        return OVERHEAD_BOUND

    planner = StackChunks(SPEC, "auto", 4, model=source)
    planner(_archs([16, 512]), 2)
    planner(_archs([16, 16]), 2)
    assert asked == [1]  # small steps train at one thread in a worker ("auto")


def _broken(archs: object, workers: int) -> list[tuple[int, ...]]:
    raise RuntimeError("no model")


@pytest.mark.parametrize("planner", [_broken, lambda archs, workers: [(0, 1), (1,)],
                                     lambda archs, workers: [(0,)]])
def test_a_planner_that_fails_or_loses_a_candidate_falls_back_to_the_plain_split(
        planner, caplog: pytest.LogCaptureFixture) -> None:
    archs = _archs([16, 32, 64])
    with caplog.at_level(logging.WARNING):
        chunks = dispatch_order(archs, 3, planner=planner)
    assert chunks == plan_chunks(archs, 3) and "evenly" in caplog.text


def test_a_cpu_pool_with_the_dataset_cuts_rounds_by_stacks() -> None:
    config = from_dict({
        "search": {"name": "s", "budget": 4, "batch": 8, "objectives": ["accuracy:max"],
                   "strategy": "random"},
        "data": {"dataset": "digits"},
        "training": {"epochs": 1, "device": "cpu"},
        "space": {"families": ["mlp"], "mlp": {"depth": [1, 2], "width": [16, 256]}}})
    pool = make_executor(config, 2, dataset=load_checked(config))
    assert isinstance(pool, WorkerPool) and isinstance(pool.planner, StackChunks)
    assert pool.planner.worker_threads == pool.threads
    assert make_executor(config, 2).planner is None  # no data spec at hand: the plain split


def test_without_a_cost_model_each_group_goes_out_whole_and_the_failure_is_logged_once(
        caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    def broken(device: torch.device) -> CostModel:
        calls.append(1)
        raise OSError("no cache, no calibration")

    planner = StackChunks(SPEC, "auto", 1, model=broken)
    archs = [*_archs([16, 512, 16]), *_archs([16], epochs=3)]
    with caplog.at_level(logging.WARNING):
        assert planner(archs, 1) == [(0, 1, 2), (3,)]
        assert sorted(planner(archs, 2)) == [(0, 1), (2,), (3,)]  # above half: cut in two
    assert calls == [1] and caplog.text.count("could not be loaded") == 1


def test_a_stack_of_a_worker_s_share_give_or_take_rounding_is_not_cut() -> None:
    assert _parts(0.1 + 0.2, (0, 1), 0.3) == [(0.1 + 0.2, (0, 1))]  # 0.30000000000000004
    assert [m for _, m in _parts(0.7, (0, 1, 2, 3), 0.3)] == [(0, 1), (2, 3)]
