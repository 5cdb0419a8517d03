"""The supernet strategy: options, and the inner ask/tell strategy it runs (torch-free).

A supernet search cannot run in the plain loop (ask -> train each candidate): it trains one
weight-sharing supernet first, evaluates thousands of subnets on inherited weights, then
retrains a few standalone. `nasforge.search.Search` therefore hands a search whose strategy
is "supernet" to `nasforge.supernet.search.SupernetSearch` (the only torch-heavy part). What
lives here is what a strategy owns: the validated options and the inner strategy
(evolution, random or nsga2) that proposes subnets. `tell` passes the inner strategy the
inherited-weight results under plain metric names (``inherited_accuracy`` -> ``accuracy``)
and keeps standalone retrainings away from it, so its population is the supernet's view.

Options (``[search] strategy_options``): ``inner`` ("evolution", "random" or "nsga2"),
``inner_options`` (a table for the inner strategy), ``subnets`` (inherited evaluations,
default the search budget), ``retrain_top_k`` (the Pareto set of the inherited results,
best first, cut to k, is retrained standalone; default 5), ``ranking_sample`` (>= 20 random
subnets also retrained, for the rank correlation; default 20), ``supernet_epochs``,
``supernet_batch_size``, ``supernet_lr``, ``supernet_weight_decay``, ``random_subnets``
(per sandwich step), ``recalibration_batches`` (BN recalibration per subnet),
``progressive`` (Once-for-All progressive shrinking: largest subnet, then elastic kernel,
depth, expansion; default false), ``progressive_fractions`` (each phase's share of the
training steps, default a quarter each) and ``sort_channels`` (re-sort expanded channels by
importance; default true). See `nasforge.supernet.progressive`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from nasforge.errors import ConfigError
from nasforge.objectives import Objective
from nasforge.records import TrialRecord
from nasforge.searchspace.architecture import Architecture
from nasforge.searchspace.space import SearchSpace
from nasforge.strategies.base import Strategy

INNER_STRATEGIES = ("evolution", "random", "nsga2")
SUPPORTED_FAMILIES = ("mlp", "cnn", "mbconv")
#: Prefix of metrics measured with inherited (supernet) weights.
INHERITED = "inherited_"
#: Objectives a supernet search can rank subnets by.
OBJECTIVE_METRICS = ("accuracy", "loss", "params", "macs", "bops", "size_bits")
MIN_RANKING_SAMPLE = 20


@dataclass(frozen=True, slots=True)
class SupernetOptions:
    inner: str = "evolution"
    inner_options: Mapping[str, object] = field(default_factory=dict)
    subnets: int | None = None
    retrain_top_k: int = 5
    ranking_sample: int = MIN_RANKING_SAMPLE
    supernet_epochs: int = 20
    supernet_batch_size: int = 64
    supernet_lr: float = 3e-3
    supernet_weight_decay: float = 1e-4
    random_subnets: int = 2
    recalibration_batches: int = 4
    progressive: bool = False
    progressive_fractions: tuple[float, ...] = (0.25, 0.25, 0.25, 0.25)
    sort_channels: bool = True

    def __post_init__(self) -> None:
        from nasforge.supernet.progressive import check_fractions  # torch-free

        for flag in ("progressive", "sort_channels"):
            if not isinstance(getattr(self, flag), bool):
                raise ConfigError(f"[search] strategy_options {flag} = "
                                  f"{getattr(self, flag)!r}: use true or false.")
        object.__setattr__(self, "progressive_fractions",
                           check_fractions(self.progressive_fractions))
        if self.inner not in INNER_STRATEGIES:
            raise ConfigError(f"[search] strategy_options inner = {self.inner!r}: the supernet "
                              f"runs one of {', '.join(INNER_STRATEGIES)}.")
        if not isinstance(self.inner_options, Mapping):
            raise ConfigError("[search] strategy_options inner_options must be a table.")
        object.__setattr__(self, "inner_options", MappingProxyType(dict(self.inner_options)))
        for name, low in (("subnets", 1), ("retrain_top_k", 0),
                          ("ranking_sample", MIN_RANKING_SAMPLE), ("recalibration_batches", 1)):
            value = getattr(self, name)
            if name == "subnets" and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"[search] strategy_options {name} = {value!r}: use a whole "
                                  f"number >= {low}" + (" (a rank correlation on fewer "
                                  "subnets says little)" if name == "ranking_sample" else "")
                                  + ".")


class SupernetStrategy:
    """Delegates ask to the inner strategy; `tell` feeds it inherited-weight results only,
    renamed to plain metrics. `options`: what the supernet driver reads."""

    def __init__(self, inner: Strategy, options: SupernetOptions) -> None:
        self.inner = inner
        self.options = options

    def ask(self, n: int) -> list[Architecture]:
        return self.inner.ask(n)

    def tell(self, records: Sequence[TrialRecord]) -> None:
        told = [plain_metrics(r) for r in records
                if not r.state.is_finished or is_inherited(r)]
        if told:
            self.inner.tell(told)


def is_inherited(record: TrialRecord) -> bool:
    """Whether a trial's metrics come from supernet weights (its worker says so, and so do
    its ``inherited_`` metrics)."""
    return (record.worker or "").startswith("supernet:") or any(
        k.startswith(INHERITED) for k in record.metrics)


def plain_metrics(record: TrialRecord) -> TrialRecord:
    """The record with ``inherited_x`` renamed ``x`` (for objectives over plain names)."""
    metrics = {k.removeprefix(INHERITED): v for k, v in record.metrics.items()}
    return replace(record, metrics=metrics)


def supernet_strategy(space: SearchSpace, objectives: Sequence[Objective], seed: int = 0,
                      **options: object) -> SupernetStrategy:
    if "family" not in space:
        raise ConfigError("The supernet strategy shares weights over network families; its "
                          "space needs [space] families (mlp, cnn or mbconv). Use another strategy "
                          "for a space of plain parameters.")
    families = list(space.params["family"].values())
    for family in families:
        if family not in SUPPORTED_FAMILIES:
            raise ConfigError(
                f"The supernet strategy does not support the {family!r} family yet (it shares "
                f"weights over {', '.join(SUPPORTED_FAMILIES)}); remove {family!r} from "
                "[space] families or use another strategy (evolution, random, ...).")
    for objective in objectives:
        if objective.metric not in OBJECTIVE_METRICS:
            raise ConfigError(
                f"Objective {objective} cannot be measured on inherited weights; the supernet "
                f"strategy ranks by {', '.join(OBJECTIVE_METRICS)}.")
    try:
        parsed = SupernetOptions(**options)  # type: ignore[arg-type]  # __post_init__ checks
    except TypeError as err:
        known = ", ".join(SupernetOptions.__dataclass_fields__)
        raise ConfigError(f"[search] strategy_options for 'supernet': {err}; the options are "
                          f"{known}.") from None
    from nasforge.strategies import STRATEGIES

    factory = STRATEGIES.get(parsed.inner)
    try:
        inner = factory(space, tuple(objectives), seed, **dict(parsed.inner_options))
    except TypeError as err:
        raise ConfigError(f"[search] strategy_options inner_options for {parsed.inner!r}: "
                          f"{err}.") from None
    return SupernetStrategy(inner, parsed)
