"""`--workers auto` (the default): a round of several small candidates trains in one worker
process per core on a CPU; everything else keeps evaluating in this process. And a CPU
pool hands out several chunks per worker, costliest first, so the workers finish together."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from nasforge import evaluator_setup
from nasforge.config import from_dict
from nasforge.errors import ConfigError
from nasforge.evaluator.executors.capacity import Capacity
from nasforge.evaluator.executors.choice import AUTO_WORKERS, auto_workers, parse_workers
from nasforge.evaluator.executors.chunks import costliest_first, plan_chunks
from nasforge.evaluator.executors.pool import WorkerPool
from nasforge.evaluator_setup import (
    CPU_CHUNKS_PER_WORKER,
    load_checked,
    make_executor,
    training_cost,
)
from nasforge.searchspace.architecture import Architecture
from nasforge.ui.cli import app
from nasforge.ui.run_search import RunOptions

TWO_CORES = Capacity(cores=2, available_mb=8000, footprint_mb=400)


def _config(batch: int, device: str = "cpu", threads: object = "auto"):
    return from_dict({
        "search": {"name": "auto", "budget": 4, "batch": batch,
                   "objectives": ["accuracy:max"], "strategy": "random"},
        "data": {"dataset": "digits"},
        "training": {"epochs": 1, "device": device, "threads": threads},
        "space": {"families": ["mlp"], "mlp": {"depth": [1, 2], "width": [16, 256]}},
    })


@pytest.mark.parametrize(("text", "expected"), [("auto", AUTO_WORKERS), ("1", 1), ("3", 3),
                                                (2, 2)])
def test_workers_are_auto_or_a_whole_number(text, expected) -> None:
    assert parse_workers(text) == expected


@pytest.mark.parametrize("text", ["0", "-1", "two", "1.5", "", True])
def test_other_worker_values_are_refused_naming_the_choices(text) -> None:
    with pytest.raises(ConfigError, match=r"--workers .*auto .*whole number >= 1"):
        parse_workers(text)


def test_auto_is_one_process_unless_a_round_of_cpu_candidates_can_spread() -> None:
    assert auto_workers(32, "auto", True, capacity=TWO_CORES) == 2
    assert auto_workers(1, "auto", True, capacity=TWO_CORES) == 1  # rounds of one
    assert auto_workers(32, "auto", False, capacity=TWO_CORES) == 1  # a GPU
    assert auto_workers(32, "auto", True, "ray", capacity=TWO_CORES) == 1  # Ray sizes itself
    assert auto_workers(32, "auto", True, user_evaluator=True, capacity=TWO_CORES) == 1
    many = Capacity(cores=16, available_mb=None)
    assert auto_workers(3, "auto", True, capacity=many) == 3  # no more than a round holds
    assert auto_workers(32, 4, True, capacity=many) == 4  # [training] threads = 4: 16 / 4
    assert auto_workers(32, 32, True, capacity=many) == 1
    tight = Capacity(cores=16, available_mb=1000, footprint_mb=400)
    assert auto_workers(32, "auto", True, capacity=tight) == 2  # memory for two


def test_run_options_decide_auto_with_the_config() -> None:
    options = RunOptions(capacity=TWO_CORES).check()
    assert options.workers == AUTO_WORKERS
    assert options.workers_for(_config(batch=32)) == 2
    assert options.workers_for(_config(batch=1)) == 1
    assert options.workers_for(_config(batch=32, threads=2)) == 1
    assert RunOptions(workers="2").check().workers_for(_config(batch=1)) == 2


def test_whether_workers_may_start_is_guessed_without_torch() -> None:
    """What the CLI checks before the data loads, to launch the workers' fork server."""
    assert RunOptions().may_use_workers(_config(batch=32))
    assert not RunOptions().may_use_workers(_config(batch=1))
    assert RunOptions(workers="2").may_use_workers(_config(batch=1))
    assert not RunOptions(workers="1").may_use_workers(_config(batch=32))
    assert not RunOptions(executor="ray").may_use_workers(_config(batch=32))


def test_auto_counts_each_worker_s_copy_of_the_data() -> None:
    roomy = Capacity(cores=8, available_mb=2000, footprint_mb=400)
    options = RunOptions(capacity=roomy).check()
    assert options.workers_for(_config(batch=32)) == 5  # 2000 MiB / 400 MiB
    assert options.workers_for(_config(batch=32), data_mb=600) == 2  # / 1000 MiB
    assert RunOptions(workers="2").workers_for(_config(batch=32)) == 2  # unchecked: parsed


def test_the_cli_default_spreads_a_round_over_the_cores(tmp_path, monkeypatch) -> None:
    """`nasforge search` as printed, no --workers: batch 4 on a 2-core machine asks for two
    workers; batch 1 for one (then evaluated inline here, to keep the test fast)."""
    from nasforge.evaluator.executors import capacity

    monkeypatch.setattr(capacity, "machine_capacity", lambda *a, **k: TWO_CORES)
    asked: list[int] = []
    real = evaluator_setup.make_executor

    def spy(config, workers, *args, **kwargs):
        asked.append(workers)
        return real(config, 1, *args, **kwargs)

    monkeypatch.setattr(evaluator_setup, "make_executor", spy)
    for batch in (4, 1):
        path = tmp_path / f"b{batch}.toml"
        path.write_text(f"""
[search]
name = "b{batch}"
budget = 4
batch = {batch}
objectives = ["accuracy:max"]
strategy = "random"
[data]
dataset = "digits"
[training]
device = "cpu"
epochs = 1
measure_latency = false
[space]
families = ["mlp"]
[space.mlp]
depth = [1]
width = [16, 32]
""")
        result = CliRunner().invoke(app, ["search", str(path), "--storage",
                                          f"sqlite:///{tmp_path / 'n.db'}"])
        assert result.exit_code == 0, result.output
    assert asked == [2, 1]


def test_a_bad_workers_value_exits_2_before_anything_is_written(tmp_path) -> None:
    db = tmp_path / "n.db"
    result = CliRunner().invoke(app, ["search", str(tmp_path / "missing.toml"), "--storage",
                                      f"sqlite:///{db}", "--workers", "many"])
    assert result.exit_code == 2 and "--workers 'many'" in result.stderr, result.output
    assert "auto" in result.stderr and not db.exists()


def _archs(widths: list[int]) -> list[Architecture]:
    return [Architecture({"family": "mlp", "mlp.depth": 2, "mlp.width": w, "activation": "relu",
                          "norm": "none", "dropout": 0.0, "lr": 1e-3, "epochs": 1})
            for w in widths]


def test_training_cost_grows_with_width_depth_and_epochs() -> None:
    spec = load_checked(_config(batch=4)).spec
    cost = training_cost(spec)
    assert cost is not None and training_cost(None) is None
    narrow, wide = _archs([16, 256])
    assert cost(wide) > 5 * cost(narrow) > 0
    assert cost(narrow.replace(epochs=3)) == pytest.approx(3 * cost(narrow))
    assert cost(narrow.replace(**{"mlp.depth": 1})) < cost(narrow)


def test_chunks_go_out_costliest_first() -> None:
    archs = _archs([16, 256, 32, 128])
    chunks = plan_chunks(archs, 4)
    assert chunks == [(0,), (1,), (2,), (3,)]
    assert costliest_first(chunks, archs, lambda a: a["mlp.width"]) == [(1,), (3,), (2,), (0,)]
    assert costliest_first(chunks, archs, None) == chunks

    def broken(arch: Architecture) -> float:
        if arch["mlp.width"] == 256:
            raise ValueError("invalid")
        return arch["mlp.width"]

    assert costliest_first(chunks, archs, broken) == [(3,), (2,), (0,), (1,)]


def test_a_cpu_pool_plans_several_chunks_a_worker_by_cost() -> None:
    config = _config(batch=32)
    pool = make_executor(config, 2, dataset=load_checked(config))
    assert isinstance(pool, WorkerPool) and pool.slots == 2 and pool.pids == []
    assert pool.chunks_per_worker == CPU_CHUNKS_PER_WORKER and pool.cost_key is not None
    assert WorkerPool(2, pool.recipe).chunks_per_worker == 1  # the class default: one each
