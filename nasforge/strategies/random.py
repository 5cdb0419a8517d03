"""Random search: uniform samples of the space from a seeded generator."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nasforge.objectives import Objective
from nasforge.records import TrialRecord
from nasforge.searchspace.architecture import Architecture
from nasforge.searchspace.space import SearchSpace


class RandomSearch:
    """Samples the space uniformly (per parameter, conditions respected).

    Stateless apart from its generator, so replaying history needs nothing; deduplication
    comes from the `Deduplicated` wrapper. Rebuilt with the same seed, it proposes the same
    sequence, which makes a resumed search reproduce an uninterrupted one.
    """

    def __init__(self, space: SearchSpace, objectives: Sequence[Objective] = (), seed: int = 0
                 ) -> None:
        self.space = space
        self.objectives = tuple(objectives)
        self.rng = np.random.default_rng(seed)

    def ask(self, n: int) -> list[Architecture]:
        return [self.space.sample(self.rng) for _ in range(n)]

    def tell(self, records: Sequence[TrialRecord]) -> None:
        return None
