"""A stack's model order (`align.stack_order`) and the slots only some models run, computed on
those models' slice (`layers.Layer.narrow_present`, `stack._run_present`): the same values
as computing every model and selecting, and no candidate's result depends on the order."""

from __future__ import annotations

import torch
from fused_helpers import blobs, check_agrees, mlp

from nasforge.evaluator.fused import train_fused
from nasforge.evaluator.fused.align import stack_order
from nasforge.evaluator.fused.layers import Layer
from nasforge.evaluator.fused.ops import BATCH_NORM
from nasforge.evaluator.fused.stack import StackedModel
from nasforge.evaluator.train import TrainingParams
from nasforge.searchspace.build import build_from_plan

# interleaved on purpose: norms, depths and activations alternate
MIXED = (("batch", "relu", 16, 3), ("none", "gelu", 8, 1), ("layer", "tanh", 24, 2),
         ("batch", "gelu", 12, 1), ("layer", "relu", 8, 3), ("none", "relu", 16, 2),
         ("batch", "relu", 20, 2), ("layer", "gelu", 16, 1))


def mixed_plans() -> list:
    return [mlp(norm, act, width=w, depth=d, dropout=0.1 * (i % 3))
            for i, (norm, act, w, d) in enumerate(MIXED)]


def test_stack_order_puts_the_models_of_each_norm_slot_side_by_side() -> None:
    plans = mixed_plans()
    unordered = StackedModel.from_models([build_from_plan(p) for p in plans], plans)
    assert any(layer.passthrough is not None and layer.present is None
               for layer in unordered.layers)  # as given, some norm slot is scattered
    order = stack_order(plans)
    assert sorted(order) == list(range(len(plans)))
    ordered = [plans[i] for i in order]
    stack = StackedModel.from_models([build_from_plan(p) for p in ordered], ordered)
    selected = [layer for layer in stack.layers if layer.passthrough is not None]
    assert selected and all(layer.present is not None and layer.inner is not None
                            for layer in selected)
    for layer in selected:
        start, stop = layer.present
        flags = layer.passthrough.view(-1).tolist()
        assert flags == [start <= m < stop for m in range(len(flags))]


def _stack(plans: list, dtype: torch.dtype = torch.float32) -> StackedModel:
    torch.manual_seed(0)
    models = [build_from_plan(p).to(dtype) for p in plans]
    return StackedModel.from_models(models, plans, list(range(len(plans))))


def test_a_slot_on_its_models_slice_equals_computing_every_model_and_selecting() -> None:
    plans = [mixed_plans()[i] for i in stack_order(mixed_plans())]
    # float64: the two paths sum in different orders (matmul blocking differs by slice
    # size), which in float32 differed by 1e-4 relative on an AVX-512 CPU
    sliced, selecting = _stack(plans, torch.float64), _stack(plans, torch.float64)
    for layer in selecting.layers:  # the select-everything path for every slot
        layer.narrowable = False
        layer.narrow_present()
    assert any(layer.inner is not None for layer in sliced.layers)
    assert all(layer.inner is None for layer in selecting.layers)
    data = blobs()
    x = data.x_train[:40].double().expand(len(plans), 40, -1)
    outs, grads = [], []
    for stack in (sliced, selecting):
        out = stack.forward(x, True)
        outs.append(out)
        grads.append(torch.autograd.grad(out.square().sum(), stack.leaves()))
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-6, atol=1e-6)
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    for layer in sliced.layers:  # running statistics of the models that run the slot (the
        # others' rows are not theirs: write-back skips them)
        running = (layer.passthrough.view(-1) if layer.passthrough is not None
                   else torch.ones(len(plans), dtype=torch.bool))
        for name, value in sliced.buffers.items():
            if name.split(".", 1)[0] == str(layer.index):
                torch.testing.assert_close(value[running], selecting.buffers[name][running])


def test_no_candidates_result_depends_on_the_order_it_comes_in() -> None:
    plans = mixed_plans()
    params = [TrainingParams(lr=10 ** (-3 + 0.2 * i), weight_decay=0.01 * i, batch_size=24,
                             epochs=2) for i in range(len(plans))]
    seeds = list(range(10, 10 + len(plans)))
    forward = train_fused(plans, blobs(), params, seeds=seeds, task="classification")
    back = train_fused(plans[::-1], blobs(), params[::-1], seeds=seeds[::-1],
                       task="classification")[::-1]
    for a, b in zip(forward, back, strict=True):
        assert a.outcome is not None and b.outcome is not None
        assert [p.metrics for p in a.outcome.curve] == [p.metrics for p in b.outcome.curve]
        torch.testing.assert_close(a.model.state_dict(), b.model.state_dict())


def test_a_model_leaving_moves_or_drops_the_slice() -> None:
    def layer(flags: list[bool]) -> Layer:
        made = Layer(BATCH_NORM, 0, narrowable=True,
                     passthrough=torch.tensor(flags).view(-1, 1, 1))
        made.narrow_present()
        return made

    inside = layer([False, True, True, False])
    assert inside.present == (1, 3) and inside.inner is not None
    inside.keep([0, 2, 3])  # the first of the two running models leaves
    assert inside.present == (1, 2)
    assert layer([True, False, True]).present is None  # two runs: every model, selected
    split = layer([True, False, True])
    split.keep([0, 2])  # the model between leaves: one run again
    assert split.present == (0, 2) and split.inner is not None
    assert layer([False, False]).present is None  # nobody runs it
    kept = layer([True, True])
    assert kept.present == (0, 2)
    plain = Layer(BATCH_NORM, 0, passthrough=torch.tensor([True, False]).view(-1, 1, 1))
    plain.narrow_present()
    assert plain.present is None  # not narrowable: always selected


def test_a_model_leaving_a_sliced_norm_slot_leaves_the_others_as_trained_alone() -> None:
    """The middle one of three batch-norm models diverges in the first epoch and leaves the
    stack: the slices shrink around it and every other model still trains as it would
    alone."""
    plans = [mlp("batch", width=16, depth=2), mlp("batch", width=8, depth=2),
             mlp("batch", width=12, depth=1), mlp("none", width=16, depth=2)]
    params = [TrainingParams(lr=3e-3, batch_size=24, epochs=3) for _ in plans]
    params[1] = TrainingParams(lr=1e30, batch_size=24, epochs=3)
    ordered = [plans[i] for i in stack_order(plans)]
    stack = StackedModel.from_models([build_from_plan(p) for p in ordered], ordered)
    assert [layer.present for layer in stack.layers if layer.passthrough is not None] == [
        (0, 3), (0, 2)]  # the diverging model sits inside both slices
    check_agrees(plans, params, diverging=(1,))
