"""The activation registry: name -> factory ``(channels, dims) -> nn.Module``.

`channels` is the number of features (C) the activation sees and `dims` the number of spatial
axes after them (0: (N, C), 1: (N, C, L), 2: (N, C, H, W)). Every activation keeps the input
shape. The built-in ones are elementwise and parameter-free, so they ignore both arguments;
learnable activations (PReLU, PAU, ...) use `channels` to size their parameters.

Add one with::

    @ACTIVATIONS.register("my_act")
    def my_act(channels: int, dims: int) -> nn.Module:
        return MyAct(channels)
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from nasforge.registry import Registry

ActivationFactory = Callable[[int, int], nn.Module]

ACTIVATIONS: Registry[ActivationFactory] = Registry("activation")


@ACTIVATIONS.register("relu")
def relu(channels: int, dims: int) -> nn.Module:
    return nn.ReLU()


@ACTIVATIONS.register("leaky_relu")
def leaky_relu(channels: int, dims: int) -> nn.Module:
    """LeakyReLU with negative slope 0.01."""
    return nn.LeakyReLU(0.01)


@ACTIVATIONS.register("gelu")
def gelu(channels: int, dims: int) -> nn.Module:
    """Exact (erf) GELU."""
    return nn.GELU()


@ACTIVATIONS.register("silu")
def silu(channels: int, dims: int) -> nn.Module:
    """SiLU / swish: x * sigmoid(x)."""
    return nn.SiLU()


@ACTIVATIONS.register("tanh")
def tanh(channels: int, dims: int) -> nn.Module:
    return nn.Tanh()


@ACTIVATIONS.register("mish")
def mish(channels: int, dims: int) -> nn.Module:
    """x * tanh(softplus(x))."""
    return nn.Mish()


@ACTIVATIONS.register("elu")
def elu(channels: int, dims: int) -> nn.Module:
    return nn.ELU()


@ACTIVATIONS.register("sigmoid")
def sigmoid(channels: int, dims: int) -> nn.Module:
    return nn.Sigmoid()


@ACTIVATIONS.register("hardswish")
def hardswish(channels: int, dims: int) -> nn.Module:
    return nn.Hardswish()


@ACTIVATIONS.register("softplus")
def softplus(channels: int, dims: int) -> nn.Module:
    return nn.Softplus()
