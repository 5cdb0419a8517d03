"""On-device augmentation of training batches: `[data] augment = ["crop", "flip", "cutout"]`.

Each augmentation is a registered `Augmentation`: `draw` takes its random numbers for a batch
from a CPU `torch.Generator` (per sample, e.g. crop offsets), `apply` transforms the batch
(B, C, *spatial) on its device with them (no DataLoader, no per-sample Python). Samples are
(C, H, W) images or (C, L) sequences, already normalised (0 is the train split's channel
mean, so zero padding and a zeroed cutout square are mean-valued):

    crop    pad each spatial side by max(1, S // 8) with zeros, crop back to S at a random
            offset per sample (a random translation of up to S // 8 pixels)
    flip    reverse the last axis (horizontal flip; a sequence runs backwards) with p = 0.5
    cutout  zero one window of max(1, S // 4) per spatial axis (a square for square images),
            its centre uniform over the sample, clipped at the border

Lifecycle: each candidate owns one `Augmenter` (`augmenter(names, seed)`), whose generator is
seeded from the candidate's trial seed (`augment_seed`: separate from the batch-order
permutation's generator). Every training step draws for its B samples, operation by operation
in the configured order; validation and test batches are never augmented. `augment_stacked`
applies the augmenters of M fused candidates to their (M * B, ...) model-major batch with each
one's own draws, so a candidate sees the same augmented batches fused or alone, on any
device and any worker. A plugin adds an augmentation with
`AUGMENTATIONS.register(name, Augmentation(draw, apply, description))`.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from nasforge.errors import ConfigError, UnknownNameError
from nasforge.registry import Registry

#: (generator, batch size, sample shape (C, *spatial)) -> CPU int64 parameters, one row a sample
Draw = Callable[[torch.Generator, int, tuple[int, ...]], torch.Tensor]
#: (batch (B, C, *spatial), its parameters on the batch's device) -> augmented batch
Apply = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
#: a whole training batch -> the batch augmented (`augment_stacked` bound to its augmenters)
Augment = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True, slots=True)
class Augmentation:
    """One registered augmentation (module docstring): its draw and its device op."""

    draw: Draw
    apply: Apply
    description: str = ""


AUGMENTATIONS: Registry[Augmentation] = Registry("augmentation")


def crop_padding(size: int) -> int:
    return max(1, size // 8)


def cutout_size(size: int) -> int:
    return max(1, size // 4)


def _draw_crop(gen: torch.Generator, n: int, shape: tuple[int, ...]) -> torch.Tensor:
    high = torch.tensor([2 * crop_padding(s) + 1 for s in shape[1:]], dtype=torch.float64)
    return (torch.rand(n, len(shape) - 1, generator=gen, dtype=torch.float64) * high).long()


def _crop(x: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Zero-pad every spatial axis, then take each sample's window at its (B, axes) offsets
    (one gather over the flattened padded sample)."""
    pads = [crop_padding(s) for s in x.shape[2:]]
    padded = F.pad(x, [p for p in reversed(pads) for _ in range(2)])
    flat = torch.zeros((len(x), 1), dtype=torch.long, device=x.device)
    for axis, size in enumerate(x.shape[2:]):
        stride = math.prod(padded.shape[3 + axis:])  # of this axis in a flattened sample
        rows = (offsets[:, axis, None] + torch.arange(size, device=x.device)) * stride
        flat = (flat[:, :, None] + rows[:, None, :]).flatten(1)  # (B, window so far)
    index = flat[:, None, :].expand(len(x), x.shape[1], flat.shape[1])
    return padded.flatten(2).gather(2, index).view(x.shape)


def _draw_flip(gen: torch.Generator, n: int, shape: tuple[int, ...]) -> torch.Tensor:
    return (torch.rand(n, 1, generator=gen, dtype=torch.float64) < 0.5).long()


def _flip(x: torch.Tensor, flips: torch.Tensor) -> torch.Tensor:
    mask = flips.view(len(x), *[1] * (x.ndim - 1)).bool()
    return torch.where(mask, x.flip(-1), x)


def _draw_cutout(gen: torch.Generator, n: int, shape: tuple[int, ...]) -> torch.Tensor:
    sizes = torch.tensor(shape[1:], dtype=torch.float64)
    centres = (torch.rand(n, len(shape) - 1, generator=gen, dtype=torch.float64) * sizes).long()
    halves = torch.tensor([cutout_size(s) // 2 for s in shape[1:]])
    return centres - halves  # the window's first index per axis (may be negative)


def _cutout(x: torch.Tensor, starts: torch.Tensor) -> torch.Tensor:
    inside = torch.ones((len(x), *[1] * (x.ndim - 1)), dtype=torch.bool, device=x.device)
    for axis, size in enumerate(x.shape[2:]):
        view = [len(x)] + [1] * (x.ndim - 1)
        view[axis + 2] = size
        where = torch.arange(size, device=x.device) - starts[:, axis, None]  # (B, size)
        inside = inside & ((where >= 0) & (where < cutout_size(size))).view(view)
    return x.masked_fill(inside, 0.0)


AUGMENTATIONS.register("crop", Augmentation(
    _draw_crop, _crop, "random translation: zero padding of S // 8, cropped back per sample"))
AUGMENTATIONS.register("flip", Augmentation(
    _draw_flip, _flip, "horizontal flip (last axis reversed) with probability 0.5 per sample"))
AUGMENTATIONS.register("cutout", Augmentation(
    _draw_cutout, _cutout, "one window of S // 4 per axis zeroed, at a random centre"))


def augment_seed(seed: int) -> int:
    """The augmentation stream's seed for a candidate's trial seed (independent of it)."""
    digest = hashlib.sha256(f"augment:{int(seed)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & (2**63 - 1)


class Augmenter:
    """One candidate's augmentation stream: `names` resolved once, a generator seeded with
    `augment_seed(seed)`. Calling it augments a (B, C, *spatial) training batch."""

    def __init__(self, names: Sequence[str], seed: int) -> None:
        self.names = tuple(names)
        self.steps = tuple(AUGMENTATIONS.get(name) for name in self.names)
        self.generator = torch.Generator().manual_seed(augment_seed(seed))

    def draw(self, n: int, sample_shape: tuple[int, ...]) -> list[torch.Tensor]:
        """The parameters of every step for `n` samples (CPU), in order."""
        return [step.draw(self.generator, n, sample_shape) for step in self.steps]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return augment_stacked([self], x)


def augment_stacked(augmenters: Sequence[Augmenter], x: torch.Tensor) -> torch.Tensor:
    """Augment (M * B, C, *spatial) model-major rows: rows m*B..(m+1)*B with augmenter m's own
    draws (all augmenters list the same names). One device op per augmentation for all M."""
    per = len(x) // len(augmenters)
    shape = tuple(int(d) for d in x.shape[1:])
    drawn = [a.draw(per, shape) for a in augmenters]
    for k, step in enumerate(augmenters[0].steps):
        params = torch.cat([d[k] for d in drawn]) if len(drawn) > 1 else drawn[0][k]
        x = step.apply(x, params.to(x.device, non_blocking=True))
    return x


class AugmentedInput(nn.Module):
    """`net` fed augmented batches: what `train_candidate`'s training steps call (evaluation
    calls `net` itself)."""

    def __init__(self, net: nn.Module, augmenter: Augmenter) -> None:
        super().__init__()
        self.net = net
        self.augmenter = augmenter

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.augmenter(x))


def data_augment(data: object) -> tuple[str, ...]:
    """The augmentations a training-data object carries (`DeviceData.augment`; () if none)."""
    return tuple(getattr(data, "augment", ()))


def augmenters_for(data: object, seeds: Sequence[int]) -> list[Augmenter] | None:
    """One `Augmenter` per seed for the augmentations `data` carries; None without any."""
    names = data_augment(data)
    return [Augmenter(names, seed) for seed in seeds] if names else None


def check_augment(names: Sequence[str], input_shape: tuple[int, ...]) -> None:
    """ConfigError for an unknown name (with the nearest names) or data that is not (C, L)
    sequences or (C, H, W) images (tabular features have no axis to crop, flip or cut)."""
    for name in names:
        try:
            AUGMENTATIONS.get(name)
        except UnknownNameError as err:
            raise ConfigError(f"[data] augment: {err}") from None
    if names and len(input_shape) not in (2, 3):
        raise ConfigError(
            f"[data] augment = {list(names)!r} needs images (C, H, W) or sequences (C, L), but "
            f"the samples have shape {input_shape}; remove augment for tabular data (or set "
            f"input_shape, e.g. [1, {input_shape[0] if input_shape else 'L'}], for a signal).")
