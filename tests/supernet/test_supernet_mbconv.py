"""The `mbconv` supernet (Once-for-All): slots by role and position, elastic depth, expansion,
kernel (learned transformations), SE and resolution, each subnet extracted exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nasforge.searchspace.plan_ops import Conv, Residual, SqueezeExcite
from nasforge.supernet.conv import transform_key
from nasforge.supernet.model import Supernet
from nasforge.supernet.slots import extreme, layer_slots
from nasforge.supernet.train import recalibrate
from tests.supernet.helpers import MBCONV_SPEC, mbconv_space


def _net(**shared: object) -> tuple[Supernet, torch.Tensor]:
    space = mbconv_space(**shared)
    net = Supernet(space, MBCONV_SPEC, seed=0)
    x = torch.randn(12, *MBCONV_SPEC.input_shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():  # kernel transformations away from the identity, BN statistics moved
        for key, matrix in net.kernel_transforms.items():
            size = int(key.rsplit("to", 1)[1])
            matrix.add_(0.1 * torch.randn(size * size, size * size,
                                          generator=torch.Generator().manual_seed(size)))
        net.train()
        rng = np.random.default_rng(0)
        for _ in range(4):
            net(x, space.sample(rng))
    return net.eval(), x


def _blocks(net: Supernet, arch) -> tuple[set[bool], set[bool], set[bool]]:
    """(residual?, expanded?, SE?) over the blocks of the arch's plan."""
    residual, expanded, se = set(), set(), set()
    for op in net.plan(arch).ops:
        ops = op.main.ops if isinstance(op, Residual) else (op,)
        if isinstance(op, Residual):
            residual.add(True)
        convs = [o for o in ops if isinstance(o, Conv)]
        if isinstance(op, Residual):
            expanded.add(convs[0].kernel == 1)
            se.add(any(isinstance(o, SqueezeExcite) for o in ops))
        elif isinstance(op, Conv) and op.groups > 1:
            residual.add(False)
        elif isinstance(op, SqueezeExcite):
            se.add(True)
    return residual, expanded, se


@pytest.mark.parametrize("resolution", [None, [14, 16]])
def test_extract_equals_forward_for_mbconv_subnets(resolution) -> None:
    net, x = _net(**({} if resolution is None else {"resolution": resolution}))
    rng = np.random.default_rng(1)
    seen: dict[str, set[object]] = {}
    for arch in [extreme(net.space, rng, True), extreme(net.space, rng, False)] + [
            net.space.sample(rng) for _ in range(30)]:
        recalibrate(net, arch, x, batches=2, batch_size=8)
        out = net(x, arch)
        assert out.shape == (12, 10) and torch.isfinite(out).all()
        torch.testing.assert_close(net.extract(arch).eval()(x), out, rtol=0, atol=0)
        for name, value in arch.items():
            parts = name.split(".")
            seen.setdefault(parts[1] if len(parts) > 1 else name, set()).add(value)
        residual, expanded, se = _blocks(net, arch)
        seen.setdefault("residual", set()).update(residual)
        seen.setdefault("expanded", set()).update(expanded)
    for key in ("stages", "depth", "expand", "kernel", "width", "se", "stride", "residual",
                "expanded", "head_channels", "head_width", "activation", "norm", "weight_bits"):
        assert len(seen[key]) > 1, key
    assert seen["expand"] >= {1, 3, 4} and seen["kernel"] == {3, 5, 7}
    if resolution is not None:
        assert seen["resolution"] == {14, 16}


def test_depth_d_reads_the_first_d_blocks_of_each_stage() -> None:
    net, _ = _net()
    arch = extreme(net.space, np.random.default_rng(0), True).replace(
        **{"mbconv.depth.0": 2, "mbconv.depth.1": 1, "mbconv.depth.2": 3})
    walk = [slot for _, _, slot in layer_slots(arch, net.plan(arch),
                                               [net.rule(op).role for op in net.plan(arch).ops])]
    blocks = sorted({slot.split("_")[0] + "_" + slot.split("_")[1] for slot in walk
                     if slot.startswith("stage")})
    assert blocks == ["stage0_block0", "stage0_block1", "stage1_block0", "stage2_block0",
                      "stage2_block1", "stage2_block2"]
    assert walk[0] == "stem" and walk[-1] in ("classifier", "classifier_head_conv")


def test_a_smaller_kernel_is_the_transformed_centre_crop_of_the_largest() -> None:
    net, _ = _net()
    arch = extreme(net.space, np.random.default_rng(0), True).replace(
        **{"mbconv.kernel.0": 3, "mbconv.expand.0": 3, "mbconv.width.0": 4})
    model = net.extract(arch)
    depthwise = next(m for m in model.modules()
                     if isinstance(m, torch.nn.Conv2d) and m.groups > 1)
    slot = "stage0_block0_depthwise"
    shared, channels = net.weights[slot], depthwise.weight.shape[0]  # 8 stem channels x 3
    assert channels == 24 and shared.shape[-1] == 7
    five = shared[:channels, :, 1:6, 1:6].reshape(channels, 25) @ \
        net.kernel_transforms[transform_key(slot, 5)].t()
    three = five.reshape(channels, 1, 5, 5)[:, :, 1:4, 1:4].reshape(channels, 9) @ \
        net.kernel_transforms[transform_key(slot, 3)].t()
    torch.testing.assert_close(depthwise.weight, three.reshape(channels, 1, 3, 3))


def test_the_squeeze_excite_layers_read_the_first_rows_and_columns() -> None:
    net, _ = _net()
    arch = extreme(net.space, np.random.default_rng(0), True).replace(
        **{"mbconv.expand.0": 3, "mbconv.se.0": True})
    se = next(m for m in net.extract(arch).modules() if hasattr(m, "down"))
    down = net.weights["stage0_block0_se_down"]
    reduced, channels = se.down.weight.shape[:2]
    assert (reduced, channels) == (6, 24) and down.shape[:2] == (8, 32)
    torch.testing.assert_close(se.down.weight, down[:reduced, :channels])
    torch.testing.assert_close(se.up.bias, net.biases["stage0_block0_se_up"][:channels])


def test_the_sandwich_extremes_cover_the_mbconv_size_keys() -> None:
    space = mbconv_space()
    rng = np.random.default_rng(0)
    largest, smallest = extreme(space, rng, True), extreme(space, rng, False)
    assert largest["mbconv.stages"] == 3 and smallest["mbconv.stages"] == 1
    for key, big, small in (("depth.0", 3, 1), ("expand.0", 4, 1), ("kernel.0", 7, 3),
                            ("width.0", 8, 4), ("se.0", True, False), ("stem", 8, 4),
                            ("head_channels", 16, 0), ("head_width", 8, 0)):
        assert (largest[f"mbconv.{key}"], smallest[f"mbconv.{key}"]) == (big, small), key


def test_the_supernet_trains_in_channels_last_and_recalibrates_in_equal_chunks() -> None:
    from nasforge.evaluator.data.tensors import DeviceData
    from nasforge.supernet.train import SupernetTraining, recalibrate_on, train_supernet

    space = mbconv_space(norm=["batch"], weight_bits=[32], act_bits=[32])
    net = Supernet(space, MBCONV_SPEC, seed=0)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(40, *MBCONV_SPEC.input_shape, generator=generator)
    y = torch.randint(10, (40,), generator=generator)
    data = DeviceData(x[:24], y[:24], x[24:32], y[24:32], x[32:], y[32:], MBCONV_SPEC)
    train_supernet(net, data, SupernetTraining(epochs=1, batch_size=8, random_subnets=1,
                                               sort_channels=False),
                   seed=0)
    shared = [p for p in net.parameters() if p.ndim == 4]
    assert shared and all(p.is_contiguous(memory_format=torch.channels_last) for p in shared)

    # 513 samples: three equal chunks of 171 (no one-sample chunk), whose batch statistics
    # batch norm averages; the same 171 samples three times give one chunk's statistics
    arch = extreme(space, np.random.default_rng(0), True)
    chunk = torch.randn(171, *MBCONV_SPEC.input_shape, generator=generator)

    def statistics(samples: torch.Tensor) -> tuple[list[torch.Tensor], int]:
        recalibrate_on(net, arch, samples)
        norms = [m for layer in net.layer_modules(arch) for m in layer.modules()
                 if isinstance(m, torch.nn.BatchNorm2d)]
        return [m.running_var.clone() for m in norms], int(norms[0].num_batches_tracked)

    once, passes_once = statistics(chunk)
    thrice, passes_thrice = statistics(torch.cat([chunk, chunk, chunk]))
    assert (passes_once, passes_thrice) == (1, 3)
    for a, b in zip(once, thrice, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
