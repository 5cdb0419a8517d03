"""Padé activation unit (Molina et al. 2020), "safe" form, coefficients shared over channels.

    y = (a0 + a1 x + ... + a5 x^5) / (1 + |b1 x + b2 x^2 + b3 x^3 + b4 x^4|)

The denominator is at least 1, so y has no poles. The 10 coefficients are learnable and
initialised to a least-squares fit of a target activation on [-3, 3] (`pau_fit`), stored
below as constants so that initial models are the same on every machine.
"""

from __future__ import annotations

import torch
from torch import nn

PAU_INIT: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "leaky_relu": (
        (0.03357825116261249, 0.5049999875834812, 1.652224021273644, 2.0069735965643365,
         0.9297531920604236, 0.15194996990687593),
        (-1.2130662654588712e-07, 3.9742053085655127, -8.821626363379738e-08,
         0.30089104419953816)),
    "relu": (
        (0.033917425416780576, 0.5000000086195223, 1.6689132563646363, 1.987102712776722,
         0.9391447137576421, 0.1504455272464745),
        (8.336870642029312e-08, 3.97420530856547, 6.062715551207576e-08,
         0.30089104419953316)),
    "gelu": (
        (-0.00042367806834086235, 0.5000000000061858, 0.40269136254599, 0.07374224710276955,
         -0.01289645631689799, -0.0037302762061154062),
        (-8.822050034427456e-10, 0.14748449494308316, -2.019128488667653e-10,
         -0.007460552394362408)),
    "silu": (
        (3.2718925207444466e-07, 0.5000000000002583, 0.2499973553334635, 0.05326492368951316,
         0.005802446634533138, 0.00027512053567444253),
        (1.3326129020604272e-09, 0.10652984671383525, 1.2925087564494413e-10,
         0.0005502410615899524)),
    "tanh": (
        (6.238573793261412e-19, 0.9999942151964124, 2.6031631792765055e-16, 0.1077032959162472,
         9.315979687074951e-18, 0.00087087995289668),
        (2.7227866557065237e-16, 0.4410086908477377, 8.585584824289589e-17,
         0.014579126591536876)),
}
"""(a0..a5), (b1..b4) fitted to each target on [-3, 3] by `pau_fit.fit_pau` (1201 points)."""


class PAU(nn.Module):
    """Safe Padé activation P(x) / (1 + |Q(x)|), elementwise on any shape (N, C, *).

    `numerator` (6,) holds a0..a5 and `denominator` (4,) holds b1..b4, shared by all
    channels (10 parameters). `init` names the activation the coefficients start as: one of
    PAU_INIT (leaky_relu, relu, gelu, silu, tanh; `pau_fit.pau` looks a name up with
    suggestions). Both polynomials are evaluated with Horner's scheme in the input's dtype.
    """

    def __init__(self, init: str = "leaky_relu") -> None:
        super().__init__()
        if init not in PAU_INIT:
            raise ValueError(f"Unknown PAU init {init!r}; choose one of: "
                             f"{', '.join(sorted(PAU_INIT))}.")
        numerator, denominator = PAU_INIT[init]
        self.init = init
        self.numerator = nn.Parameter(torch.tensor(numerator, dtype=torch.float32))
        self.denominator = nn.Parameter(torch.tensor(denominator, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.numerator.to(x.dtype)
        b = self.denominator.to(x.dtype)
        p = a[-1]
        for k in range(a.numel() - 2, -1, -1):
            p = p * x + a[k]
        q = b[-1]
        for k in range(b.numel() - 2, -1, -1):
            q = q * x + b[k]
        return p / (1.0 + (q * x).abs())

    def extra_repr(self) -> str:
        return f"init={self.init!r}"
