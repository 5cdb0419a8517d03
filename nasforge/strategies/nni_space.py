"""Translation between a `SearchSpace` and NNI's search-space JSON (no NNI import needed).

NNI's HPO tuners take a search space such as::

    {"lr": {"_type": "loguniform", "_value": [1e-4, 0.1]},
     "family": {"_type": "choice", "_value": [
         {"_name": "mlp", "mlp.depth": {"_type": "quniform", "_value": [1, 3, 1]}},
         {"_name": "cnn", "cnn.kernel": {"_type": "choice", "_value": [3, 5]}}]}}

and propose parameters in the same shape (``{"lr": 0.01, "family": {"_name": "mlp",
"mlp.depth": 2.0}}``). Mapping: a Choice is a ``choice``; an IntRange a ``quniform`` on its
grid (``qloguniform`` when log; a ``choice`` of its values when the grid does not start at a
multiple of its step); a FloatRange a ``uniform`` or ``loguniform``. A parameter that others
depend on becomes a *nested* choice: each of its options carries the parameters that exist
under it. Parameters with a single value and no dependents are left out of NNI's space and
filled in on the way back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nasforge.errors import ConfigError, SpaceError
from nasforge.searchspace.architecture import Architecture, Scalar
from nasforge.searchspace.params import Choice, FloatRange, IntRange, Param, option_key
from nasforge.searchspace.space import SearchSpace

NniSpace = dict[str, dict[str, Any]]


def _dependents(space: SearchSpace) -> dict[str, list[str]]:
    """parent -> the parameters with a condition on it, in the space's order."""
    children: dict[str, list[str]] = {name: [] for name in space.params}
    for name in space.params:
        for clause in space.conditions.get(name, ()):
            if name not in children[clause.parent]:
                children[clause.parent].append(name)
    return children


def _is_fixed(space: SearchSpace, name: str, children: Mapping[str, list[str]]) -> bool:
    return space.params[name].size == 1 and not children[name]


def _leaf(param: Param, name: str) -> dict[str, Any]:
    if isinstance(param, Choice):
        return {"_type": "choice", "_value": list(param.options)}
    if isinstance(param, IntRange):
        if param.log:
            return {"_type": "qloguniform", "_value": [param.low, param.high, 1]}
        if param.low % param.step == 0:
            return {"_type": "quniform", "_value": [param.low, param.high, param.step]}
        return {"_type": "choice", "_value": list(param.values())}
    if isinstance(param, FloatRange):
        kind = "loguniform" if param.log else "uniform"
        return {"_type": kind, "_value": [param.low, param.high]}
    raise ConfigError(f"Parameter {name!r} is a {type(param).__name__}, which the nni strategy "
                      "cannot translate; use a Choice, IntRange or FloatRange.")


def nni_search_space(space: SearchSpace, max_nesting: int | None = None,
                     tuner: str = "this tuner") -> NniSpace:
    """NNI's search-space JSON for `space`.

    `max_nesting` is how deep nested choices may go (1: only top-level choices carry
    parameters; None: any depth). A conditional space the tuner cannot express raises
    ConfigError naming the parameter and what to do instead.
    """
    children = _dependents(space)

    def level(names: list[str], assigned: dict[str, Scalar], depth: int) -> NniSpace:
        out: NniSpace = {}
        for name in names:
            param = space.params[name]
            placed.add(name)
            if not children[name]:
                out[name] = _leaf(param, name)
                continue
            if param.size is None:
                raise ConfigError(
                    f"Parameters depend on {name!r}, a continuous range; NNI nests parameters "
                    "under choices only. Make it a choice or an integer range.")
            if max_nesting is not None and depth >= max_nesting:
                raise ConfigError(
                    f"Parameter {name!r} is conditional and has conditional parameters of its "
                    f"own ({', '.join(children[name])}); NNI's {tuner} handles only "
                    f"{max_nesting} level(s) of nested choices. Use tuner = \"Evolution\", or "
                    "another strategy (bayesian, evolution).")
            options = []
            for value in param.values():
                inner = {**assigned, name: value}
                kids = [c for c in children[name] if not _is_fixed(space, c, children) and all(
                    clause.parent in inner and clause.holds(inner)
                    for clause in space.conditions[c])]
                options.append({"_name": value, **level(kids, inner, depth + 1)})
            out[name] = {"_type": "choice", "_value": options}
        return out

    placed: set[str] = set()
    top = [n for n in space.params
           if n not in space.conditions and not _is_fixed(space, n, children)]
    result = level(top, {}, 0)
    lost = [n for n in space.params if n not in placed and not _is_fixed(space, n, children)]
    if lost:
        name = lost[0]
        parents = [c.parent for c in space.conditions.get(name, ())]
        raise ConfigError(
            f"Parameter {name!r} exists only under conditions on {', '.join(parents)}, which "
            "NNI's nested choices cannot express together (a parameter nests under one "
            "choice). Use another strategy (bayesian, evolution) for this space.")
    return result


def _flatten(params: Mapping[str, Any], into: dict[str, Any]) -> dict[str, Any]:
    for key, value in params.items():
        if key == "_name":
            continue
        if isinstance(value, Mapping):
            into[key] = value["_name"]
            _flatten(value, into)
        else:
            into[key] = value
    return into


def _coerce(param: Param, value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    if isinstance(param, IntRange) and isinstance(value, (int, float)):
        return int(round(value))
    if isinstance(param, FloatRange) and isinstance(value, (int, float)):
        return min(max(float(value), param.low), param.high)  # exp(log(high)) may overshoot
    return value


def arch_from_nni(params: Mapping[str, Any], space: SearchSpace) -> Architecture:
    """The Architecture that NNI's `params` describe (validated; fixed values filled in)."""
    flat = _flatten(params, {})
    assigned: dict[str, Scalar] = {}
    for name, param in space.params.items():
        if not space.is_active(name, assigned):
            continue
        if name in flat:
            assigned[name] = param.validate(_coerce(param, flat[name]), name)
        elif param.size == 1:
            assigned[name] = next(iter(param.values()))
        else:
            raise SpaceError(f"NNI proposed no value for parameter {name!r} (got {dict(params)}).")
    return space.validate(assigned)


def nni_params(arch: Architecture, search_space: NniSpace) -> dict[str, Any]:
    """NNI's parameters for `arch` (the inverse of `arch_from_nni`), e.g. to import a trial
    that the tuner did not generate."""
    out: dict[str, Any] = {}
    for name, spec in search_space.items():
        value = arch[name]
        options = spec["_value"]
        if spec["_type"] == "choice" and options and isinstance(options[0], Mapping):
            option = next(o for o in options if option_key(o["_name"]) == option_key(value))
            nested = {k: v for k, v in option.items() if k != "_name"}
            out[name] = {"_name": option["_name"], **nni_params(arch, nested)}
        elif spec["_type"] == "choice":
            out[name] = next(o for o in options if option_key(o) == option_key(value))
        else:
            out[name] = float(value)  # q(log)uniform and (log)uniform values are floats in NNI
    return out
