"""A plain parameter space from ``[space.params]`` and ``[space.conditions]``.

For searches whose evaluator is not a network family (a user's own evaluator): no
``family``, no layers, only the parameters written. Each entry of ``[space.params]`` is
spelled as in the rest of ``[space]``: a value is a constant, a list a choice,
``{low, high, log?, step?, type?}`` a range (int when both bounds are whole numbers).
``[space.conditions]`` maps a parameter to ``{parent = [values]}``: it exists only when every
named parent takes one of its values, e.g. ``momentum = { opt = ["sgd"] }``.
"""

from __future__ import annotations

from collections.abc import Mapping

from nasforge.errors import SpaceError, did_you_mean
from nasforge.searchspace.params import param_from_spec
from nasforge.searchspace.space import SearchSpace, When

PLAIN_KEYS = ("params", "conditions")


def plain_space(section: Mapping[str, object]) -> SearchSpace:
    """The space of a ``[space]`` section that holds ``params`` (and maybe ``conditions``)
    and nothing else: families and plain parameters do not mix."""
    others = [k for k in section if k not in PLAIN_KEYS]
    if others:
        raise SpaceError(
            f"[space] {others[0]} cannot be used with [space.params]: a plain parameter space "
            "is for your own evaluator and holds no families or layer choices; move "
            f"{others[0]!r} into [space.params], or drop [space.params] to search networks.")
    params = section.get("params")
    if params is None:
        raise SpaceError("[space.conditions] needs [space.params]: name the parameters first, "
                         'e.g. [space.params] opt = ["adam", "sgd"].')
    if not isinstance(params, Mapping) or not params:
        raise SpaceError('[space.params] is empty; add parameters, e.g. opt = ["adam", "sgd"] '
                         "or lr = { low = 1e-4, high = 1e-1, log = true }.")
    built = {name: param_from_spec(spec, name) for name, spec in params.items()}
    conditions = section.get("conditions", {})
    if not isinstance(conditions, Mapping):
        raise SpaceError(f"[space.conditions] = {conditions!r}; use a table, e.g. "
                         'momentum = { opt = ["sgd"] }.')
    clauses: dict[str, tuple[When, ...]] = {}
    for name, spec in conditions.items():
        if name not in built:
            raise SpaceError(f"[space.conditions] names {name!r}, which is not in "
                             f"[space.params].{did_you_mean(name, built)} Add it there first.")
        if not isinstance(spec, Mapping) or not spec:
            raise SpaceError(f"[space.conditions] {name} = {spec!r}; use a table of parent = "
                             f'[values], e.g. {name} = {{ opt = ["sgd"] }}.')
        whens = []
        for parent, values in spec.items():
            if parent not in built:
                raise SpaceError(
                    f"[space.conditions] {name} depends on {parent!r}, which is not in "
                    f"[space.params].{did_you_mean(parent, built)} Name a parameter there.")
            values = values if isinstance(values, list) else [values]
            whens.append(When(parent, tuple(values)))
        clauses[name] = tuple(whens)
    return SearchSpace(built, clauses)


__all__ = ["PLAIN_KEYS", "plain_space"]
