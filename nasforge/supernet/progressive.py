"""Progressive shrinking (Once-for-All), an option of supernet training: the subnets of each
step come from a space that opens one elastic dimension after another.

Phases, by fraction of the training steps (`fractions`, default a quarter each):

1. ``largest``: the largest subnet alone, trained on the labels;
2. ``kernel``: elastic kernel sizes (and the input resolution, elastic from here on);
3. ``depth``: elastic depth too (``depth``, ``stages``, ``convs_per_stage``);
4. ``expand``: every size dimension (expansion ratios, widths, SE, bit widths, ...).

From phase 2 on each step is a sandwich over the opened dimensions: the largest subnet, the
smallest one with the open dimensions at their minimum and the others at their maximum, and
`n_random` subnets with the open dimensions sampled (non-size choices, like the activation,
are always sampled). The learning rate restarts its cosine in each phase (as OFA: otherwise the
last phases, where most subnets first train, would get only the tail of the schedule).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from nasforge.errors import ConfigError
from nasforge.searchspace.architecture import Architecture
from nasforge.searchspace.space import SearchSpace
from nasforge.supernet.slots import constrained, extreme, size_key

#: (phase, the size keys it opens; None: all of them), in order.
PHASES: tuple[tuple[str, tuple[str, ...] | None], ...] = (
    ("largest", ()), ("kernel", ("kernel", "resolution")),
    ("depth", ("kernel", "resolution", "depth", "stages", "convs_per_stage")),
    ("expand", None))
DEFAULT_FRACTIONS = (0.25, 0.25, 0.25, 0.25)


def check_fractions(fractions: object) -> tuple[float, ...]:
    """The phase fractions as floats; ConfigError unless 4 numbers >= 0 that sum to 1."""
    numbers = [f for f in fractions if isinstance(f, (int, float)) and not isinstance(f, bool)
               ] if isinstance(fractions, (list, tuple)) else []
    ok = (isinstance(fractions, (list, tuple)) and len(numbers) == len(fractions) == len(PHASES)
          and all(f >= 0 and math.isfinite(f) for f in numbers))
    if not ok or abs(sum(numbers) - 1) > 1e-6:
        raise ConfigError(
            f"[search] strategy_options progressive_fractions = {fractions!r}: give "
            f"{len(PHASES)} numbers >= 0 that sum to 1, the share of the training steps of "
            f"each phase ({', '.join(name for name, _ in PHASES)}), e.g. "
            f"{list(DEFAULT_FRACTIONS)}.")
    return tuple(float(f) for f in numbers)


class ProgressiveSchedule:
    """The subnets of step `index` out of `total` steps (see the module docstring)."""

    def __init__(self, space: SearchSpace, n_random: int, seed: int, total: int,
                 fractions: Sequence[float] = DEFAULT_FRACTIONS) -> None:
        self.space, self.n_random, self.total = space, n_random, total
        self.rng = np.random.default_rng(seed)
        shares = check_fractions(fractions)
        self.ends = [round(total * sum(shares[:i + 1])) for i in range(len(shares))]

    def phase(self, index: int) -> str:
        """The name of the phase of step `index`."""
        for (name, _), end in zip(PHASES, self.ends, strict=True):
            if index < end:
                return name
        return PHASES[-1][0]

    def progress(self, index: int) -> float:
        """How far step `index` is into its phase, from 0 to 1."""
        start = 0
        for end in self.ends:
            if index < end:
                return (index - start) / max(1, end - start)
            start = end
        return 1.0

    def step(self, index: int = 0) -> list[Architecture]:
        name = self.phase(index)
        opened = dict(PHASES)[name]
        largest = extreme(self.space, self.rng, True)
        if opened == ():
            return [largest]

        def choose(how: str) -> Callable[[str], str]:
            return lambda param: how if opened is None or size_key(param) in opened else "max"
        return [largest, constrained(self.space, self.rng, choose("min")),
                *(constrained(self.space, self.rng, choose("sample"))
                  for _ in range(self.n_random))]
