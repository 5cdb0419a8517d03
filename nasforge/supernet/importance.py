"""Elastic expansion keeps the most important channels (Once-for-All): the expanded channels
of each `mbconv` block are re-sorted by importance, so that a subnet with a smaller expansion
ratio, which reads the first channels, reads the most important ones.

A channel's importance is the L1 norm of the projection conv's weights that read it. Sorting
permutes, consistently, the expansion conv's output channels (weights, bias, and the norms
and activations after it), the depthwise conv's filters (and its norms and activations), the
squeeze-and-excite layers' channels, and the projection's input columns; the squeezed
channels of the SE are re-sorted by the L1 norm of the weights that read them. The largest
subnet's function is unchanged (a permutation of its hidden channels); forward == extract
holds as ever, since extraction reads the same state.

Norms and activations are kept per width (`rules.PerWidth`): after sorting, channel i of
the module for c channels takes the state of old channel ``order[i]`` from the narrowest
module that has it (its own when ``order[i] < c``). Optimizer moments move with the
parameters. A norm that mixes channels (group norm, EvoNorm-S0, IBN) is not permutation
equivariant: `unsortable` names it and the caller skips the sorting.
"""

from __future__ import annotations

import bisect
from typing import TYPE_CHECKING

import torch
from torch import nn

from nasforge.searchspace.space import SearchSpace
from nasforge.searchspace.specs import ACTIVATIONS, NORMS

if TYPE_CHECKING:
    from nasforge.supernet.model import Supernet

#: Norms whose output channel i depends on input channel i alone, up to per-channel state
#: (statistics over all channels, as layer and RMS norm take, are permutation invariant).
CHANNELWISE_NORMS = frozenset({"none", "batch", "layer", "instance", "rms", "evonorm_b0"})


def unsortable(space: SearchSpace) -> str | None:
    """Why the space's channels cannot be re-sorted (a norm mixing channels), else None."""
    norms = [str(v) for v in space.params["norm"].values()] if "norm" in space else []
    mixing = sorted(set(norms) - CHANNELWISE_NORMS)
    if mixing:
        return (f"norm {', '.join(mixing)} mixes channels (sorting is equivariant only for "
                f"{', '.join(sorted(CHANNELWISE_NORMS))})")
    return None


def channel_importance(weight: torch.Tensor) -> torch.Tensor:
    """The L1 norm of each input column (dim 1) of a weight."""
    return weight.abs().sum(dim=[d for d in range(weight.dim()) if d != 1])


@torch.no_grad()
def sort_channels(net: Supernet, optimizer: torch.optim.Optimizer | None = None) -> int:
    """Re-sort the expanded channels of every expanded block slot of `net` (in place, with
    the `optimizer`'s moments); returns the number of blocks sorted."""
    weights, biases, sorted_blocks = net.weights, net.biases, 0
    for project in [s for s in weights if s.endswith("_project")]:
        prefix = project.removesuffix("_project")
        expand, depthwise = f"{prefix}_expand", f"{prefix}_depthwise"
        if expand not in weights or depthwise not in weights:
            continue  # an unexpanded block: its channels are the stage's stream
        hidden = weights[project].shape[1]
        if weights[expand].shape[0] != hidden or weights[depthwise].shape[0] != hidden:
            continue
        order = torch.argsort(channel_importance(weights[project]), descending=True,
                              stable=True)
        moves = [(weights[expand], 0), (biases[expand], 0), (weights[depthwise], 0),
                 (biases[depthwise], 0), (weights[project], 1)]
        down, up = f"{prefix}_se_down", f"{prefix}_se_up"
        if down in weights:
            moves += [(weights[down], 1), (weights[up], 0), (biases[up], 0)]
        for tensor, dim in moves:
            _permute(tensor, order, dim, optimizer)
        if down in weights:
            squeezed = torch.argsort(channel_importance(weights[up]), descending=True,
                                     stable=True)
            for tensor, dim in ((weights[down], 0), (biases[down], 0), (weights[up], 1)):
                _permute(tensor, squeezed, dim, optimizer)
        for slot in (expand, depthwise):
            _per_width(net, slot, order, optimizer)
        sorted_blocks += 1
    return sorted_blocks


def _aligned(tensor: torch.Tensor, optimizer: torch.optim.Optimizer | None
             ) -> list[torch.Tensor]:
    """The tensor and the optimizer's state tensors of its shape (Adam's moments)."""
    state = optimizer.state.get(tensor, {}) if optimizer is not None else {}
    return [tensor.data if isinstance(tensor, nn.Parameter) else tensor] + [
        v for _, v in sorted(state.items()) if isinstance(v, torch.Tensor)
        and v.shape == tensor.shape]


def _permute(tensor: torch.Tensor, order: torch.Tensor, dim: int,
             optimizer: torch.optim.Optimizer | None) -> None:
    for part in _aligned(tensor, optimizer):
        part.copy_(part.index_select(dim, order.to(part.device)))


def _per_width(net: Supernet, slot: str, order: torch.Tensor,
               optimizer: torch.optim.Optimizer | None) -> None:
    """Permute the per-channel state of the per-width norms and activations after `slot`."""
    groups: dict[str, list[tuple[int, nn.Module]]] = {}
    for key, module in net.layers.items():
        owner, kind, channels = key.rsplit("__", 2)
        if owner == slot:
            groups.setdefault(kind, []).append((int(channels), module))
    for kind, members in groups.items():
        if kind not in NORMS and not _per_channel_activation(kind):
            continue  # parameters shared by every channel (PAU): nothing to move
        members.sort(key=lambda member: member[0])
        widths = [c for c, _ in members]
        tensors = [dict(m.state_dict(keep_vars=True)) for _, m in members]
        updates = []
        for index, ((c, _), own) in enumerate(zip(members, tensors, strict=True)):
            picked = order[:c].tolist()
            if len(picked) < c or picked and max(picked) >= widths[-1]:
                continue
            source = torch.tensor([max(index, bisect.bisect_right(widths, j)) for j in picked])
            for name, tensor in own.items():
                if tensor.numel() != c or c < 2:
                    continue
                for k, part in enumerate(_aligned(tensor, optimizer)):
                    new = part.reshape(-1).clone()
                    for s in source.unique().tolist():
                        where = torch.nonzero(source == s).flatten()
                        donors = _aligned(tensors[s][name], optimizer)
                        if k < len(donors):  # else a donor without moments: keep them
                            donor = donors[k].reshape(-1)
                            new[where] = donor[torch.tensor(picked)[where]]
                    updates.append((part, new))
        for part, new in updates:  # every read done before any write
            part.copy_(new.reshape(part.shape))


def _per_channel_activation(kind: str) -> bool:
    spec = ACTIVATIONS.get(kind) if kind in ACTIVATIONS else None
    return spec is not None and spec.count_params(1, 2) != spec.count_params(2, 2)
