'''Source blocks that a generated model.py may inline: the custom layers nasforge builds.

Each block is plain torch code, the export's copy of a layer in `nasforge.searchspace.layers`
(or `build.py`) with the same parameters, buffers and arithmetic, so a state_dict of the
evaluated model loads into it and gives the same outputs (tests/export checks this for every
layer). Blocks are emitted only when a model needs them, in `ORDER`, each once.

The fake-quant layers keep their training semantics (observers, LSQ) and compute eval mode with
elementary ops (round, clamp, mul), which equal PyTorch's fused fake-quant kernels there and
export to ONNX.
'''

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Block:
    """One inline source block, the blocks it uses and the imports it needs."""

    source: str
    needs: tuple[str, ...] = ()
    imports: tuple[str, ...] = ()


PER_CHANNEL = '''
def _per_channel(values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """View a (C,) tensor as (1, C, 1, ...) to broadcast over x (N, C, *), in x's dtype."""
    return values.view(1, -1, *([1] * (x.dim() - 2))).to(x.dtype)
'''

SWISH = '''
class Swish(nn.Module):
    """y = x * sigmoid(beta * x), beta per channel (C,), init 1."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.beta = nn.Parameter(torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(_per_channel(self.beta, x) * x)
'''

SIN = '''
class Sin(nn.Module):
    """y = sin(x), elementwise."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(x)
'''

SNAKE = '''
class Snake(nn.Module):
    """y = x + sin^2(alpha x) / alpha, alpha per channel (C,), init 1; written with sinc so
    that it is exact through alpha = 0."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        alpha = _per_channel(self.alpha, x)
        if torch.onnx.is_in_onnx_export():  # ONNX has no sinc: the same function, divided
            safe = torch.where(alpha == 0, torch.ones_like(alpha), alpha)
            return torch.where(alpha == 0, x, x + torch.sin(safe * x).square() / safe)
        return x + alpha * x.square() * torch.sinc(alpha * x / math.pi).square()
'''

PAU = '''
class PAU(nn.Module):
    """Safe Pade activation (a0 + ... + a5 x^5) / (1 + |b1 x + ... + b4 x^4|), elementwise;
    10 coefficients shared by all channels, initialised as a fit of leaky_relu."""

    def __init__(self) -> None:
        super().__init__()
        self.numerator = nn.Parameter(torch.tensor(
            [0.03357825116261249, 0.5049999875834812, 1.652224021273644, 2.0069735965643365,
             0.9297531920604236, 0.15194996990687593]))
        self.denominator = nn.Parameter(torch.tensor(
            [-1.2130662654588712e-07, 3.9742053085655127, -8.821626363379738e-08,
             0.30089104419953816]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.numerator.to(x.dtype)
        b = self.denominator.to(x.dtype)
        p = a[5]
        for k in range(4, -1, -1):
            p = p * x + a[k]
        q = b[3]
        for k in range(2, -1, -1):
            q = q * x + b[k]
        return p / (1.0 + (q * x).abs())
'''

RMS = '''
class ChannelRMSNorm(nn.Module):
    """y = x / sqrt(mean over channels of x^2 + eps) * weight, on (N, C, *); weight (C,)."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = torch.rsqrt(x.square().mean(dim=1, keepdim=True) + self.eps)
        return x * scale * _per_channel(self.weight, x)
'''

IBN = '''
class IBN(nn.Module):
    """InstanceNorm (affine) on channels [0, k), BatchNorm on [k, C), k = max(1, C // 2)."""

    def __init__(self, channels: int, dims: int) -> None:
        super().__init__()
        self.split = max(1, channels // 2)
        instance_norm = nn.InstanceNorm1d if dims == 1 else nn.InstanceNorm2d
        batch_norm = nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d
        self.instance = instance_norm(self.split, affine=True)
        rest = channels - self.split
        self.batch = batch_norm(rest) if rest else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.batch is None:
            return self.instance(x)
        first, rest = torch.split(x, [self.split, x.shape[1] - self.split], dim=1)
        return torch.cat([self.instance(first), self.batch(rest)], dim=1)
'''

EVONORM_BASE = '''
class _EvoNorm(nn.Module):
    def __init__(self, channels: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.v = nn.Parameter(torch.ones(channels))
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def _affine(self, y: torch.Tensor) -> torch.Tensor:
        return y * _per_channel(self.weight, y) + _per_channel(self.bias, y)
'''

EVONORM_B0 = '''
class EvoNormB0(_EvoNorm):
    """Norm-activation: x / max(sqrt(batch_var + eps), v x + sqrt(instance_var + eps)) * gamma
    + beta on (N, C, *spatial); batch_var is the running variance in eval mode."""

    def __init__(self, channels: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__(channels, eps)
        self.momentum = momentum
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spatial = tuple(range(2, x.dim()))
        if self.training:
            batch_var = x.var(dim=(0, *spatial), unbiased=False, keepdim=True)
            count = x.numel() // x.shape[1]
            with torch.no_grad():
                unbiased = batch_var.flatten() * (count / max(count - 1, 1))
                self.running_var.lerp_(unbiased.to(self.running_var.dtype), self.momentum)
        else:
            batch_var = _per_channel(self.running_var, x)
        instance_std = (x.var(dim=spatial, unbiased=False, keepdim=True) + self.eps).sqrt()
        v = _per_channel(self.v, x)
        denominator = torch.maximum((batch_var + self.eps).sqrt(), v * x + instance_std)
        return self._affine(x / denominator)
'''

EVONORM_S0 = '''
class EvoNormS0(_EvoNorm):
    """Norm-activation: x sigmoid(v x) / sqrt(group_var + eps) * gamma + beta on (N, C, *);
    `groups` is the most groups used (fewer where a group would hold a single value)."""

    def __init__(self, channels: int, groups: int, eps: float = 1e-5) -> None:
        super().__init__(channels, eps)
        self.groups = groups

    def groups_for(self, positions: int) -> int:
        channels = self.v.numel()
        fits = [g for g in range(self.groups, 0, -1)
                if self.groups % g == 0 and (channels // g) * positions >= 2]
        return fits[0] if fits else 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        groups = self.groups_for(x[0, 0].numel())
        grouped = x.reshape(x.shape[0], groups, -1)
        std = (grouped.var(dim=-1, unbiased=False, keepdim=True) + self.eps).sqrt()
        gated = x * torch.sigmoid(_per_channel(self.v, x) * x)
        return self._affine((gated.reshape(grouped.shape) / std).reshape(x.shape))
'''

GLOBAL_POOL = '''
class GlobalAvgPool(nn.Module):
    """(N, C, *spatial) -> (N, C): the mean over the `dims` spatial axes."""

    def __init__(self, dims: int) -> None:
        super().__init__()
        self.axes = tuple(range(2, 2 + dims))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=self.axes)
'''

CELL = '''
class Cell(nn.Module):
    """A DAG cell: node 0 is the input, node j the sum of its edges `edges["j_i"]` applied to
    node i (zero without edges), the last node the output. Keeps the shape."""

    def __init__(self, nodes: int, edges: dict[str, nn.Module]) -> None:
        super().__init__()
        self.nodes = nodes
        self.edges = nn.ModuleDict(edges)
        pairs = [tuple(int(i) for i in key.split("_")) for key in edges]
        self.incoming = [[(source, f"{to}_{source}") for to_, source in pairs if to_ == to]
                         for to in range(nodes)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for to in range(1, self.nodes):
            terms = [self.edges[key](nodes[source]) for source, key in self.incoming[to]]
            nodes.append(torch.stack(terms).sum(0) if len(terms) > 1 else
                         terms[0] if terms else torch.zeros_like(x))
        return nodes[-1]
'''

RESIDUAL = '''
class Residual(nn.Module):
    """main(x) + shortcut(x)."""

    def __init__(self, main: nn.Module, shortcut: nn.Module) -> None:
        super().__init__()
        self.main, self.shortcut = main, shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x) + self.shortcut(x)
'''
