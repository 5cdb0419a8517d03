"""Starting a local Ray instance keeps this process's SIGTERM handler (ray.init installs its
own). A module of its own: test_ray_executor's module-wide Ray connection would hide it."""

from __future__ import annotations

import signal

import pytest

from nasforge.evaluator.executors.ray import RayExecutor
from nasforge.evaluator_setup import EvaluatorRecipe

ray = pytest.importorskip("ray")


def _stop_like_ctrl_c(signum, frame):  # stands in for termination.sigterm_as_interrupt's
    raise KeyboardInterrupt


@pytest.mark.slow
def test_starting_local_ray_keeps_this_process_sigterm_handler():
    """ray.init installs its own SIGTERM handler (sys.exit): a search on Ray would then end on
    SIGTERM without handing its trials back. The executor puts the caller's handler back."""
    if ray.is_initialized():
        pytest.skip("this process is already connected to Ray")
    previous = signal.signal(signal.SIGTERM, _stop_like_ctrl_c)
    executor = RayExecutor(EvaluatorRecipe({}), slots=1)
    try:
        executor._connect(ray)  # start() up to the actors: the part that calls ray.init
        assert ray.is_initialized()
        assert signal.getsignal(signal.SIGTERM) is _stop_like_ctrl_c
    finally:
        executor.close()
        signal.signal(signal.SIGTERM, previous)
