"""The Padé activation unit: its stored init coefficients, their fit, and its shape."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nasforge.errors import UnknownNameError
from nasforge.searchspace.layers import ACTIVATIONS
from nasforge.searchspace.layers.pau import pau
from nasforge.searchspace.layers.pau_fit import TARGETS, fit_grid, fit_pau, pau_numpy
from nasforge.searchspace.layers.portable.pau import PAU, PAU_INIT

# max |PAU(x) - target(x)| on [-3, 3] at init: the kinks of (leaky) ReLU cost the most
MAX_ERROR = {"leaky_relu": 0.05, "relu": 0.05, "gelu": 5e-3, "silu": 1e-4, "tanh": 1e-4}


def test_every_target_has_stored_coefficients_and_a_bound() -> None:
    assert set(PAU_INIT) == set(TARGETS) == set(MAX_ERROR)
    for numerator, denominator in PAU_INIT.values():
        assert len(numerator) == 6 and len(denominator) == 4


@pytest.mark.parametrize("target", sorted(PAU_INIT))
def test_init_approximates_its_target_on_the_fit_range(target: str) -> None:
    x = np.linspace(-3.0, 3.0, 6001)  # finer than the fit grid
    with torch.no_grad():
        y = PAU(target)(torch.tensor(x, dtype=torch.float32)).double().numpy()
    error = np.abs(y - TARGETS[target](x)).max()
    assert error < MAX_ERROR[target], f"{target}: max error {error:.3g}"


@pytest.mark.parametrize("target", sorted(PAU_INIT))
def test_stored_coefficients_are_what_the_fit_gives(target: str) -> None:
    """Regenerate with `python -m nasforge.searchspace.layers.pau_fit` if this fails."""
    numerator, denominator = fit_pau(target)
    x = fit_grid()
    fitted = pau_numpy(np.array(numerator), np.array(denominator), x)
    stored = pau_numpy(np.array(PAU_INIT[target][0]), np.array(PAU_INIT[target][1]), x)
    np.testing.assert_allclose(stored, fitted, rtol=0, atol=1e-6)
    # the fit is a least-squares optimum: the stored point's squared error is not beaten
    f = TARGETS[target](x)
    assert np.sum((stored - f) ** 2) <= np.sum((fitted - f) ** 2) * (1 + 1e-6)


def test_the_registered_pau_is_leaky_relu_like_with_ten_shared_coefficients() -> None:
    for dims in (0, 1, 2):
        module = ACTIVATIONS.get("pau")(64, dims)
        assert sum(p.numel() for p in module.parameters()) == 10
        assert module.init == "leaky_relu"
    x = torch.tensor([-3.0, -1.0, 1.0, 3.0])
    torch.testing.assert_close(module(x), torch.nn.functional.leaky_relu(x, 0.01),
                               rtol=0, atol=0.05)


def test_the_denominator_is_at_least_one_so_there_are_no_poles() -> None:
    module = PAU("tanh")
    with torch.no_grad():
        module.denominator.copy_(torch.tensor([-5.0, 3.0, -1.0, 0.2]))
    x = torch.linspace(-10, 10, 2001)
    with torch.no_grad():
        p = sum(c * x**k for k, c in enumerate(module.numerator))
        y = module(x)
    assert torch.isfinite(y).all()
    assert (y.abs() <= p.abs() * (1 + 1e-5) + 1e-6).all()


def test_an_unknown_init_suggests_the_nearest() -> None:
    with pytest.raises(UnknownNameError, match="Did you mean 'relu'"):
        pau("rellu")
    with pytest.raises(ValueError, match="choose one of: gelu, leaky_relu"):
        PAU("rellu")  # the portable class (inlined into model.py) names the choices
    assert pau("tanh").init == "tanh"
