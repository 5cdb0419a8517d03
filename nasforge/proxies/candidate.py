"""Zero-cost proxies of one search candidate, and the checks a search runs before it starts.

`candidate_proxies` builds the candidate alone exactly as the evaluator does (its plan under
`seeded(candidate_seed)`), so its scores do not depend on whether it is then trained alone, in
a fused stack or not at all (the pre-filter), and the model that is trained is never touched.
`check_proxies` refuses an unknown proxy (with the nearest names) and a proxy that cannot score
some family of the space (ConfigError naming both), before anything is written.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import torch

from nasforge.errors import ConfigError
from nasforge.evaluator.seeding import seeded
from nasforge.metrics import ZERO_COST_SECONDS
from nasforge.proxies.spec import PROXIES, inapplicable, metric_name, proxy_batch, score
from nasforge.searchspace.build import build_from_plan
from nasforge.searchspace.plan import DataSpec, NetworkPlan
from nasforge.searchspace.space import SearchSpace

#: The metric holding the seconds spent on a candidate's proxies (all of them, build included).
SECONDS = ZERO_COST_SECONDS
#: Architectures sampled to find one of every family of the space (`check_proxies`).
_SAMPLES = 400


def candidate_proxies(plan: NetworkPlan, seed: int, x: torch.Tensor, y: torch.Tensor,
                      task: str, names: Sequence[str]) -> dict[str, float]:
    """``zc_<name>`` for each proxy in `names` (and `SECONDS`) of the candidate with `plan`
    and trial seed `seed`, on a mini-batch of (x, y) drawn with that seed."""
    if not names:
        return {}
    start = time.perf_counter()
    with seeded(seed, x.device):
        model = build_from_plan(plan).to(x.device)
    batch = proxy_batch(x, y, task, seed)
    scores = {metric_name(name): score(name, model, batch, seed) for name in names}
    scores[SECONDS] = time.perf_counter() - start
    return scores


def proxy_metric_names(names: Sequence[str]) -> tuple[str, ...]:
    """The metrics a candidate reports for these proxies (objectives may name them)."""
    return (*(metric_name(name) for name in names), SECONDS) if names else ()


def check_names(names: Sequence[str], where: str) -> None:
    """ConfigError naming `where` for a proxy that is not registered (with the nearest)."""
    for name in names:
        if name not in PROXIES:
            raise ConfigError(f"{where}: {PROXIES.unknown_message(name)}")


def check_proxies(names: Sequence[str], space: SearchSpace, spec: DataSpec, *, where: str,
                  seed: int = 0) -> None:
    """Unknown proxies, and proxies that cannot score a network of some family of `space`
    on data `spec` (a `DataSpec`), raise ConfigError naming the proxy and the family."""
    from nasforge.searchspace.families import plan_for

    check_names(names, where)
    if not names:
        return
    rng = np.random.default_rng(seed)
    seen: set[object] = set()
    for _ in range(_SAMPLES):
        arch = space.sample(rng)
        family = arch.get("family", "mlp")
        if family in seen:
            continue
        seen.add(family)
        with seeded(seed):
            model = build_from_plan(plan_for(arch, spec))
        for name in names:
            reason = inapplicable(name, model)
            if reason is not None:
                raise ConfigError(f"{where}: proxy {name!r} cannot score family {family!r}: "
                                  f"{reason}. Remove {name!r} or the family.")
