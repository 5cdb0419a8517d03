"""SearchSpace: named, typed parameters with conditions.

A condition makes a parameter exist only when another parameter takes some values (for
example ``cnn.kernel`` only when ``family == "cnn"``, ``mlp.width.2`` only when
``mlp.depth >= 3``). Parameters are kept in an order where every parent comes before its
children, so one pass in that order decides which parameters are active.

A space may also have a *canonicaliser*: a function mapping a valid assignment to the
representative of the assignments that build the same network (for a cell: dead edges
removed, isomorphic node orders merged; see `cells.canonical_cell`). Every architecture the
space hands out (`sample`, `mutate`, `crossover`, `decode`, `validate`, `enumerate`) is then
canonical, so `arch_id` identifies the network and deduplication works on networks.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from nasforge.errors import SpaceError, did_you_mean
from nasforge.searchspace.architecture import Architecture, Scalar
from nasforge.searchspace.params import Param, option_key

#: A function from a valid assignment to its canonical form (an assignment of the same space).
Canonicalizer = Callable[[Mapping[str, Scalar]], Mapping[str, Scalar]]
#: A canonicalised space counts its distinct architectures (`size`) by enumerating at most
#: this many raw assignments (~30 us each: a few seconds at the limit, once per space
#: object); above it `size` is None.
COUNT_LIMIT = 200_000
#: How often `mutate` tries again when canonicalisation undoes its change.
MUTATE_TRIES = 24


@dataclass(frozen=True, slots=True)
class When:
    """Condition: the owning parameter exists only when `parent` takes one of `values`."""

    parent: str
    values: tuple[Scalar, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", tuple(self.values))

    def holds(self, assigned: Mapping[str, Scalar]) -> bool:
        if self.parent not in assigned:
            return False
        key = option_key(assigned[self.parent])
        return any(option_key(v) == key for v in self.values)


@dataclass(frozen=True, slots=True)
class SearchSpace:
    """An ordered set of named parameters, some conditional on others.

    `params` maps name -> Param; `conditions` maps a parameter name to the `When` clauses that
    must all hold for it to exist. Construction checks that parents exist and that there are
    no cycles, then orders parameters parents-first. `canonicalize` (optional, pure and
    idempotent) maps every assignment to its canonical form; it takes part in equality (a
    lambda equals only itself; `cells.CellCanonicalizer` compares by value).
    """

    params: Mapping[str, Param]
    conditions: Mapping[str, tuple[When, ...]] = field(default_factory=dict)
    canonicalize: Canonicalizer | None = None
    _distinct: list[int | None] = field(default_factory=list, init=False, repr=False,
                                        compare=False)  # cache of `size`, filled once

    def __post_init__(self) -> None:
        params = dict(self.params)
        if not params:
            raise SpaceError("A search space needs at least one parameter.")
        if self.canonicalize is not None and not callable(self.canonicalize):
            raise SpaceError(f"canonicalize={self.canonicalize!r} is not callable; give a "
                             "function from an assignment to its canonical assignment.")
        conditions = {n: tuple(c) if not isinstance(c, When) else (c,)
                      for n, c in dict(self.conditions).items()}
        for name, clauses in conditions.items():
            if name not in params:
                raise SpaceError(f"Condition given for unknown parameter {name!r}.")
            for clause in clauses:
                if clause.parent not in params:
                    raise SpaceError(
                        f"Parameter {name!r} depends on {clause.parent!r}, which is not in "
                        "the space."
                    )
                parent = params[clause.parent]
                for value in clause.values:
                    if parent.size is not None:
                        parent.validate(value, clause.parent)
        order = _parents_first(params, conditions)
        object.__setattr__(self, "params", MappingProxyType({n: params[n] for n in order}))
        object.__setattr__(self, "conditions", MappingProxyType(conditions))

    # ------------------------------------------------------------------ structure
    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.params)

    def __contains__(self, name: object) -> bool:
        return name in self.params

    def __len__(self) -> int:
        return len(self.params)

    def is_active(self, name: str, assigned: Mapping[str, Scalar]) -> bool:
        return all(c.holds(assigned) for c in self.conditions.get(name, ()))

    @property
    def is_finite(self) -> bool:
        return all(p.size is not None for p in self.params.values())

    @property
    def size(self) -> int | None:
        """Exact number of distinct architectures; None when that is not known.

        Without a canonicaliser this is `raw_size` (None: a parameter is continuous). With one
        it is the number of distinct canonical architectures, counted once by enumeration when
        `raw_size` <= `COUNT_LIMIT`, and None above that. Never an estimate: callers treat an
        int as exact (Bayesian optimisation stops asking once that many architectures are
        known, so an overcount would only waste retries, an undercount would end the search
        early) and None as "unknown, keep asking" (the `Deduplicated` wrapper then notices
        exhaustion by proposals running dry).
        """
        if self.canonicalize is None:
            return self.raw_size
        if not self._distinct:
            raw = self.raw_size
            count = None if raw is None or raw > COUNT_LIMIT else sum(1 for _ in self.enumerate())
            self._distinct.append(count)
        return self._distinct[0]

    @property
    def raw_size(self) -> int | None:
        """Number of valid assignments (before canonicalisation: an upper bound on `size`);
        None when a parameter is continuous.

        Enumerates the assignments of the parameters that others depend on (few: family,
        depth, ...) and multiplies the sizes of the active leaves for each.
        """
        if not self.is_finite:
            return None
        controlling = {c.parent for cs in self.conditions.values() for c in cs}
        total = 0
        for assigned in self._assignments([n for n in self.params if n in controlling]):
            leaves = (
                self.params[n].size for n in self.params
                if n not in controlling and self.is_active(n, assigned)
            )
            total += math.prod(size for size in leaves if size is not None)  # all: is_finite
        return total

    def _assignments(self, names: Sequence[str]) -> Iterator[dict[str, Scalar]]:
        """Every valid assignment of `names` (in parents-first order), inactive ones left out."""

        def walk(i: int, assigned: dict[str, Scalar]) -> Iterator[dict[str, Scalar]]:
            if i == len(names):
                yield dict(assigned)
                return
            name = names[i]
            if not self.is_active(name, assigned):
                yield from walk(i + 1, assigned)
                return
            for value in self.params[name].values():
                assigned[name] = value
                yield from walk(i + 1, assigned)
                del assigned[name]

        return walk(0, {})

    def enumerate(self) -> Iterator[Architecture]:
        """Every architecture of a finite space, in a fixed order; with a canonicaliser each
        distinct canonical architecture once (at its first encoding; remembers those seen)."""
        if not self.is_finite:
            continuous = [n for n, p in self.params.items() if p.size is None]
            raise SpaceError(
                f"Cannot enumerate a space with continuous parameters ({', '.join(continuous)}); "
                "replace them by choices or integer ranges."
            )
        seen: set[str] = set()
        for assigned in self._assignments(list(self.params)):
            arch = self._make(assigned)
            if self.canonicalize is not None:
                if arch.json in seen:
                    continue
                seen.add(arch.json)
            yield arch

    def _make(self, assigned: dict[str, Scalar]) -> Architecture:
        """The architecture of a valid assignment: its canonical form, if the space has a
        canonicaliser (whose result is checked to be an assignment of the space)."""
        if self.canonicalize is None:
            return Architecture(assigned)
        canonical = self.canonicalize(dict(assigned))
        try:
            return Architecture(self._check(canonical))
        except SpaceError as err:
            raise SpaceError(f"The space's canonicalize function turned {assigned} into values "
                             f"outside the space: {err} Fix the function; it must return an "
                             "assignment of this space.") from None

    # ------------------------------------------------------------------ sampling
    def sample(self, rng: np.random.Generator) -> Architecture:
        assigned: dict[str, Scalar] = {}
        for name, param in self.params.items():
            if self.is_active(name, assigned):
                assigned[name] = param.sample(rng)
        return self._make(assigned)

    def sample_distinct(self, n: int, rng: np.random.Generator) -> list[Architecture]:
        """`n` samples with different `arch_id`s, in the order first drawn; SpaceError if the
        space holds fewer than `n` architectures."""
        size = self.size
        if size is not None and n > size:
            raise SpaceError(f"Cannot draw {n} different architectures from a space of {size}; "
                             "ask for at most that many, or widen the space.")
        out: list[Architecture] = []
        seen: set[str] = set()
        while len(out) < n:
            arch = self.sample(rng)
            if arch.arch_id not in seen:
                seen.add(arch.arch_id)
                out.append(arch)
        return out

    def mutate(self, arch: Architecture, rng: np.random.Generator, n: int = 1) -> Architecture:
        """Change `n` randomly chosen active parameters, then repair the conditions.

        Parameters that become active are sampled; those that become inactive are dropped.
        The result differs from `arch` whenever the space has more than one architecture.
        With a canonicaliser the result is canonical and differs from the canonical form of
        `arch` whenever possible: a change that canonicalisation undoes (a dead edge, a
        relabelling) is retried, up to `MUTATE_TRIES` times, one more parameter changed every
        4 tries; only then is the (unchanged) canonical form returned.
        """
        arch = self.validate(arch)
        mutable = [k for k in arch if (self.params[k].size or 2) > 1]
        if not mutable:
            return arch
        result = arch
        for attempt in range(1 if self.canonicalize is None else MUTATE_TRIES):
            k = min(n + attempt // 4, len(mutable))
            chosen = set(rng.choice(len(mutable), size=k, replace=False).tolist())
            changed = {mutable[i]: self.params[mutable[i]].mutate(arch[mutable[i]], rng)
                       for i in sorted(chosen)}
            result = self._repair({**arch, **changed}, rng)
            if result != arch:
                break
        return result

    def crossover(self, a: Architecture, b: Architecture, rng: np.random.Generator) -> Architecture:
        """Uniform crossover: each active parameter comes from either parent at random (then
        canonicalised, if the space has a canonicaliser)."""
        assigned: dict[str, Scalar] = {}
        for name, param in self.params.items():
            if not self.is_active(name, assigned):
                continue
            sources = [p[name] for p in (a, b) if name in p]
            if not sources:
                assigned[name] = param.sample(rng)
            else:
                assigned[name] = sources[int(rng.integers(len(sources)))]
        return self._make(assigned)

    def _repair(self, values: Mapping[str, Scalar], rng: np.random.Generator) -> Architecture:
        assigned: dict[str, Scalar] = {}
        for name, param in self.params.items():
            if self.is_active(name, assigned):
                assigned[name] = values[name] if name in values else param.sample(rng)
        return self._make(assigned)

    # ------------------------------------------------------------------ encoding
    def encode(self, arch: Architecture) -> np.ndarray:
        """Vector of length len(self) in [0, 1]; NaN where a parameter is inactive."""
        self.validate(arch)
        return np.array(
            [p.encode(arch[n]) if n in arch else np.nan for n, p in self.params.items()],
            dtype=np.float64,
        )

    def decode(self, vector: Sequence[float] | np.ndarray) -> Architecture:
        """Inverse of `encode` (on canonical architectures); entries of inactive parameters are
        ignored, and the result is canonicalised."""
        vector = np.asarray(vector, dtype=np.float64)
        if vector.shape != (len(self.params),):
            raise SpaceError(
                f"Cannot decode a vector of shape {vector.shape}: this space has "
                f"{len(self.params)} parameters ({', '.join(self.params)})."
            )
        assigned: dict[str, Scalar] = {}
        for u, (name, param) in zip(vector, self.params.items(), strict=True):
            if self.is_active(name, assigned):
                assigned[name] = param.decode(float(u))
        return self._make(assigned)

    # ------------------------------------------------------------------ validation
    def validate(self, arch: Architecture | Mapping[str, object]) -> Architecture:
        """Return `arch` as an Architecture of this space, or raise SpaceError saying why.

        With a canonicaliser the result is the canonical form (a valid, non-canonical `arch`
        is accepted and canonicalised)."""
        assigned = self._check(arch)
        if self.canonicalize is None and isinstance(arch, Architecture) \
                and assigned == dict(arch):
            return arch
        result = self._make(assigned)
        return arch if isinstance(arch, Architecture) and arch == result else result

    def _check(self, arch: Mapping[str, object]) -> dict[str, Scalar]:
        """The values of `arch` in canonical types, or SpaceError when it is not in the space."""
        values = dict(arch)
        unknown = [k for k in values if k not in self.params]
        if unknown:
            name = unknown[0]
            raise SpaceError(
                f"Parameter {name!r} is not in the search space.{did_you_mean(name, self.params)} "
                f"The space has: {', '.join(self.params)}."
            )
        assigned: dict[str, Scalar] = {}
        for name, param in self.params.items():
            active = self.is_active(name, assigned)
            if active and name not in values:
                raise SpaceError(f"Parameter {name!r} is missing; {self._why_active(name)}")
            if not active and name in values:
                raise SpaceError(
                    f"Parameter {name!r} is set to {values[name]!r} but does not apply here: "
                    f"{self._why_inactive(name, assigned)} Remove it."
                )
            if active:
                assigned[name] = param.validate(values[name], name)
        return assigned

    def _why_active(self, name: str) -> str:
        clauses = self.conditions.get(name, ())
        if not clauses:
            return "it is required in every architecture of this space."
        return "it is required when " + " and ".join(
            f"{c.parent} is one of {list(c.values)}" for c in clauses) + "."

    def _why_inactive(self, name: str, assigned: Mapping[str, Scalar]) -> str:
        failing = [c for c in self.conditions.get(name, ()) if not c.holds(assigned)]
        return " and ".join(
            f"it exists only when {c.parent} is one of {list(c.values)} "
            f"(here {c.parent}={assigned.get(c.parent)!r})" for c in failing) + "."

    def describe(self) -> dict[str, object]:
        """JSON-able description of the space (stored with the search): one entry per
        parameter, plus ``"@canonicalize"`` when the space has a canonicaliser (its own
        ``describe()`` if it has one, else its qualified name)."""
        described: dict[str, object] = {
            name: {
                **param.describe(),
                **({"when": [{"parent": c.parent, "values": list(c.values)}
                             for c in self.conditions[name]]} if name in self.conditions else {}),
            }
            for name, param in self.params.items()
        }
        if self.canonicalize is not None:
            fn = self.canonicalize
            own = getattr(fn, "describe", None)
            described["@canonicalize"] = own() if callable(own) else {
                "function": f"{getattr(fn, '__module__', '?')}."
                            f"{getattr(fn, '__qualname__', type(fn).__qualname__)}"}
        return described


def _parents_first(params: Mapping[str, Param],
                   conditions: Mapping[str, tuple[When, ...]]) -> list[str]:
    """Stable topological order: declaration order, each parameter after its parents."""
    order: list[str] = []
    state: dict[str, int] = {}  # 1 = visiting, 2 = done

    def visit(name: str, path: tuple[str, ...]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = " -> ".join((*path, name))
            raise SpaceError(f"Conditions form a cycle: {cycle}. A parameter cannot depend on "
                             "itself, directly or through others.")
        state[name] = 1
        for clause in conditions.get(name, ()):
            visit(clause.parent, (*path, name))
        state[name] = 2
        order.append(name)

    for name in itertools.chain(params):
        visit(name, ())
    return order
