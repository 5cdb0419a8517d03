"""--workers is bounded by what this machine can hold (cores, memory); Ray is not."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from nasforge.errors import ConfigError
from nasforge.evaluator.executors import capacity as capacity_module
from nasforge.evaluator.executors.capacity import WORKER_FOOTPRINT_MB, Capacity, machine_capacity
from nasforge.evaluator.executors.choice import check_worker_limit
from nasforge.ui.cli import app
from nasforge.ui.run_search import RunOptions


def test_the_limit_is_the_smaller_of_cores_and_memory_per_worker() -> None:
    assert Capacity(cores=16, available_mb=4000, footprint_mb=1000).limit == 4
    assert Capacity(cores=2, available_mb=64000, footprint_mb=400).limit == 2
    assert Capacity(cores=8, available_mb=None, footprint_mb=400).limit == 8  # unknown memory
    assert Capacity(cores=4, available_mb=100, footprint_mb=400).limit == 1  # never below 1


def test_more_local_workers_than_the_machine_holds_are_refused_naming_why() -> None:
    small = Capacity(cores=2, available_mb=6000, footprint_mb=400)
    with pytest.raises(ConfigError) as err:
        check_worker_limit(3, "local", small)
    message = str(err.value)
    for fragment in ("--workers 3", "at most 2", "2 cores", "6000 MiB", "400 MiB",
                     "--executor ray"):
        assert fragment in message, message
    check_worker_limit(2, "local", small)  # at the limit: fine


def test_memory_bounds_the_workers_below_the_cores() -> None:
    tight = Capacity(cores=16, available_mb=1000, footprint_mb=400)
    with pytest.raises(ConfigError, match=r"at most 2 .*16 cores.*1000 MiB"):
        check_worker_limit(3, "local", tight)


def test_ray_and_a_single_worker_have_no_local_bound() -> None:
    none_free = Capacity(cores=1, available_mb=10, footprint_mb=400)
    check_worker_limit(64, "ray", none_free)  # the cluster sizes itself
    check_worker_limit(1, "local", none_free)  # evaluates in this process


def test_run_options_take_an_injected_capacity() -> None:
    small = Capacity(cores=2, available_mb=6000, footprint_mb=400)
    with pytest.raises(ConfigError, match="at most 2"):
        RunOptions(workers=4, capacity=small).check()
    assert RunOptions(workers=4, executor="ray", capacity=small).check().workers == 4


def test_this_machine_has_cores_and_some_memory() -> None:
    here = machine_capacity()
    assert here.cores >= 1 and here.footprint_mb == WORKER_FOOTPRINT_MB
    assert here.available_mb is None or here.available_mb > 0
    assert here.limit >= 1


def test_the_cli_refuses_with_exit_2_before_loading_anything(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(capacity_module, "machine_capacity",
                        lambda: Capacity(cores=2, available_mb=6000, footprint_mb=400))
    store = tmp_path / "q.db"
    result = CliRunner().invoke(app, ["search", str(tmp_path / "missing.toml"), "--storage",
                                      f"sqlite:///{store}", "--workers", "3"])
    assert result.exit_code == 2, result.output
    assert "--workers 3" in result.stderr and "at most 2" in result.stderr, result.stderr
    assert "Traceback" not in result.output
    assert not store.exists()
