"""Progressive shrinking (Once-for-All): the largest subnet first, then elastic kernel,
depth and expansion, by fraction of the training steps; channels re-sorted when the
expansion opens."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nasforge.errors import ConfigError
from nasforge.evaluator.data.tensors import DeviceData
from nasforge.supernet.model import Supernet
from nasforge.supernet.progressive import ProgressiveSchedule
from nasforge.supernet.train import SupernetTraining, train_supernet
from tests.supernet.helpers import MBCONV_SPEC, mbconv_space

KEYS = ("kernel", "depth", "expand", "width")


def _values(archs, key: str) -> set[object]:
    return {v for a in archs for name, v in a.items() if name.split(".")[1:2] == [key]}


def test_each_phase_opens_its_dimensions_and_keeps_the_others_largest() -> None:
    space = mbconv_space()
    schedule = ProgressiveSchedule(space, 2, seed=0, total=40)
    phases = {name: [a for step in range(40) if schedule.phase(step) == name
                     for a in schedule.step(step)] for name in ("largest", "kernel", "depth",
                                                                "expand")}
    assert [schedule.phase(s) for s in (0, 9, 10, 19, 20, 29, 30, 39)] == [
        "largest", "largest", "kernel", "kernel", "depth", "depth", "expand", "expand"]
    assert len(schedule.step(0)) == 1 and len(schedule.step(10)) == 4
    assert [schedule.progress(s) for s in (0, 5, 10, 15, 39)] == [0, 0.5, 0, 0.5, 0.9]
    opened = {"largest": set(), "kernel": {"kernel"}, "depth": {"kernel", "depth"},
              "expand": set(KEYS)}
    for name, archs in phases.items():
        for key in KEYS:
            assert (len(_values(archs, key)) > 1) == (key in opened[name]), (name, key)


@pytest.mark.parametrize("fractions", [[0.5, 0.5], [0.5, 0.5, 0.5, -0.5], "even"])
def test_bad_phase_fractions_are_config_errors(fractions) -> None:
    with pytest.raises(ConfigError, match="progressive_fractions"):
        SupernetTraining(progressive=True, progressive_fractions=fractions)


@pytest.mark.parametrize(("progressive", "sorts"), [(True, 1), (False, 2)])
def test_training_sorts_the_channels_whenever_the_expansion_is_elastic(progressive: bool,
                                                                         sorts: int) -> None:
    """Progressive: 6 steps in phases ending at steps 2, 3, 4, 6; the expansion opens at
    step 4, an epoch's end. Sandwich: at the end of every epoch but the last."""
    space = mbconv_space(weight_bits=32, act_bits=32)
    net = Supernet(space, MBCONV_SPEC, seed=0)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(64, *MBCONV_SPEC.input_shape, generator=generator)
    y = torch.randint(10, (64,), generator=generator)
    data = DeviceData(x, y, x[:8], y[:8], x[:8], y[:8], MBCONV_SPEC)
    info = train_supernet(net, data, SupernetTraining(epochs=3, batch_size=32,
                                                      progressive=progressive), seed=0)
    assert info["steps"] == 6 and np.isfinite(info["train_loss"])
    assert info["channel_sorts"] == sorts



@pytest.mark.parametrize("options", [{"progressive": "yes"}, {"sort_channels": 1},
                                     {"progressive_fractions": [1, 0, 0]}])
def test_bad_strategy_options_are_config_errors_naming_the_option(options) -> None:
    from nasforge.strategies.supernet import SupernetOptions

    with pytest.raises(ConfigError, match=next(iter(options))):
        SupernetOptions(**options)
