"""How raw samples become the float32 tensors a search trains on, as one frozen record.

`evaluator.data` applies it to every split; `nasforge export` writes the same steps into
model.py, so an exported model takes the data as the user has it:

    raw (N, *raw_shape), any numeric dtype
      -> float32, then  x * scale                 (images: a fixed pixel scale)
                  or    (x - mean) / std          (tabular: train-split statistics; the
                                                   difference in float64, as here)
      -> reshape to (N, *input_shape)             (the input_shape option)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nasforge.evaluator.data.base import RawData


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=np.float64)
    a.flags.writeable = False
    return a


@dataclass(frozen=True, slots=True, eq=False)
class Preprocessing:
    """One sample's way from its raw values (`raw_shape`) to the model's input (`input_shape`).

    Exactly one of `scale` (pixel datasets) and `mean` / `std` (tabular data) is set. `mean`
    and `std` are float64 of shape `stats_shape`, which broadcasts against `raw_shape`: one
    value per column of (F,) samples, per channel of (C, ...) samples. `raw_input` says in
    words what the raw values are (units, where the user finds them); `feature_names` names
    the columns of a CSV, in file order.
    """

    raw_shape: tuple[int, ...]
    input_shape: tuple[int, ...]
    scale: float | None = None
    mean: np.ndarray | None = None
    std: np.ndarray | None = None
    raw_input: str = ""
    feature_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if (self.scale is None) == (self.mean is None or self.std is None):
            raise ValueError("Preprocessing needs a scale or both mean and std.")
        if self.mean is not None and self.std is not None:
            object.__setattr__(self, "mean", _readonly(self.mean))
            object.__setattr__(self, "std", _readonly(self.std))

    @property
    def stats_shape(self) -> tuple[int, ...]:
        return () if self.mean is None else tuple(self.mean.shape)

    @classmethod
    def fit(cls, raw: RawData, x_train: np.ndarray, input_shape: tuple[int, ...]
            ) -> Preprocessing:
        """The pixel scale of `raw`, or the statistics of its raw training samples."""
        raw_shape = tuple(int(d) for d in raw.x.shape[1:])
        shape = tuple(input_shape)
        if raw.pixel_scale is not None:
            return cls(raw_shape, shape, scale=float(raw.pixel_scale), raw_input=raw.raw_input,
                       feature_names=raw.feature_names)
        # per column of (N, F) data, per channel of (N, C, ...) data; std 0 -> 1
        axes = (0,) if x_train.ndim == 2 else (0, *range(2, x_train.ndim))
        mean = x_train.mean(axis=axes, keepdims=True, dtype=np.float64)[0]
        std = x_train.std(axis=axes, keepdims=True, dtype=np.float64)[0]
        std[~(std > 1e-12)] = 1.0
        return cls(raw_shape, shape, mean=mean, std=std, raw_input=raw.raw_input,
                   feature_names=raw.feature_names)

    def apply(self, x: np.ndarray) -> np.ndarray:
        """float32 (N, *input_shape) from raw (N, *raw_shape) samples (a new array)."""
        if self.scale is not None:
            out = x.astype(np.float32)  # cast, then scale in place: ~10x faster than multiply
            if self.scale != 1.0:
                out *= np.float32(self.scale)
        else:
            out = ((x - self.mean) / self.std).astype(np.float32)
        return out.reshape(len(out), *self.input_shape)
