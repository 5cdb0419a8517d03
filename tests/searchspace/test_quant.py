"""Fake quantization: values land exactly on the grid, gradients pass straight through, the
quantized layers equal their plain-PyTorch reference, and every bit width trains."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from nasforge.errors import SpaceError
from nasforge.evaluator.seeding import seeded
from nasforge.searchspace.layers.quant import (
    ActQuant,
    QuantConv1d,
    QuantConv2d,
    QuantLinear,
    WeightQuant,
)
from nasforge.searchspace.layers.quant_cpu import (
    LearnedStepPerChannel,
    symmetric_per_channel,
)
from nasforge.searchspace.quantization import (
    BIT_WIDTHS,
    FLOAT,
    LayerBits,
    act_grid,
    check_bits,
    layer_bits,
    weight_grid,
)


def _randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def _is_integral(t: torch.Tensor) -> bool:
    return torch.equal(t, t.round())


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_integer_weights_land_on_the_symmetric_grid_per_channel(bits: int) -> None:
    w = _randn(6, 5, 3).requires_grad_(True)
    quant = WeightQuant(bits, w)
    q = quant(w)
    qmin, qmax = weight_grid(bits)
    scale = w.detach().abs().amax(dim=(1, 2)) / qmax
    levels = q.detach() / scale[:, None, None]
    torch.testing.assert_close(levels, levels.round(), atol=1e-4, rtol=0)
    assert torch.equal(q.detach(), levels.round() * scale[:, None, None])  # exactly on it
    assert levels.round().min() >= qmin and levels.round().max() <= qmax
    # the largest weight of every channel is kept exactly: the range is used in full
    torch.testing.assert_close(q.detach().abs().amax(dim=(1, 2)), w.detach().abs().amax(dim=(1, 2)))
    q.mul(_randn(6, 5, 3, seed=1)).sum().backward()
    torch.testing.assert_close(w.grad, _randn(6, 5, 3, seed=1))  # straight through


def test_two_bit_weights_are_ternary_and_one_bit_weights_binary() -> None:
    w = _randn(4, 16)
    ternary = WeightQuant(2, w)(w)
    for row, top in zip(ternary, w.abs().amax(dim=1), strict=True):
        assert set((row / top).round().tolist()) <= {-1.0, 0.0, 1.0}
    w = w.requires_grad_(True)
    binary = WeightQuant(1, w)(w)
    alpha = w.detach().abs().mean(dim=1, keepdim=True)
    torch.testing.assert_close(binary.detach(), torch.where(w.detach() >= 0, alpha, -alpha))
    binary.sum().backward()
    torch.testing.assert_close(w.grad, torch.ones_like(w))


def test_sixteen_bits_round_through_bfloat16_and_thirty_two_is_the_identity() -> None:
    x = _randn(3, 7).requires_grad_(True)
    y = ActQuant(16)(x)
    torch.testing.assert_close(y.detach(), x.detach().bfloat16().float(), rtol=0, atol=0)
    y.sum().backward()
    torch.testing.assert_close(x.grad, torch.ones_like(x))
    assert ActQuant(32)(x) is x and WeightQuant(32, x)(x) is x


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_activations_land_on_the_affine_grid_and_pass_gradients_inside_the_range(
        bits: int) -> None:
    quant = ActQuant(bits).train()
    x = _randn(64, 10).requires_grad_(True)
    y = quant(x)
    qmin, qmax = act_grid(bits)
    levels = y.detach() / quant.scale + quant.zero_point
    torch.testing.assert_close(levels, levels.round(), atol=1e-3, rtol=0)
    assert levels.round().min() >= qmin and levels.round().max() <= qmax
    assert len(levels.round().unique()) <= 2**bits
    y.sum().backward()
    unclamped = torch.round(x.detach() / quant.scale + quant.zero_point)
    inside = (unclamped >= qmin) & (unclamped <= qmax)
    assert inside.float().mean() > 0.95  # the observer's first batch sets the range
    torch.testing.assert_close(x.grad, inside.float())


@pytest.mark.parametrize("relu", [False, True])
def test_binary_activations_take_the_two_ends_of_the_range(relu: bool) -> None:
    quant = ActQuant(1).train()
    x = _randn(256, 8)
    x = (x.relu() if relu else x).requires_grad_(True)
    y = quant(x)
    low, high = x.detach().min(), x.detach().max()
    assert set(y.detach().unique().tolist()) == {low.item(), high.item()}
    above = x.detach() >= (low + high) / 2
    assert torch.equal(y.detach() == high, above)
    share = above.float().mean()
    assert (0 < share < 0.1) if relu else (0.3 < share < 0.7)  # symmetric: about sign(x)
    y.sum().backward()
    torch.testing.assert_close(x.grad, torch.ones_like(x))  # every value inside the range
    quant.eval()
    outside = quant(torch.tensor([[10.0 * high.item(), 10.0 * low.item() - 1.0]]))
    torch.testing.assert_close(outside, torch.stack([high, low]).view(1, 2))


def test_the_activation_observer_learns_in_training_only() -> None:
    quant = ActQuant(8).train()
    quant(_randn(32, 4))
    first = (quant.running_min.clone(), quant.running_max.clone())
    quant(_randn(32, 4, seed=1) * 3)
    moved = (quant.running_min.clone(), quant.running_max.clone())
    assert moved[0] < first[0] and moved[1] > first[1]  # a moving average of min and max
    quant.eval()
    quant(_randn(32, 4, seed=2) * 100)
    assert torch.equal(quant.running_min, moved[0]) and torch.equal(quant.running_max, moved[1])


def test_learned_steps_initialise_from_data_and_get_gradients() -> None:
    x = _randn(32, 6)
    assert not ActQuant(1, learned_step=True).learned_step  # binary: nothing to learn
    quant = ActQuant(4, learned_step=True).train()
    y = quant(x.requires_grad_(True))
    assert bool(quant.initialized)
    levels = y.detach() / quant.scale.detach() + quant.offset.detach().round()
    torch.testing.assert_close(levels, levels.round(), atol=1e-3, rtol=0)
    y.square().sum().backward()
    assert quant.scale.grad is not None and quant.scale.grad.abs().sum() > 0
    restored = ActQuant(4, learned_step=True)
    restored.load_state_dict(quant.state_dict())
    torch.testing.assert_close(restored.eval()(x.detach()), quant.eval()(x.detach()))

    w = _randn(5, 8).requires_grad_(True)
    weights = WeightQuant(4, w, learned_step=True)
    weights(w).square().sum().backward()
    assert weights.scale.shape == (5,) and weights.scale.grad.abs().sum() > 0


@pytest.mark.parametrize("learned", [False, True])
def test_quant_layers_equal_their_reference(learned: bool) -> None:
    with seeded(0):
        linear = QuantLinear(6, 4, weight_bits=4, act_bits=8, learned_step=learned).train()
        conv1 = QuantConv1d(3, 5, 3, padding=1, weight_bits=2, act_bits=4,
                            learned_step=learned).train()
        conv2 = QuantConv2d(3, 6, 3, padding=1, groups=3, weight_bits=8, act_bits=2,
                            learned_step=learned).train()
    x = _randn(8, 6)
    expected = F.linear(linear.input_quant(x), linear.weight_quant(linear.weight), linear.bias)
    linear.input_quant.eval()  # the reference above already updated the observer
    torch.testing.assert_close(linear.eval()(x), expected)
    for conv, x, op in ((conv1, _randn(2, 3, 9), F.conv1d), (conv2, _randn(2, 3, 5, 5), F.conv2d)):
        reference = op(conv.input_quant(x), conv.weight_quant(conv.weight), conv.bias,
                       padding=1, groups=conv.groups)
        torch.testing.assert_close(conv.eval()(x), reference)


@pytest.mark.parametrize("weight_bits", BIT_WIDTHS)
@pytest.mark.parametrize("act_bits", BIT_WIDTHS)
def test_every_bit_width_pair_trains_in_float32_and_runs_in_bfloat16(
        weight_bits: int, act_bits: int) -> None:
    with seeded(0):
        layer = QuantLinear(5, 3, weight_bits=weight_bits, act_bits=act_bits)
    x = _randn(16, 5)
    before = layer.weight.detach().clone()
    opt = torch.optim.SGD(layer.parameters(), lr=0.1)
    for _ in range(2):
        loss = layer(x).square().mean()
        opt.zero_grad()
        loss.backward()
        assert torch.isfinite(loss) and layer.weight.grad.abs().sum() > 0
        opt.step()
    assert not torch.equal(before, layer.weight.detach())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = layer.eval()(x.bfloat16())
    assert out.dtype == torch.bfloat16 and torch.isfinite(out.float()).all()


def test_bit_widths_are_checked() -> None:
    assert check_bits(4) == 4
    for bad in (3.5, 0, 64, True, "8"):
        with pytest.raises(SpaceError, match="not a supported bit width"):
            check_bits(bad)
    with pytest.raises(SpaceError):
        LayerBits(weight=5)


def test_layer_bits_policy_keeps_the_ends_at_eight_bits() -> None:
    values = {"weight_bits": 2, "act_bits": 4, "keep_ends_8bit": True, "weight_bits.1": 1}

    def get(key: str, default: object) -> object:
        return values.get(key, default)

    assert layer_bits(get, 0, first=True, last=False) == LayerBits(8, 8)
    assert layer_bits(get, 1, first=False, last=False) == LayerBits(1, 4)
    assert layer_bits(get, 2, first=False, last=False) == LayerBits(2, 4)
    assert layer_bits(get, None, first=False, last=True) == LayerBits(8, 8)
    values.update(keep_ends_8bit=False, weight_bits=32, act_bits=16)
    assert layer_bits(get, None, first=True, last=True) == LayerBits(32, 16)
    assert layer_bits(lambda key, default: default, None, True, True) == FLOAT


def test_cpu_weight_paths_equal_the_native_operators() -> None:
    """The CPU fast paths compute what PyTorch's fake-quant operators compute (on CUDA the
    native operators themselves run)."""
    w = _randn(16, 8, 3).mul_(3).requires_grad_(True)
    for bits in (2, 4, 8):
        qmin, qmax = weight_grid(bits)
        scale = w.detach().abs().amax(dim=(1, 2)).div(qmax)
        zero = torch.zeros(16, dtype=torch.int32)
        native = torch.fake_quantize_per_channel_affine(w.detach(), scale, zero, 0, qmin, qmax)
        assert torch.equal(symmetric_per_channel(w, scale, qmin, qmax).detach(), native)

    grad_out = _randn(16, 8, 3, seed=3)
    scale = torch.full((16,), 0.4, requires_grad=True)  # some weights fall outside the range
    results = []
    for fn in ("native", "fast"):
        w.grad, scale.grad = None, None
        if fn == "native":
            out = torch._fake_quantize_learnable_per_channel_affine(
                w, scale, torch.zeros(16), 0, -7, 7, 0.05)
        else:
            out = LearnedStepPerChannel.apply(w, scale, -7, 7, 0.05)
        out.backward(grad_out)
        results.append((out.detach(), w.grad.clone(), scale.grad.clone()))
    (a_out, a_w, a_s), (b_out, b_w, b_s) = results
    torch.testing.assert_close(b_out, a_out)
    torch.testing.assert_close(b_w, a_w)
    torch.testing.assert_close(b_s, a_s, rtol=1e-4, atol=1e-4)
    assert (a_w == 0).any()  # the case of weights outside the range was exercised



def test_a_never_observed_binary_activation_quantizer_is_the_sign_in_eval() -> None:
    from nasforge.searchspace.layers.quant import ActQuant

    out = ActQuant(1).eval()(torch.tensor([-2.0, -0.5, 0.0, 0.3, 5.0]))
    assert torch.equal(out, torch.tensor([-1.0, -1.0, 1.0, 1.0, 1.0]))  # was NaN
