"""Dropout in a stacked model, with each model's masks from its own random stream.

`train_candidate` trains a candidate inside `seeded(seed)`, so its dropout masks come from the
global generator (CUDA's on a GPU) seeded with the candidate's seed, in the order of its
dropout calls. `ModelStreams` keeps one such generator state per stacked model and, for each
dropout layer, swaps each model's state in, applies `F.dropout` to that model's slice and
saves the state back: every model draws exactly the masks it would draw alone, on CPU and
CUDA. The global generator is restored after each layer.

On CPU, flat features ("models" layout) take a faster path with the same masks: F.dropout's
CPU kernel is ``x * empty_like(x).bernoulli_(1 - p).div_(1 - p)`` on the global generator;
each model draws that noise from its own `torch.Generator` (the same MT19937 stream as the
global one seeded alike, no state swapping), and one multiply applies every model's mask.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


class ModelStreams:
    """Per-model states of the generator that dropout draws from on `device`."""

    def __init__(self, seeds: Sequence[int], device: torch.device) -> None:
        self.device = device
        self.generators: list[torch.Generator] = []
        if device.type == "cpu":
            self.generators = [torch.Generator().manual_seed(seed) for seed in seeds]
        saved = self._get()
        self.states = []
        for seed in seeds:
            if device.type == "cuda":
                with torch.cuda.device(device):
                    torch.cuda.manual_seed(seed)
            else:
                torch.random.default_generator.manual_seed(seed)
            self.states.append(self._get())
        self._set(saved)

    def keep(self, kept: Sequence[int]) -> None:
        self.states = [self.states[k] for k in kept]
        self.generators = [self.generators[k] for k in kept] if self.generators else []

    def masks(self, shape: torch.Size, rates: Sequence[float],
              shapes: Sequence[tuple[int, ...]] | None) -> torch.Tensor:
        """(M, B, *padded) multipliers: model m's dropout noise divided by its keep rate on
        its real units (`shapes[m]`), 1 for models at rate 0 (CPU only). A dropping model's
        padded units get 1 / keep rate: they are zero, or meet only zero weights whose
        gradients the stack masks."""
        mask = torch.ones(shape)
        for slot, p in enumerate(rates):
            if p <= 0:
                continue
            real = tuple(shapes[slot]) if shapes is not None else tuple(shape[2:])
            corner = mask[slot]
            for dim, size in enumerate(real, start=1):  # narrow: cheaper than slice indexing
                corner = corner.narrow(dim, 0, size)
            # drawn in place: a strided view draws what a fresh tensor of its shape would
            corner.bernoulli_(1 - p, generator=self.generators[slot])
        # one division for every model (F.dropout's noise.div_(1 - p), in float32 alike);
        # rate 0 divides by 1
        keep = torch.tensor([1 - p if p > 0 else 1.0 for p in rates], dtype=mask.dtype)
        return mask.div_(keep.view(-1, *([1] * (mask.dim() - 1))))

    def dropout(self, slices: Sequence[torch.Tensor], rates: Sequence[float]
                ) -> list[torch.Tensor]:
        """F.dropout(slice m, rates[m]) for each model m, with model m's stream; a model at
        rate 0 draws nothing (as a model without that dropout layer)."""
        saved = self._get()
        out = []
        try:
            for slot, (part, p) in enumerate(zip(slices, rates, strict=True)):
                if p <= 0:
                    out.append(part)
                    continue
                self._set(self.states[slot])
                out.append(F.dropout(part, p, True))
                self.states[slot] = self._get()
        finally:
            self._set(saved)
        return out

    def _get(self) -> torch.Tensor:
        if self.device.type == "cuda":
            with torch.cuda.device(self.device):
                return torch.cuda.get_rng_state()
        return torch.random.get_rng_state()

    def _set(self, state: torch.Tensor) -> None:
        if self.device.type == "cuda":
            with torch.cuda.device(self.device):
                torch.cuda.set_rng_state(state)
        else:
            torch.random.set_rng_state(state)


def stacked_dropout(x: torch.Tensor, layout: str, m: int, p: float | Sequence[float],
                    streams: ModelStreams, shapes: Sequence[tuple[int, ...]] | None = None
                    ) -> torch.Tensor:
    """Dropout of a stacked activation, model by model (layout as in `layers`); `p` one rate
    or one per model.
    `shapes`: each model's own (unpadded) shape here; a padded model's mask covers only its
    real units, as its mask alone would (its padded units are zero either way)."""
    rates = [float(p)] * m if isinstance(p, int | float) else list(p)
    if layout == "models" and streams.generators:
        return x * streams.masks(x.shape, rates, shapes)
    if layout == "models":
        parts = list(x.unbind(0))  # (B, *padded)
    else:
        parts = list(x.view(x.shape[0], m, -1, *x.shape[2:]).unbind(1))  # (B, C, *spatial)
    padded = tuple(parts[0].shape[1:])
    real: list[torch.Tensor] = []
    if shapes is not None:
        real = [part[(slice(None), *(slice(0, d) for d in shape))]
                for part, shape in zip(parts, shapes, strict=True)]
    dropped = streams.dropout(real or parts, rates)
    if shapes is not None:
        dropped = [_pad_to(part, padded) for part in dropped]
    return torch.stack(dropped, 0 if layout == "models" else 1).view(x.shape)


def _pad_to(x: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """Zero-pad (B, *s) at the end of each dimension of s up to `shape`."""
    if tuple(x.shape[1:]) == shape:
        return x
    widths: list[int] = []
    for have, want in zip(reversed(x.shape[1:]), reversed(shape), strict=True):
        widths += [0, want - have]
    return F.pad(x, widths)
