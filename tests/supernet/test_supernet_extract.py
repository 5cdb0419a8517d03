"""extract(arch) is an ordinary nasforge model whose output equals forward(x, arch)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nasforge.errors import ConfigError
from nasforge.searchspace.build import build_from_plan
from nasforge.supernet.model import Supernet
from nasforge.supernet.slots import extreme
from nasforge.supernet.train import recalibrate
from tests.supernet.helpers import CNN_SPEC, MLP_SPEC, SEQ_SPEC, cnn_space, mlp_space

CASES = {"mlp": (mlp_space, MLP_SPEC, None), "cnn-image": (cnn_space, CNN_SPEC, None),
         "cnn-head": (cnn_space, CNN_SPEC, [0, 8]), "cnn-sequence": (cnn_space, SEQ_SPEC, [0, 8])}


def _net(case: str) -> tuple[Supernet, torch.Tensor]:
    make, spec, head = CASES[case]
    space = make() if head is None else make(head)
    net = Supernet(space, spec, seed=0)
    x = torch.randn(12, *spec.input_shape, generator=torch.Generator().manual_seed(0))
    net.train()
    rng = np.random.default_rng(0)
    with torch.no_grad():  # move BN statistics and observers off their initial values
        for _ in range(4):
            net(x, space.sample(rng))
    return net.eval(), x


@pytest.mark.parametrize("case", sorted(CASES))
def test_extract_equals_forward_for_sampled_subnets(case: str) -> None:
    net, x = _net(case)
    rng = np.random.default_rng(1)
    seen: dict[str, set[object]] = {}
    for arch in [extreme(net.space, rng, True), extreme(net.space, rng, False)] + [
            net.space.sample(rng) for _ in range(40)]:
        recalibrate(net, arch, x, batches=2, batch_size=8)  # observes never-trained quantizers
        model = net.extract(arch).eval()
        out = net(x, arch)
        assert torch.isfinite(out).all(), arch
        torch.testing.assert_close(model(x), out, rtol=0, atol=0)
        assert type(model) is type(build_from_plan(net.plan(arch)))
        for key, value in arch.items():
            seen.setdefault(key.split(".")[-1] if not key[-1].isdigit() else
                            key.split(".")[-2], set()).add(value)
    # every elastic dimension took several values among the sampled subnets
    for dim in ("activation", "norm", "weight_bits", "act_bits",
                "depth" if case == "mlp" else "stages",
                "width" if case == "mlp" else "channels"):
        assert len(seen[dim]) > 1, dim
    if case != "mlp":
        assert len(seen["kernel"]) > 1


def test_smaller_subnets_read_the_first_units_and_the_centre_kernel() -> None:
    net, _ = _net("cnn-image")
    arch = net.space.sample(np.random.default_rng(3))
    arch = arch.replace(**{"cnn.kernel": 3, "cnn.channels.0": 4})
    conv = next(m for m in net.extract(arch).modules() if hasattr(m, "kernel_size"))
    shared = net.weights["conv_0_0"]
    start = (shared.shape[-1] - 3) // 2
    torch.testing.assert_close(conv.weight, shared[:4, :, start:start + 3, start:start + 3])


def test_learned_quant_steps_are_refused_with_the_fix() -> None:
    with pytest.raises(ConfigError, match="quant_step"):
        Supernet(mlp_space(quant_step=["fixed", "learned"]), MLP_SPEC)
