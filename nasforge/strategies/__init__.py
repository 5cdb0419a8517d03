"""Strategies propose candidates (ask) and learn from results (tell). Torch-free.

Every registered factory is called as ``factory(space, objectives, seed, **options)`` and
returns a `Strategy`; `make_strategy` wraps it in `Deduplicated`, and, with the option
``prefilter = { proxy = ..., pool = ... }`` (taken by `make_strategy`, not the factory), in
`Prefiltered` (for halving: its inner strategy, so promotions are never filtered).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence

from nasforge.errors import ConfigError, did_you_mean
from nasforge.objectives import Objective
from nasforge.registry import Registry
from nasforge.searchspace.space import SearchSpace
from nasforge.strategies.base import Strategy
from nasforge.strategies.dedupe import Deduplicated
from nasforge.strategies.drivers import Driver
from nasforge.strategies.prefilter import Pool, PoolScorer, Prefiltered, PrefilterOptions
from nasforge.strategies.random import RandomSearch

StrategyFactory = Callable[..., Strategy]

STRATEGIES: Registry[StrategyFactory] = Registry("strategy")
#: strategies run by their own driver over the public trial loop (`drivers.Driver`)
DRIVERS: Registry[Driver] = Registry("strategy driver")
STRATEGIES.register("random", RandomSearch)
# --- registrations: one block per strategy module, each added by the module's author ---
from nasforge.strategies.halving import SuccessiveHalving, halving_strategy  # noqa: E402
from nasforge.strategies.nni_tuners import nni_strategy  # noqa: E402  (imports NNI lazily)

STRATEGIES.register("halving", halving_strategy)  # ASHA around any strategy, epochs as rungs
STRATEGIES.register("nni", nni_strategy)  # optional extra: pip install 'nasforge[nni]'
from nasforge.strategies import bayesian as _bayesian  # noqa: E402

STRATEGIES.register("bayesian", _bayesian.bayesian)  # Optuna TPE (MOTPE for several objectives)
STRATEGIES.register("tpe", _bayesian.tpe)
STRATEGIES.register("gp", _bayesian.gp)
STRATEGIES.register("cmaes", _bayesian.cmaes)
STRATEGIES.register("nsga2", _bayesian.nsga2)
from nasforge.strategies.evolution import RegularizedEvolution  # noqa: E402

STRATEGIES.register("evolution", RegularizedEvolution)
from nasforge.strategies.supernet import supernet_strategy  # noqa: E402

# weight sharing: `nasforge.supernet.search` drives it (train once, thousands of subnets)
STRATEGIES.register("supernet", supernet_strategy)
DRIVERS.register("supernet", Driver(
    "nasforge.supernet.search:SupernetSearch",
    budget_counts_trials=False,  # the budget counts inherited-weight subnets, not trials
    join_refusal="uses the supernet strategy, which trains one supernet in one process; "
                 "`nasforge worker` cannot join it. Use `nasforge resume` with --workers to "
                 "evaluate on more processes."))


def driver_of(name: str) -> Driver | None:
    """The driver of strategy `name`, or None when `Search`'s own loop runs it."""
    return DRIVERS.get(name) if name in DRIVERS else None


def make_strategy(name: str, space: SearchSpace, objectives: Sequence[Objective], seed: int,
                  options: Mapping[str, object] | None = None, *,
                  scorer: PoolScorer | None = None, pools: Sequence[Pool] = (),
                  keep: Callable[[Pool], None] | None = None) -> Strategy:
    """Build a registered strategy, wrapped so that it never proposes a candidate twice, and
    in the proxy pre-filter when `options` has ``prefilter`` (`scorer`, `pools`, `keep`: see
    `Prefiltered`; without a scorer it is built for validation only)."""
    factory = STRATEGIES.get(name)
    options = dict(options or {})
    prefilter = options.pop("prefilter", None)
    if prefilter is not None:
        if driver_of(name) is not None:
            raise ConfigError(f"[search] strategy_options prefilter: strategy {name!r} runs its "
                              "own search driver and cannot be pre-filtered; remove prefilter.")
        settings = PrefilterOptions.parse(prefilter)

        def wrap(strategy: Strategy) -> Strategy:
            return Prefiltered(strategy, settings, scorer, pools, keep)
    strategy = _build(name, factory, space, objectives, seed, options)
    if prefilter is None:
        return strategy
    if name == "halving":  # ASHA: filter its new rung-0 candidates, never its promotions
        halving = strategy.inner if isinstance(strategy, Deduplicated) else strategy
        if not isinstance(halving, SuccessiveHalving):
            raise TypeError(f"the halving factory built {type(halving).__name__}")
        halving.inner = wrap(halving.inner)
        return strategy
    return wrap(strategy)


def _build(name: str, factory: StrategyFactory, space: SearchSpace,
           objectives: Sequence[Objective], seed: int, options: Mapping[str, object]
           ) -> Deduplicated:
    try:
        inner = factory(space, tuple(objectives), seed, **dict(options))
    except TypeError as err:
        accepted = _option_names(factory)
        unknown = [key for key in (options or {}) if key not in accepted]
        hint = "".join(f" Unknown option {key!r}.{did_you_mean(key, accepted)}" for key in unknown)
        raise ConfigError(f"[search] strategy_options for {name!r} are invalid ({err}).{hint} "
                          f"Its options: {', '.join(accepted) or 'none'}.") from None
    return Deduplicated(inner)


def _option_names(factory: StrategyFactory) -> tuple[str, ...]:
    """The keyword options a strategy factory takes after (space, objectives, seed)."""
    try:
        params = list(inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):
        return ()
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return tuple(p.name for p in params[3:] if p.kind in kinds)


__all__ = ["STRATEGIES", "DRIVERS", "Driver", "driver_of", "Strategy", "Deduplicated",
           "RandomSearch", "make_strategy", "Prefiltered", "PrefilterOptions", "Pool",
           "PoolScorer"]
