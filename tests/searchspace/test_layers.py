"""Contract suite for the layer registries: every registered activation and norm is tested
just by being registered (shape, forward/backward, finite gradients, seeded determinism)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nasforge.errors import SpaceError, UnknownNameError
from nasforge.evaluator.seeding import seeded
from nasforge.registry import Registry
from nasforge.searchspace.layers import ACTIVATIONS, NORMS

CHANNELS = 6
SHAPES = {0: (4, CHANNELS), 1: (4, CHANNELS, 5), 2: (4, CHANNELS, 5, 3)}


def _input(dims: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(SHAPES[dims], generator=generator).mul_(2.0).requires_grad_(True)


def _build(registry: Registry, name: str, dims: int, seed: int = 0) -> nn.Module:
    try:
        with seeded(seed):
            return registry.get(name)(CHANNELS, dims)
    except SpaceError as err:
        assert name in str(err)  # an unsupported layout is refused with a clear message
        pytest.skip(f"{registry.kind} {name!r} does not support dims={dims}")


def _check_contract(registry: Registry, name: str, dims: int) -> None:
    module, again = _build(registry, name, dims), _build(registry, name, dims)
    assert isinstance(module, nn.Module)
    for (k, a), (_, b) in zip(module.state_dict().items(), again.state_dict().items(),
                              strict=True):
        assert torch.equal(a, b), k  # same seed, same initial state
    x = _input(dims)
    y = module(x)
    assert y.shape == x.shape
    assert x.dtype == y.dtype == torch.float32  # float32 in, float32 out: no promotion
    assert torch.isfinite(y).all()
    y.pow(2).sum().backward()  # squared: a plain sum of a normalized output has zero gradient
    assert x.grad is not None and torch.isfinite(x.grad).all()
    for pname, param in module.named_parameters():
        assert param.grad is not None, f"{name}.{pname} got no gradient"
        assert torch.isfinite(param.grad).all()
    assert torch.equal(again(x.detach()), y.detach())  # same seed, same input: same output

    module.eval()
    assert module(x.detach()).shape == x.shape


@pytest.mark.parametrize("dims", [0, 1, 2])
@pytest.mark.parametrize("name", ACTIVATIONS.names())
def test_activation_contract(name: str, dims: int) -> None:
    _check_contract(ACTIVATIONS, name, dims)


@pytest.mark.parametrize("dims", [0, 1, 2])
@pytest.mark.parametrize("name", NORMS.names())
def test_norm_contract(name: str, dims: int) -> None:
    _check_contract(NORMS, name, dims)


@pytest.mark.parametrize("dims", [0, 2])
@pytest.mark.parametrize("name", ACTIVATIONS.names())
def test_activation_runs_in_bfloat16(name: str, dims: int) -> None:
    reference = _build(ACTIVATIONS, name, dims)
    module = _build(ACTIVATIONS, name, dims).to(torch.bfloat16)
    x = _input(dims).detach().to(torch.bfloat16).requires_grad_(True)
    y = module(x)
    assert y.dtype == torch.bfloat16 and y.shape == x.shape
    assert torch.isfinite(y).all()
    y.float().pow(2).sum().backward()
    assert x.grad is not None and x.grad.dtype == torch.bfloat16
    assert torch.isfinite(x.grad).all()
    for pname, param in module.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), pname
    # the same function as in float32, to bfloat16's precision (8 significant bits)
    expected = reference(x.detach().float())
    torch.testing.assert_close(y.float(), expected, rtol=0.03, atol=0.03)


def test_required_names_are_registered() -> None:
    required = {"relu", "leaky_relu", "gelu", "silu", "tanh", "mish", "elu", "sigmoid",
                "hardswish", "softplus"}
    assert required <= set(ACTIVATIONS.names())
    assert {"none", "batch", "layer"} <= set(NORMS.names())


def test_builtin_activations_are_parameter_free() -> None:
    for name in ("relu", "gelu", "mish", "leaky_relu"):
        assert not list(ACTIVATIONS.get(name)(CHANNELS, 0).parameters())
    assert ACTIVATIONS.get("leaky_relu")(CHANNELS, 0).negative_slope == 0.01


@pytest.mark.parametrize(
    ("name", "dims", "params"),
    [("none", 0, 0), ("none", 2, 0), ("batch", 0, 2 * CHANNELS), ("batch", 2, 2 * CHANNELS),
     ("layer", 0, 2 * CHANNELS), ("layer", 1, 2 * CHANNELS), ("layer", 2, 2 * CHANNELS),
     ("group", 2, 2 * CHANNELS), ("instance", 1, 2 * CHANNELS)],
)
def test_norm_parameter_counts_match_docstring(name: str, dims: int, params: int) -> None:
    module = NORMS.get(name)(CHANNELS, dims)
    assert sum(p.numel() for p in module.parameters()) == params


def test_norm_layouts() -> None:
    assert isinstance(NORMS.get("batch")(CHANNELS, 0), nn.BatchNorm1d)
    assert isinstance(NORMS.get("batch")(CHANNELS, 1), nn.BatchNorm1d)
    assert isinstance(NORMS.get("batch")(CHANNELS, 2), nn.BatchNorm2d)
    assert isinstance(NORMS.get("layer")(CHANNELS, 0), nn.LayerNorm)
    layer2d = NORMS.get("layer")(CHANNELS, 2)
    assert isinstance(layer2d, nn.GroupNorm) and layer2d.num_groups == 1


def test_layer_norm_normalizes_each_sample_over_channels_and_positions() -> None:
    x = _input(2).detach()
    y = NORMS.get("layer")(CHANNELS, 2)(x)
    per_sample = y.flatten(1)
    torch.testing.assert_close(per_sample.mean(1), torch.zeros(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(per_sample.var(1, unbiased=False), torch.ones(4), atol=1e-3,
                               rtol=0)


def test_unsupported_layout_is_a_space_error() -> None:
    with pytest.raises(SpaceError, match=r"'instance' does not support \(N, C\) inputs"):
        NORMS.get("instance")(CHANNELS, 0)
    with pytest.raises(SpaceError, match="batch"):
        NORMS.get("batch")(CHANNELS, 3)


def test_unknown_names_suggest_the_nearest() -> None:
    with pytest.raises(UnknownNameError, match="Did you mean 'relu'"):
        ACTIVATIONS.get("relux")
    with pytest.raises(UnknownNameError, match="'batch'"):
        NORMS.get("bacth")
