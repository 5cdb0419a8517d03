"""Every activation against a hand-written formula, with its learnable parameters randomized."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
from torch import nn

from nasforge.searchspace.layers import ACTIVATIONS

CHANNELS = 6
SHAPES = {0: (4, CHANNELS), 1: (4, CHANNELS, 5), 2: (4, CHANNELS, 5, 3)}
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _channel(values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return values.reshape(1, -1, *([1] * (x.dim() - 2)))


def _poly(coefficients: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return sum(c * x**k for k, c in enumerate(coefficients))


def _pau(m: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return _poly(m.numerator, x) / (1 + (x * _poly(m.denominator, x)).abs())


# name -> y(module, x); learnable parameters are read from the module (randomized first)
REFERENCES: dict[str, Callable[[nn.Module, torch.Tensor], torch.Tensor]] = {
    "relu": lambda m, x: torch.where(x > 0, x, torch.zeros_like(x)),
    "leaky_relu": lambda m, x: torch.where(x >= 0, x, 0.01 * x),
    "gelu": lambda m, x: 0.5 * x * (1 + torch.erf(x / math.sqrt(2))),
    "gelu_tanh": lambda m, x: 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi)
                                                        * (x + 0.044715 * x**3))),
    "silu": lambda m, x: x / (1 + torch.exp(-x)),
    "swish": lambda m, x: x / (1 + torch.exp(-_channel(m.beta, x) * x)),
    "tanh": lambda m, x: (torch.exp(x) - torch.exp(-x)) / (torch.exp(x) + torch.exp(-x)),
    "mish": lambda m, x: x * torch.tanh(torch.log(1 + torch.exp(x))),
    "elu": lambda m, x: torch.where(x > 0, x, torch.exp(x) - 1),
    "selu": lambda m, x: SELU_SCALE * torch.where(x > 0, x, SELU_ALPHA * (torch.exp(x) - 1)),
    "celu": lambda m, x: x.clamp(min=0) + (torch.exp(x) - 1).clamp(max=0),
    "sigmoid": lambda m, x: 1 / (1 + torch.exp(-x)),
    "hardswish": lambda m, x: x * (x + 3).clamp(0, 6) / 6,
    "softplus": lambda m, x: torch.log(1 + torch.exp(x)),
    "prelu": lambda m, x: torch.where(x >= 0, x, _channel(m.weight, x) * x),
    "sin": lambda m, x: torch.sin(x),
    "snake": lambda m, x: x + torch.sin(_channel(m.alpha, x) * x) ** 2 / _channel(m.alpha, x),
    "pau": _pau,
}


def _randomize(module: nn.Module, seed: int = 1) -> None:
    """Random parameters away from zero and of both signs, so a formula that ignores them
    (or mixes up channels) fails."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for pname, param in module.named_parameters():
            magnitude = torch.rand(param.shape, generator=generator) * 0.7 + 0.3
            sign = torch.where(torch.rand(param.shape, generator=generator) < 0.3, -1.0, 1.0)
            param.copy_(magnitude * sign * (0.3 if pname == "denominator" else 1.0))


def test_every_builtin_activation_has_a_reference() -> None:
    builtin = {name for name in ACTIVATIONS.names()
               if ACTIVATIONS.get(name).__module__.startswith("nasforge.")}
    assert builtin == set(REFERENCES)
    assert len(builtin) >= 17


@pytest.mark.parametrize("dims", [0, 1, 2])
@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_activation_matches_its_formula(name: str, dims: int) -> None:
    module = ACTIVATIONS.get(name)(CHANNELS, dims)
    _randomize(module)
    x = torch.randn(SHAPES[dims], generator=torch.Generator().manual_seed(dims)) * 2.5
    torch.testing.assert_close(module(x), REFERENCES[name](module, x), rtol=1e-5, atol=1e-5)


def test_learnable_activations_initial_values() -> None:
    prelu = ACTIVATIONS.get("prelu")(CHANNELS, 2)
    torch.testing.assert_close(prelu.weight.detach(), torch.full((CHANNELS,), 0.25))
    swish = ACTIVATIONS.get("swish")(CHANNELS, 2)
    snake = ACTIVATIONS.get("snake")(CHANNELS, 2)
    torch.testing.assert_close(swish.beta.detach(), torch.ones(CHANNELS))
    torch.testing.assert_close(snake.alpha.detach(), torch.ones(CHANNELS))
    x = torch.randn(3, CHANNELS, 4, 4, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(swish(x), ACTIVATIONS.get("silu")(CHANNELS, 2)(x))


def test_swish_and_snake_keep_one_parameter_per_channel() -> None:
    for name, attr in (("swish", "beta"), ("snake", "alpha"), ("prelu", "weight")):
        module = ACTIVATIONS.get(name)(CHANNELS, 1)
        assert [p.shape for p in module.parameters()] == [torch.Size([CHANNELS])]
        with torch.no_grad():
            getattr(module, attr).zero_()
            getattr(module, attr)[2] = 1.0
        x = -torch.ones(2, CHANNELS, 3)
        changed = (module(x) != module(x).flatten()[0]).any(dim=(0, 2))
        assert changed.tolist() == [i == 2 for i in range(CHANNELS)], name


@pytest.mark.parametrize("alpha", [0.0, 1e-30, -1e-30, 1e-8])
def test_snake_is_finite_and_tends_to_identity_as_alpha_vanishes(alpha: float) -> None:
    snake = ACTIVATIONS.get("snake")(CHANNELS, 0)
    with torch.no_grad():
        snake.alpha.fill_(alpha)
    x = torch.linspace(-50, 50, 4 * CHANNELS).reshape(4, CHANNELS).requires_grad_(True)
    y = snake(x)
    torch.testing.assert_close(y, x.detach(), rtol=1e-5, atol=1e-5)
    y.sum().backward()
    assert torch.isfinite(x.grad).all() and torch.isfinite(snake.alpha.grad).all()
    if alpha == 0.0:  # d/dalpha sin^2(alpha x) / alpha -> x^2 at alpha = 0
        torch.testing.assert_close(snake.alpha.grad, x.detach().square().sum(0))


@pytest.mark.parametrize("name", ["swish", "snake", "pau"])
def test_float32_parameters_do_not_promote_a_bfloat16_input(name: str) -> None:
    """As under autocast: the input is bfloat16, the module's parameters stay float32."""
    module = ACTIVATIONS.get(name)(CHANNELS, 2)
    x = torch.randn(2, CHANNELS, 3, 3, generator=torch.Generator().manual_seed(0))
    y = module(x.to(torch.bfloat16))
    assert y.dtype == torch.bfloat16
    torch.testing.assert_close(y.float(), module(x), rtol=0.03, atol=0.03)
