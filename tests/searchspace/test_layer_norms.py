"""The newer norms (rms, ibn, evonorm_b0, evonorm_s0) against hand-written formulas."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nasforge.errors import SpaceError
from nasforge.searchspace.layers import NORMS
from nasforge.searchspace.layers.portable.evonorm import EvoNormS0, s0_groups

SHAPES = {0: (8, 6), 1: (8, 6, 5), 2: (8, 6, 5, 3)}


def _x(shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=generator) * 2.0 + 0.5


def _randomize(module: nn.Module, seed: int = 1) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in module.parameters():
            param.copy_(torch.randn(param.shape, generator=generator))


def _ch(values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return values.reshape(1, -1, *([1] * (x.dim() - 2)))


def _var(x: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    mean = x.mean(dims, keepdim=True)
    return ((x - mean) ** 2).mean(dims, keepdim=True)


@pytest.mark.parametrize("dims", [0, 1, 2])
def test_rms_divides_each_position_by_its_channel_rms(dims: int) -> None:
    norm = NORMS.get("rms")(6, dims)
    _randomize(norm)
    x = _x(SHAPES[dims])
    expected = x / torch.sqrt((x**2).mean(1, keepdim=True) + 1e-6) * _ch(norm.weight, x)
    torch.testing.assert_close(norm(x), expected)
    assert [p.shape for p in norm.parameters()] == [torch.Size([6])]
    assert not list(norm.buffers())


@pytest.mark.parametrize("channels", [1, 5, 6])
@pytest.mark.parametrize("dims", [1, 2])
def test_ibn_instance_norms_the_first_half_and_batch_norms_the_rest(dims: int,
                                                                    channels: int) -> None:
    norm = NORMS.get("ibn")(channels, dims)
    _randomize(norm)
    x = _x((8, channels, 5, 3)[:2 + dims])
    k = max(1, channels // 2)
    spatial = tuple(range(2, x.dim()))
    inst, rest = norm.instance, norm.batch
    first = x[:, :k]
    expected_first = ((first - first.mean(spatial, keepdim=True))
                      / torch.sqrt(_var(first, spatial) + 1e-5) * _ch(inst.weight, x)
                      + _ch(inst.bias, x))
    if channels == 1:
        assert rest is None
        torch.testing.assert_close(norm(x), expected_first)
        return
    second = x[:, k:]
    axes = (0, *spatial)

    def batch_normed(mean: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
        return (second - mean) / torch.sqrt(var + 1e-5) * _ch(rest.weight, x) + _ch(rest.bias, x)

    train = batch_normed(second.mean(axes, keepdim=True), _var(second, axes))
    torch.testing.assert_close(norm(x), torch.cat([expected_first, train], 1))
    count = second.numel() // second.shape[1]
    running_mean = 0.1 * second.mean(axes)
    running_var = 0.9 + 0.1 * _var(second, axes).flatten() * count / (count - 1)
    norm.eval()
    evaluated = batch_normed(_ch(running_mean, x), _ch(running_var, x))
    torch.testing.assert_close(norm(x), torch.cat([expected_first, evaluated], 1))
    assert sum(p.numel() for p in norm.parameters()) == 2 * channels


def _evonorm_b0(norm: nn.Module, x: torch.Tensor, batch_var: torch.Tensor) -> torch.Tensor:
    spatial = tuple(range(2, x.dim()))
    right = _ch(norm.v, x) * x + torch.sqrt(_var(x, spatial) + 1e-5)
    denominator = torch.maximum(torch.sqrt(batch_var + 1e-5), right)
    return x / denominator * _ch(norm.weight, x) + _ch(norm.bias, x)


@pytest.mark.parametrize("dims", [1, 2])
def test_evonorm_b0_matches_its_formula_in_train_and_eval(dims: int) -> None:
    norm = NORMS.get("evonorm_b0")(6, dims)
    assert sum(p.numel() for p in norm.parameters()) == 18
    torch.testing.assert_close(norm.v.detach(), torch.ones(6))
    torch.testing.assert_close(norm.bias.detach(), torch.zeros(6))
    _randomize(norm)
    batches = [_x(SHAPES[dims], seed) for seed in (0, 1)]
    axes = (0, *range(2, dims + 2))
    running = torch.ones(6)
    for x in batches:
        torch.testing.assert_close(norm(x), _evonorm_b0(norm, x, _var(x, axes)))
        count = x.numel() // 6
        running = 0.9 * running + 0.1 * _var(x, axes).flatten() * count / (count - 1)
    torch.testing.assert_close(norm.running_var, running)
    norm.eval()
    x = _x(SHAPES[dims], 2)
    torch.testing.assert_close(norm(x), _evonorm_b0(norm, x, _ch(running, x)))
    torch.testing.assert_close(norm.running_var, running)  # eval leaves it alone


def test_evonorm_b0_refuses_mlp_inputs_and_points_to_s0() -> None:
    with pytest.raises(SpaceError, match=r"'evonorm_b0' does not support \(N, C\).*evonorm_s0"):
        NORMS.get("evonorm_b0")(6, 0)
    with pytest.raises(SpaceError, match=r"'ibn' does not support \(N, C\)"):
        NORMS.get("ibn")(6, 0)


@pytest.mark.parametrize(("channels", "dims", "groups"),
                         [(6, 0, 2), (2, 0, 1), (4, 0, 2), (32, 0, 16), (64, 0, 32), (6, 2, 2),
                          (32, 2, 32), (96, 1, 32), (1, 2, 1), (7, 0, 1), (1, 0, 1)])
def test_evonorm_s0_groups(channels: int, dims: int, groups: int) -> None:
    assert s0_groups(channels, dims) == groups
    assert NORMS.get("evonorm_s0")(channels, dims).groups == groups


def test_evonorm_s0_merges_groups_that_would_hold_a_single_value() -> None:
    norm = NORMS.get("evonorm_s0")(32, 2)
    assert norm.groups == 32
    assert [norm.groups_for(p) for p in (1, 2, 15)] == [16, 32, 32]  # 1 x 1: 2 channels a group
    _randomize(norm)
    x = _x((4, 32, 1, 1))
    std = torch.sqrt(_var(x.reshape(4, 16, 2), (2,)) + 1e-5)
    gated = x * torch.sigmoid(_ch(norm.v, x) * x)
    expected = (gated.reshape(4, 16, 2) / std).reshape(x.shape) * _ch(norm.weight, x)
    torch.testing.assert_close(norm(x), expected + _ch(norm.bias, x))
    odd = EvoNormS0(12, 12)  # a user's non-power-of-two count: the largest divisor that fits
    assert [odd.groups_for(p) for p in (1, 2)] == [6, 12]


def test_evonorm_s0_on_a_single_value_has_zero_variance_but_stays_finite() -> None:
    norm = NORMS.get("evonorm_s0")(1, 0)
    x = _x((4, 1)).requires_grad_(True)
    y = norm(x)
    torch.testing.assert_close(y, x * torch.sigmoid(x) / torch.sqrt(torch.tensor(1e-5)))
    y.pow(2).sum().backward()
    assert torch.isfinite(x.grad).all()


@pytest.mark.parametrize(("channels", "dims"), [(6, 0), (8, 0), (6, 1), (64, 2)])
def test_evonorm_s0_matches_its_formula_in_train_and_eval(channels: int, dims: int) -> None:
    norm = NORMS.get("evonorm_s0")(channels, dims)
    assert isinstance(norm, EvoNormS0)
    assert sum(p.numel() for p in norm.parameters()) == 3 * channels
    _randomize(norm)
    x = _x((8, channels, 5, 3)[:2 + dims])
    groups = norm.groups
    grouped = x.reshape(8, groups, -1)
    std = torch.sqrt(_var(grouped, (2,)) + 1e-5)
    gated = x * torch.sigmoid(_ch(norm.v, x) * x)
    expected = ((gated.reshape(8, groups, -1) / std).reshape(x.shape) * _ch(norm.weight, x)
                + _ch(norm.bias, x))
    torch.testing.assert_close(norm(x), expected)
    norm.eval()
    torch.testing.assert_close(norm(x), expected)


@pytest.mark.parametrize("name", ["rms", "evonorm_b0", "evonorm_s0"])
def test_float32_parameters_do_not_promote_a_bfloat16_input(name: str) -> None:
    norm = NORMS.get(name)(6, 2).eval()
    y = norm(_x(SHAPES[2]).to(torch.bfloat16))
    assert y.dtype == torch.bfloat16 and torch.isfinite(y).all()
