"""Proxies against their closed forms on tiny hand-computable networks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from nasforge.evaluator.seeding import seeded
from nasforge.proxies import ProxyBatch, inapplicable, score


def _two_layer_linear() -> nn.Sequential:
    net = nn.Sequential(nn.Linear(3, 4, bias=False), nn.Linear(4, 2, bias=False))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, -2.0, 0.5], [0.0, 1.0, -1.0],
                                          [3.0, 0.0, 1.0], [-1.0, -1.0, 2.0]]))
        net[1].weight.copy_(torch.tensor([[0.5, -1.0, 2.0, 0.0], [1.0, 1.0, -0.5, 3.0]]))
    return net


def test_synflow_of_a_two_layer_linear_net_is_twice_its_path_norm() -> None:
    # R = 1^T |W2| |W1| 1; for every weight w, |w dR/dw| sums to R over each layer
    net = _two_layer_linear()
    w1, w2 = (m.weight.detach().abs().double() for m in net)
    path_norm = float(torch.ones(2, dtype=torch.float64) @ w2 @ w1 @ torch.ones(3).double())
    batch = ProxyBatch(torch.zeros(5, 3), torch.zeros(5, dtype=torch.long))
    assert score("synflow", net, batch, seed=0) == pytest.approx(2 * path_norm, rel=1e-12)


def test_snip_and_grad_norm_of_a_linear_regression_match_the_gradient_by_hand() -> None:
    net = nn.Sequential(nn.Linear(2, 1, bias=False))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[2.0, -1.0]]))
    x = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    y = torch.tensor([1.0, 0.0, 2.0])
    w = np.array([2.0, -1.0])
    residual = x.numpy() @ w - y.numpy()
    grad = 2 * residual @ x.numpy() / len(y)  # d mean((xw - y)^2) / dw
    batch = ProxyBatch(x, y, "regression")
    assert score("snip", net, batch, seed=0) == pytest.approx(np.abs(grad * w).sum())
    assert score("grad_norm", net, batch, seed=0) == pytest.approx(np.linalg.norm(grad))


def test_naswot_is_the_log_determinant_of_the_agreement_kernel() -> None:
    net = nn.Sequential(nn.Linear(2, 2, bias=False), nn.ReLU())
    with torch.no_grad():
        net[0].weight.copy_(torch.eye(2))
    x = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0]])
    codes = (x.numpy() > 0).astype(float)
    kernel = codes @ codes.T + (1 - codes) @ (1 - codes).T  # [[2,1,1],[1,2,0],[1,0,2]]
    expected = math.log(np.linalg.det(kernel))
    batch = ProxyBatch(x, torch.zeros(3, dtype=torch.long))
    assert score("naswot", net, batch, seed=0) == pytest.approx(expected)


def test_jacob_cov_of_a_linear_net_sees_identical_jacobians() -> None:
    # every sample has the same Jacobian: the correlation matrix is all ones, eigenvalues N, 0..
    n, k = 4, 1e-5
    batch = ProxyBatch(torch.randn(n, 3, generator=torch.Generator().manual_seed(0)),
                       torch.zeros(n, dtype=torch.long))
    expected = -((math.log(n + k) + 1 / (n + k)) + (n - 1) * (math.log(k) + 1 / k))
    assert score("jacob_cov", _two_layer_linear(), batch, seed=0) == pytest.approx(expected,
                                                                                   rel=1e-6)


def test_zen_of_a_linear_net_is_the_log_of_the_mean_perturbation() -> None:
    # linear, no norms: f(x) - f(x + a e) = -a W e with W ~ N(0, 1) under the seed
    # (the seed draws W1, W2, then x, then e, in that order)
    net = _two_layer_linear()
    batch = ProxyBatch(torch.zeros(6, 3), torch.zeros(6, dtype=torch.long))
    with seeded(11):
        w1, w2, _, e = torch.randn(4, 3), torch.randn(2, 4), torch.randn(6, 3), torch.randn(6, 3)
    expected = math.log(float((0.01 * (e.double() @ w1.double().T @ w2.double().T)).abs()
                              .sum(1).mean()))
    assert score("zen", net, batch, seed=11) == pytest.approx(expected, rel=1e-4)


def test_fisher_is_zero_without_a_path_from_the_activations_to_the_loss() -> None:
    batch = ProxyBatch(torch.tensor([[0.5, 1.6], [0.5, 0.3], [0.9, 0.8], [-0.4, 0.0]]),
                       torch.tensor([0, 1, 0, 1]))

    def net(readout: list[list[float]]) -> nn.Sequential:
        # fixed weights (no draw from the global generator): both hidden units active on
        # every sample, so only the readout decides whether a path reaches the loss
        layers = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2))
        with torch.no_grad():
            layers[0].weight.copy_(torch.eye(2))
            layers[0].bias.fill_(1.0)
            layers[2].weight.copy_(torch.tensor(readout))
            layers[2].bias.zero_()
        return layers

    assert score("fisher", net([[0.0, 0.0], [0.0, 0.0]]), batch, seed=0) == 0.0
    assert score("fisher", net([[1.0, -1.0], [0.5, 2.0]]), batch, seed=0) > 0.0


def test_proxies_that_read_activations_say_why_they_cannot_score_a_linear_net() -> None:
    linear = _two_layer_linear()
    for proxy in ("naswot", "fisher"):
        reason = inapplicable(proxy, linear)
        assert reason is not None and "activation" in reason
    assert inapplicable("synflow", linear) is None
    assert inapplicable("naswot", nn.Sequential(nn.Linear(2, 2), nn.ReLU())) is None


def test_a_network_blind_to_its_input_scores_minus_inf_and_never_raises() -> None:
    class Constant(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bias = nn.Parameter(torch.zeros(2))
            self.act = nn.ReLU()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.act(self.bias).expand(len(x), 2)

    batch = ProxyBatch(torch.randn(4, 3), torch.tensor([0, 1, 0, 1]))
    assert score("jacob_cov", Constant(), batch, seed=0) == -math.inf
    assert score("naswot", Constant(), batch, seed=0) == -math.inf  # one code for every sample
