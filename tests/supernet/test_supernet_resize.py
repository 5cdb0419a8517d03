"""Elastic resolution (Once-for-All): every subnet of a supernet resizes the raw input to its
own resolution, and its extracted model (which takes the raw input too) computes the same."""

from __future__ import annotations

import numpy as np
import torch

from nasforge.searchspace.plan_ops import Resize
from nasforge.supernet.model import Supernet
from nasforge.supernet.slots import extreme
from nasforge.supernet.train import recalibrate
from tests.supernet.helpers import CNN_SPEC, cnn_space


def test_subnets_of_each_resolution_extract_to_what_they_compute() -> None:
    space = cnn_space(resolution=[4, 6, 8])
    net = Supernet(space, CNN_SPEC, seed=0)
    x = torch.randn(12, *CNN_SPEC.input_shape, generator=torch.Generator().manual_seed(0))
    rng = np.random.default_rng(0)
    net.train()
    with torch.no_grad():
        for _ in range(4):
            net(x, space.sample(rng))
    net.eval()
    seen = set()
    for _ in range(30):
        arch = space.sample(rng)
        recalibrate(net, arch, x, batches=2, batch_size=8)
        plan = net.plan(arch)
        assert plan.input_shape == CNN_SPEC.input_shape
        assert isinstance(plan.ops[0], Resize) == (arch["resolution"] != 8)
        out = net(x, arch)
        assert out.shape == (12, CNN_SPEC.num_outputs) and torch.isfinite(out).all()
        torch.testing.assert_close(net.extract(arch).eval()(x), out, rtol=0, atol=0)
        seen.add(arch["resolution"])
    assert seen == {4, 6, 8}


def test_the_resolution_changes_the_subnets_output_on_shared_weights() -> None:
    space = cnn_space(resolution=[6, 8])
    net = Supernet(space, CNN_SPEC, seed=0).eval()
    x = torch.randn(4, *CNN_SPEC.input_shape, generator=torch.Generator().manual_seed(1))
    arch = space.sample(np.random.default_rng(2)).replace(**{"cnn.readout": "global_avg"})
    with torch.no_grad():
        small, full = net(x, arch.replace(resolution=6)), net(x, arch.replace(resolution=8))
    assert not torch.allclose(small, full)


def test_the_sandwich_extremes_take_the_largest_and_smallest_resolution() -> None:
    space = cnn_space(resolution=[4, 6, 8])
    rng = np.random.default_rng(0)
    for _ in range(5):
        assert extreme(space, rng, True)["resolution"] == 8
        assert extreme(space, rng, False)["resolution"] == 4
