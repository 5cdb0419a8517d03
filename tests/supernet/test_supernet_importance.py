"""Elastic expansion keeps the most important channels: re-sorting an mbconv supernet's
expanded channels leaves its largest subnet and every extraction consistent."""

from __future__ import annotations

import numpy as np
import torch

from nasforge.supernet.importance import channel_importance, sort_channels, unsortable
from nasforge.supernet.model import Supernet
from nasforge.supernet.slots import extreme
from nasforge.supernet.train import recalibrate, sandwich_step
from tests.supernet.helpers import MBCONV_SPEC, mbconv_space


def _trained(steps: int = 3) -> tuple[Supernet, torch.Tensor, torch.optim.Optimizer]:
    space = mbconv_space(activation=["relu", "prelu"], weight_bits=32, act_bits=32)
    net = Supernet(space, MBCONV_SPEC, seed=0)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(16, *MBCONV_SPEC.input_shape, generator=generator)
    y = torch.randint(10, (16,), generator=generator)
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-2)
    rng = np.random.default_rng(0)
    net.train()
    for _ in range(steps):
        archs = [extreme(space, rng, True), extreme(space, rng, False), space.sample(rng)]
        sandwich_step(net, archs, x, y, "classification")
        optimizer.step()
    return net.eval(), x, optimizer


def test_sorting_keeps_the_largest_subnet_and_puts_important_channels_first() -> None:
    net, x, optimizer = _trained()
    largest = extreme(net.space, np.random.default_rng(5), True)
    with torch.no_grad():
        before = net(x, largest)
    project = net.weights["stage0_block0_project"]
    old_project = project.detach().clone()
    old_moment = optimizer.state[project]["exp_avg"].clone()
    assert sort_channels(net, optimizer) > 0
    importance = channel_importance(project)
    assert bool((importance[:-1] >= importance[1:]).all())
    order = torch.argsort(channel_importance(old_project), descending=True, stable=True)
    torch.testing.assert_close(project, old_project[:, order], rtol=0, atol=0)
    torch.testing.assert_close(optimizer.state[project]["exp_avg"], old_moment[:, order],
                               rtol=0, atol=0)
    with torch.no_grad():
        torch.testing.assert_close(net(x, largest), before, rtol=1e-5, atol=1e-5)


def test_sorted_subnets_still_extract_to_what_they_compute() -> None:
    net, x, optimizer = _trained()
    sort_channels(net, optimizer)
    rng = np.random.default_rng(2)
    for _ in range(12):
        arch = net.space.sample(rng)
        recalibrate(net, arch, x, batches=2, batch_size=8)
        out = net(x, arch)
        torch.testing.assert_close(net.extract(arch).eval()(x), out, rtol=0, atol=0)


def test_a_narrow_norm_takes_each_moved_channel_from_the_narrowest_module_that_has_it() -> None:
    net, _, _ = _trained(1)
    slot = "stage0_block0_expand"
    widths = sorted(int(k.rsplit("__", 1)[1]) for k in net.layers
                    if k.startswith(f"{slot}__batch__"))
    narrow, wide = widths[0], widths[-1]
    old = {c: net.layers[f"{slot}__batch__{c}"].weight.detach().clone() for c in widths}
    order = torch.argsort(channel_importance(net.weights["stage0_block0_project"]),
                          descending=True, stable=True)
    sort_channels(net)
    new = net.layers[f"{slot}__batch__{narrow}"].weight.detach()
    assert any(int(order[i]) >= narrow for i in range(narrow))  # some come from wider ones
    for i in range(narrow):
        j = int(order[i])
        donor = min(c for c in widths if c > j)
        assert float(new[i]) == float(old[donor][j])
    torch.testing.assert_close(net.layers[f"{slot}__batch__{wide}"].weight, old[wide][order])


def test_norms_that_mix_channels_are_named_as_unsortable() -> None:
    assert unsortable(mbconv_space()) is None
    assert "group" in (unsortable(mbconv_space(norm=["batch", "group"])) or "")
