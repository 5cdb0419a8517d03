"""The stacked step's internals: the optimizer (torch's fused kernel per model, and the (M, P)
fallback) is torch.optim's update; a skipping model's identity at a linear slot stays the
identity through training and model drops; activation runs cover repeated kinds."""

from __future__ import annotations

import pytest
import torch
from fused_helpers import blobs, mlp
from torch import nn

from nasforge.evaluator.fused.layers import Layer
from nasforge.evaluator.fused.ops import ELEMENTWISE_LAYER
from nasforge.evaluator.fused.optimizer import StackedOptimizer
from nasforge.evaluator.fused.stack import StackedModel
from nasforge.evaluator.fused.train import fused_step
from nasforge.evaluator.seeding import seeded
from nasforge.searchspace.build import build_from_plan

LRS, DECAYS = [3e-3, 1e-2, 5e-4], [0.0, 0.05, 0.3]


def _reference(kind: str, weights: torch.Tensor, grads: list[torch.Tensor]) -> torch.Tensor:
    """Each row trained by torch.optim (fused) with its own lr and decay."""
    rows = []
    for m, (lr, decay) in enumerate(zip(LRS, DECAYS, strict=True)):
        p = nn.Parameter(weights[m].clone())
        optimizer: torch.optim.Optimizer
        if kind == "sgd":
            optimizer = torch.optim.SGD([p], lr=lr, momentum=0.9, nesterov=True,
                                        weight_decay=decay, fused=True)
        elif kind == "adam":
            optimizer = torch.optim.Adam([p], lr=lr, weight_decay=decay, fused=True)
        else:
            optimizer = torch.optim.AdamW([p], lr=lr, weight_decay=decay, fused=True)
        for grad in grads:
            p.grad = grad[m].clone()
            optimizer.step()
        rows.append(p.detach())
    return torch.stack(rows)


@pytest.mark.parametrize("kind", ["adamw", "adam", "sgd"])
@pytest.mark.parametrize("fused", [True, False])
def test_stacked_optimizer_is_torch_optims_update_per_row(kind: str, fused: bool) -> None:
    g = torch.Generator().manual_seed(0)
    weights = torch.randn(3, 50, generator=g)
    grads = [torch.randn(3, 50, generator=g) for _ in range(4)]
    flat = weights.clone()
    optimizer = StackedOptimizer(kind, flat, fused=fused)
    assert (optimizer.kernel is not None) == fused
    for grad in grads:
        optimizer.step(flat, grad.clone(), LRS, DECAYS)
    expected = _reference(kind, weights, grads)
    if fused:  # the same kernel on the same values
        assert torch.equal(flat, expected)
    else:
        torch.testing.assert_close(flat, expected, rtol=1e-5, atol=1e-6)


def test_stacked_optimizer_keeps_rows_and_their_moments() -> None:
    g = torch.Generator().manual_seed(1)
    weights = torch.randn(3, 20, generator=g)
    grads = [torch.randn(3, 20, generator=g) for _ in range(3)]
    flat = weights.clone()
    optimizer = StackedOptimizer("adamw", flat)
    optimizer.step(flat, grads[0].clone(), LRS, DECAYS)
    index = torch.tensor([2, 0])
    flat = flat.index_select(0, index)
    optimizer.keep(index)
    for grad in grads[1:]:
        optimizer.step(flat, grad.index_select(0, index), [LRS[2], LRS[0]],
                       [DECAYS[2], DECAYS[0]])
    expected = _reference("adamw", weights, grads)
    assert torch.equal(flat, expected.index_select(0, index))


def test_stacked_optimizer_refuses_other_kinds_and_wrong_rates() -> None:
    with pytest.raises(ValueError, match="not stackable"):
        StackedOptimizer("lion", torch.zeros(2, 3))
    optimizer = StackedOptimizer("adamw", torch.zeros(2, 3))
    with pytest.raises(ValueError, match="2 stacked models"):
        optimizer.step(torch.zeros(2, 3), torch.zeros(2, 3), [1e-3], [0.0, 0.0])


def _identity_block(stack: StackedModel, model: int, slot: int) -> torch.Tensor:
    """Model `model`'s (padded) weight at linear slot `slot`."""
    return stack.params[f"{slot}.weight"][model].detach()


def test_a_skipping_models_identity_survives_decay_and_drops() -> None:
    """A shallow model skips the deep model's later linear slots with a fixed identity (on its
    width there): after AdamW steps with weight decay, and after the deep model leaves the
    stack first, its blocks are still exactly that identity."""
    shallow, deep, middle = (mlp("none", width=8, depth=1), mlp("none", width=16, depth=3),
                             mlp("none", width=12, depth=2))
    plans = [deep, shallow, middle]
    with seeded(0):
        models = [build_from_plan(plan) for plan in plans]
    stack = StackedModel.from_models(models, plans, [0, 1, 2])
    assert stack.fixed is not None
    skipped = [s for s, layer in enumerate(stack.layers)
               if f"{s}.weight" in stack.params and stack.placement[1][s] is None]
    assert skipped, "the shallow model skips linear slots"
    assert all(layer.passthrough is None for layer in stack.layers
               if f"{layer.index}.weight" in stack.params)
    initial = {slot: _identity_block(stack, 1, slot).clone() for slot in skipped}
    for block in initial.values():
        width = int(block.sum())
        assert width > 0 and torch.equal(block[:width, :width], torch.eye(width))
    data = blobs()
    optimizer = StackedOptimizer("adamw", stack.flat)
    idx = torch.arange(12).repeat(3)
    for _ in range(3):
        fused_step(stack, optimizer, data.x_train, data.y_train, idx, [1e-2] * 3, [0.5] * 3,
                   True)
    for slot in skipped:
        assert torch.equal(_identity_block(stack, 1, slot), initial[slot])
    keep = torch.tensor([1, 2])  # the deep model leaves
    stack.keep(keep)
    optimizer.keep(keep)
    fused_step(stack, optimizer, data.x_train, data.y_train, idx[:24], [1e-2] * 2, [0.5] * 2,
               True)
    for slot in skipped:
        assert torch.equal(_identity_block(stack, 0, slot), initial[slot])


def test_activation_runs_cover_repeated_kinds_and_match_each_models_own() -> None:
    """Kinds in runs (relu, relu, identity, gelu, identity): applied run by run, each model's
    slice gets its own activation."""
    acts: list[nn.Module] = [nn.ReLU(), nn.ReLU(), nn.Identity(), nn.GELU(), nn.Identity()]
    layer = Layer(ELEMENTWISE_LAYER, 0, acts=acts)
    layer.group(None)
    assert layer.runs == [(0, 2), (2, 1), (3, 1), (4, 1)]
    x = torch.randn(5, 4, 6)
    from nasforge.evaluator.fused.layers import StackCtx

    out, layout = ELEMENTWISE_LAYER.forward(layer, (x, "models"), StackCtx({}, {}, 5, True))
    assert layout == "models"
    assert torch.equal(out, torch.stack([act(x[m]) for m, act in enumerate(acts)]))
    layer.keep([3, 0])
    assert layer.runs == [(0, 1), (1, 1)]


@pytest.mark.parametrize("layout", ["models", "channels"])
def test_scattered_activation_kinds_match_each_models_own_forward_and_backward(layout: str
                                                                               ) -> None:
    """Kinds too scattered for runs are gathered into kind order once and put back: each
    model's slice gets its own activation and its own gradient, bit for bit."""
    from nasforge.evaluator.fused.layers import StackCtx

    kinds: list[nn.Module] = [nn.ReLU(), nn.GELU(), nn.Tanh()]
    acts = [kinds[m % 3] for m in range(7)]
    layer = Layer(ELEMENTWISE_LAYER, 0, acts=acts)
    layer.group(None)
    assert not layer.runs and layer.inverse is not None
    g = torch.Generator().manual_seed(0)
    x = torch.randn(7, 4, 6, generator=g, requires_grad=True)
    grad = torch.randn(7, 4, 6, generator=g)
    given = x if layout == "models" else x.transpose(0, 1).reshape(4, 7 * 6)
    out, _ = ELEMENTWISE_LAYER.forward(layer, (given, layout), StackCtx({}, {}, 7, True))
    if layout == "channels":
        out = out.view(4, 7, 6).transpose(0, 1)
    (got,) = torch.autograd.grad(out, x, grad)
    own = [x[m].detach().clone().requires_grad_(True) for m in range(7)]
    expected = [act(part) for act, part in zip(acts, own, strict=True)]
    assert torch.equal(out, torch.stack(expected))
    for m, (part, value) in enumerate(zip(own, expected, strict=True)):
        (want,) = torch.autograd.grad(value, part, grad[m])
        assert torch.equal(got[m], want)
