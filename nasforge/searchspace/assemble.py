"""Assemble a SearchSpace from its TOML description.

``[space]`` holds the families, the layer choices shared by every family (activation, norm,
dropout) and the training hyper-parameters (lr, weight_decay, batch_size, epochs, optimizer,
schedule): AutoML, not only NAS. ``[space.<family>]`` tables hold family parameters, which
the space names ``<family>.<key>`` and makes conditional on ``family == <family>``.
A plain value is a constant, a list a choice, ``{low, high, log}`` a range.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from nasforge.errors import SpaceError, did_you_mean
from nasforge.searchspace.families import FAMILIES
from nasforge.searchspace.params import Param, param_from_spec
from nasforge.searchspace.plan import DataSpec
from nasforge.searchspace.space import SearchSpace, When

LAYER_DEFAULTS: dict[str, object] = {
    "activation": ["relu", "gelu", "silu"],
    "norm": ["none", "batch"],
    "dropout": 0.0,
}

HYPERPARAM_DEFAULTS: dict[str, object] = {
    "lr": {"low": 1e-3, "high": 1e-2, "log": True},
    "weight_decay": 1e-4,
    "batch_size": 64,
    "epochs": 10,
    "optimizer": "adamw",
    "schedule": "cosine",
}

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("cosine", "constant")
MAX_EPOCHS = 10_000
MAX_BATCH = 1 << 20

SHARED_KEYS = (*LAYER_DEFAULTS, *HYPERPARAM_DEFAULTS)


def assemble_space(families: Sequence[str], shared: Mapping[str, object],
                   family_specs: Mapping[str, Mapping[str, object]]) -> SearchSpace:
    """The full space: ``family``, shared layer and training parameters, family parameters."""
    families = list(families)
    if not families:
        raise SpaceError('[space] families is empty; list at least one, e.g. families = ["mlp"].')
    for name in families:
        FAMILIES.get(name)  # unknown family -> error with the nearest names
    if len(set(families)) != len(families):
        raise SpaceError(f"[space] families {families} lists a family twice.")
    for name in family_specs:
        if name not in families:
            raise SpaceError(
                f"[space.{name}] is given but {name!r} is not in [space] families {families}; "
                f"add it to families or remove the table."
            )
    for key in shared:
        if key not in SHARED_KEYS:
            raise SpaceError(
                f"[space] has an unknown key {key!r}.{did_you_mean(key, SHARED_KEYS, 2)} "
                "Allowed keys: families, "
                f"{', '.join(SHARED_KEYS)}, and one [space.<family>] table per family."
            )

    params: dict[str, Param] = {"family": param_from_spec(list(families), "family")}
    conditions: dict[str, tuple[When, ...]] = {}
    for key, default in {**LAYER_DEFAULTS, **HYPERPARAM_DEFAULTS}.items():
        params[key] = param_from_spec(shared.get(key, default), key)
    _check_training(params)
    for name in families:
        family_params, family_conditions = FAMILIES.get(name).params(family_specs.get(name, {}))
        in_family = When("family", (name,))
        for key, param in family_params.items():
            params[f"{name}.{key}"] = param
            own = tuple(When(f"{name}.{c.parent}", c.values)
                        for c in family_conditions.get(key, ()))
            conditions[f"{name}.{key}"] = (in_family, *own) if len(families) > 1 else own
    return SearchSpace(params, {k: v for k, v in conditions.items() if v})


def check_space_fits(space: SearchSpace, data: DataSpec) -> None:
    """Refuse families that cannot take this data (before anything is trained or stored)."""
    for family in space.params["family"].values():
        FAMILIES.get(str(family)).check_data(data)


def _check_training(params: Mapping[str, Param]) -> None:
    def values(key: str) -> list[object]:
        param = params[key]
        if param.size is None:
            return [param.low, param.high]  # type: ignore[attr-defined]
        return list(param.values())

    for key, allowed in (("optimizer", OPTIMIZERS), ("schedule", SCHEDULES)):
        bad = [v for v in values(key) if v not in allowed]
        if bad:
            raise SpaceError(f"{key} {bad} is not supported; use one of {', '.join(allowed)}.")
    for key, maximum in (("epochs", MAX_EPOCHS), ("batch_size", MAX_BATCH)):
        if params[key].size is None or any(
            not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= maximum
            for v in values(key)
        ):
            raise SpaceError(f"{key} must be whole numbers from 1 to {maximum}, got {values(key)}.")
    numeric = {"lr": (0.0, 10.0, False), "weight_decay": (0.0, 1.0, True),
               "dropout": (0.0, 0.99, True)}
    for key, (low, high, low_ok) in numeric.items():
        for v in values(key):
            ok = isinstance(v, (int, float)) and not isinstance(v, bool) and v <= high and (
                v >= low if low_ok else v > low)
            if not ok:
                bound = ">=" if low_ok else ">"
                raise SpaceError(f"{key} = {v!r} is out of range: use numbers {bound} {low} "
                                 f"and <= {high}.")
