"""The activation registry: name -> factory ``(channels, dims) -> nn.Module``.

`channels` is the number of features (C) the activation sees and `dims` the number of spatial
axes after them (0: (N, C), 1: (N, C, L), 2: (N, C, H, W)). Every activation keeps the input
shape and dtype. Most are elementwise and parameter-free and ignore both arguments; the
learnable ones use `channels` to size their parameters.

===========  ==================================================  ==========
name         y =                                                 parameters
===========  ==================================================  ==========
relu         max(x, 0)                                           0
leaky_relu   x if x >= 0 else 0.01 x                             0
gelu         x Phi(x) (exact, erf)                               0
gelu_tanh    GELU, tanh approximation                            0
silu         x sigmoid(x) (swish with a fixed beta = 1)          0
swish        x sigmoid(beta x), learnable beta per channel (1)   C
tanh         tanh(x)                                             0
mish         x tanh(softplus(x))                                 0
elu          x if x > 0 else exp(x) - 1                          0
selu         scale * elu(x, alpha) (self-normalizing constants)  0
celu         max(0, x) + min(0, exp(x) - 1) (alpha = 1)          0
sigmoid      1 / (1 + exp(-x))                                   0
hardswish    x relu6(x + 3) / 6                                  0
softplus     log(1 + exp(x))                                     0
prelu        x if x >= 0 else a x, learnable a per channel       C
             (0.25)
sin          sin(x)                                              0
snake        x + sin^2(alpha x) / alpha, learnable alpha per     C
             channel (1)
pau          Padé unit P5(x) / (1 + |Q4(x)|), coefficients       10
             shared by all channels, init fitted to leaky_relu
===========  ==================================================  ==========

Each is a factory here plus one line of the torch-free manifest `searchspace/layer_specs.py`
(its parameter count, export and fused/supernet rules); see docs/extending.md.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from nasforge.searchspace import specs
from nasforge.searchspace.layers.portable.pau import PAU
from nasforge.searchspace.layers.portable.periodic import Sin, Snake
from nasforge.searchspace.layers.portable.swish import Swish

ActivationFactory = Callable[[int, int], nn.Module]

ACTIVATIONS = specs.ACTIVATIONS  # name -> LayerSpec; the manifest is `searchspace/layer_specs.py`


def relu(channels: int, dims: int) -> nn.Module:
    """ReLU: max(x, 0)."""
    return nn.ReLU()


def leaky_relu(channels: int, dims: int) -> nn.Module:
    """LeakyReLU with negative slope 0.01."""
    return nn.LeakyReLU(0.01)


def gelu(channels: int, dims: int) -> nn.Module:
    """Exact (erf) GELU."""
    return nn.GELU()


def silu(channels: int, dims: int) -> nn.Module:
    """SiLU: x * sigmoid(x), the fixed-beta swish."""
    return nn.SiLU()


def tanh(channels: int, dims: int) -> nn.Module:
    """tanh(x)."""
    return nn.Tanh()


def mish(channels: int, dims: int) -> nn.Module:
    """x * tanh(softplus(x))."""
    return nn.Mish()


def elu(channels: int, dims: int) -> nn.Module:
    """ELU with alpha = 1: x if x > 0 else exp(x) - 1."""
    return nn.ELU()


def sigmoid(channels: int, dims: int) -> nn.Module:
    """Logistic sigmoid: 1 / (1 + exp(-x))."""
    return nn.Sigmoid()


def hardswish(channels: int, dims: int) -> nn.Module:
    """Hard swish: x * relu6(x + 3) / 6."""
    return nn.Hardswish()


def softplus(channels: int, dims: int) -> nn.Module:
    """Softplus: log(1 + exp(x)) (linear above x = 20)."""
    return nn.Softplus()


def gelu_tanh(channels: int, dims: int) -> nn.Module:
    """GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))."""
    return nn.GELU(approximate="tanh")


def selu(channels: int, dims: int) -> nn.Module:
    """SELU: scale * elu(x, alpha) with the self-normalizing constants."""
    return nn.SELU()


def celu(channels: int, dims: int) -> nn.Module:
    """CELU with alpha = 1 (equal to ELU at alpha = 1)."""
    return nn.CELU()


def prelu(channels: int, dims: int) -> nn.Module:
    """PReLU with one learnable negative slope per channel (C parameters), init 0.25."""
    return nn.PReLU(num_parameters=channels, init=0.25)


def swish(channels: int, dims: int) -> nn.Module:
    """x * sigmoid(beta * x), learnable beta per channel (C parameters), init 1."""
    return Swish(channels)


def sin(channels: int, dims: int) -> nn.Module:
    """Sine: sin(x), elementwise."""
    return Sin()


def snake(channels: int, dims: int) -> nn.Module:
    """x + sin^2(alpha * x) / alpha, learnable alpha per channel (C parameters), init 1."""
    return Snake(channels)


def pau(channels: int, dims: int) -> nn.Module:
    """Safe Padé activation unit, 10 coefficients shared by all channels, init ~ leaky_relu."""
    return PAU("leaky_relu")
