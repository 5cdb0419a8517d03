"""Slots of the `mbconv` family: every layer named by its role and position (torch-free).

``stem``; block b of stage s reads ``stage{s}_block{b}_expand``, ``..._depthwise``,
``..._se`` and ``..._project``; then ``head_conv``, ``head_hidden`` and the classifier. A
subnet of depth d in a stage reads that stage's blocks 0..d-1 (Once-for-All's elastic depth).

A block with expansion 1 has no expansion conv: its depthwise conv runs over the block's
input channels, not over expanded ones, so it has slots of its own
(``stage{s}_block{b}_unexpanded_depthwise``, ...), as Once-for-All's first block; re-sorting
the expanded channels by importance (`importance.py`) then never reorders an input stream.

Layers whose input means something different in different subnets get their own slots: the
classifier reads the hidden head layer (``classifier``), the pooled head conv
(``classifier_head_conv``) or the pooled last block (``classifier_blocks``); the hidden head
layer reads the head conv (``head_hidden``) or the last block (``head_hidden_blocks``).
Norms, activations and other ops take the slot of the layer before them.
"""

from __future__ import annotations

from collections.abc import Sequence

from nasforge.searchspace.architecture import Architecture
from nasforge.searchspace.families.base import FamilyView
from nasforge.searchspace.plan import NetworkPlan, Op

#: The ops are told apart by the `role` of their elastic rule (`rules.ElasticRule.role`):
#: "conv", "linear", "se" (squeeze-and-excite), "residual", "norm", "activation", ...


def is_depthwise(op: object, role: str) -> bool:
    """A depthwise conv of a block (a k x k conv after the stem; every other conv is 1x1)."""
    return role == "conv" and (getattr(op, "kernel", 1) > 1 or getattr(op, "groups", 1) > 1)


def block_prefix(arch: Architecture, index: int) -> str:
    """``stage{s}_block{b}`` of the architecture's `index`-th block (counted over stages)."""
    view = FamilyView("mbconv", arch)
    for stage in range(int(view["stages"])):
        depth = int(view.per_index("depth", stage))
        if index < depth:
            return f"stage{stage}_block{index}"
        index -= depth
    raise ValueError(f"the plan has more blocks than the architecture {arch.arch_id}")


def block_layer_slots(prefix: str, ops: Sequence[Op], roles: Sequence[str]) -> list[str]:
    """The slot of each op of one block (expand, depthwise, SE, project and their norms and
    activations), given the block's `prefix` and each op's role."""
    first = next((i for i, role in enumerate(roles) if role == "conv"), None)
    unexpanded = first is not None and is_depthwise(ops[first], "conv")
    base = f"{prefix}_unexpanded" if unexpanded else prefix
    slot, seen_depthwise, out = f"{base}_input", False, []
    for op, role in zip(ops, roles, strict=True):
        if is_depthwise(op, role):
            slot, seen_depthwise = f"{base}_depthwise", True
        elif role == "conv":
            slot = f"{base}_project" if seen_depthwise else f"{base}_expand"
        elif role == "se":
            slot = f"{base}_se"
        out.append(slot)
    return out


def mbconv_slots(arch: Architecture, plan: NetworkPlan, roles: Sequence[str]) -> list[str]:
    """The slot of each top-level op of an `mbconv` plan (see the module docstring); a
    residual block's slot is its prefix (`residual.py` names the layers inside it)."""
    ops, slots = plan.ops, []
    slot, blocks, stem, head_conv, hidden, i = "input", 0, False, False, False, 0
    last_linear = max((j for j, role in enumerate(roles) if role == "linear"), default=-1)
    while i < len(ops):
        op, role = ops[i], roles[i]
        if role == "conv" and not stem:
            slot, stem = "stem", True
        elif role == "residual":
            slot, blocks = block_prefix(arch, blocks), blocks + 1
        elif role == "conv" and (is_depthwise(op, role) or _opens_block(ops, roles, i)):
            end = _block_end(ops, roles, i)
            names = block_layer_slots(block_prefix(arch, blocks), ops[i:end], roles[i:end])
            slots.extend(names)
            slot, blocks, i = names[-1], blocks + 1, end
            continue
        elif role == "conv":
            slot, head_conv = "head_conv", True
        elif role == "linear" and i == last_linear:
            slot = ("classifier" if hidden else
                    "classifier_head_conv" if head_conv else "classifier_blocks")
        elif role == "linear":
            slot, hidden = "head_hidden" if head_conv else "head_hidden_blocks", True
        slots.append(slot)
        i += 1
    return slots


def _opens_block(ops: Sequence[Op], roles: Sequence[str], i: int) -> bool:
    """Whether the 1x1 conv at `i` expands a block: the next conv is a depthwise one."""
    for op, role in zip(ops[i + 1:], roles[i + 1:], strict=True):
        if role in ("conv", "residual"):
            return is_depthwise(op, role)
    return False


def _block_end(ops: Sequence[Op], roles: Sequence[str], start: int) -> int:
    """The index after a top-level block starting at `start`: its projection conv and the
    norm (and activation) after it."""
    depthwise = next(j for j in range(start, len(ops)) if is_depthwise(ops[j], roles[j]))
    project = next(j for j in range(depthwise + 1, len(ops)) if roles[j] == "conv")
    end = project + 1
    while end < len(ops) and roles[end] in ("norm", "activation"):
        end += 1
    return end
