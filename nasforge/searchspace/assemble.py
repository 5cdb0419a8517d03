"""Assemble a SearchSpace from its TOML description.

``[space]`` holds the families, the layer choices shared by every family (activation, norm,
dropout) and the training hyper-parameters (lr, weight_decay, batch_size, epochs, optimizer,
schedule): AutoML, not only NAS. ``[space.<family>]`` tables hold family parameters, which
the space names ``<family>.<key>`` and makes conditional on ``family == <family>``.
A plain value is a constant, a list a choice, ``{low, high, log}`` a range.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from nasforge.errors import SpaceError, did_you_mean
from nasforge.searchspace.families import FAMILIES, plan_for
from nasforge.searchspace.families.base import Conditions, per_index_params
from nasforge.searchspace.params import FloatRange, Param, param_from_spec
from nasforge.searchspace.plan import DataSpec
from nasforge.searchspace.quantization import BIT_WIDTHS, QUANT_KEYS, QUANT_STEPS, check_bits
from nasforge.searchspace.resolution import RESOLUTION, check_resolution
from nasforge.searchspace.space import SearchSpace, When
from nasforge.searchspace.specs import norm_activations

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

SHARED_KEYS = (*LAYER_DEFAULTS, *HYPERPARAM_DEFAULTS, *QUANT_KEYS, RESOLUTION)
#: Most pixels a resolution may ask for (a larger input cannot be meant).
MAX_RESOLUTION = 4096
#: Architectures planned per family at the smallest resolution (`check_space_fits`).
RESOLUTION_PROBES = 32
#: A family-table key read here rather than by the family (see `_per_layer_bits`).
PER_LAYER_BITS = "per_layer_bits"


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
    # quantization keys join the space only when given, so float spaces keep their arch_ids
    params.update({key: param_from_spec(shared[key], key) for key in QUANT_KEYS
                   if key in shared})
    # likewise resolution: absent, every architecture sees the data at their own size
    if RESOLUTION in shared:
        params[RESOLUTION] = param_from_spec(shared[RESOLUTION], RESOLUTION)
    _check_training(params)
    _check_quantization(params)
    _check_resolution(params)
    conditions.update(_activation_condition(params, explicit="activation" in shared))
    for name in families:
        spec = dict(family_specs.get(name, {}))
        per_layer = spec.pop(PER_LAYER_BITS, False)
        family_params, family_conditions = FAMILIES.get(name).params(spec)
        if per_layer is not False:
            _per_layer_bits(name, per_layer, params, family_params, family_conditions)
        in_family = When("family", (name,))
        for key, param in family_params.items():
            params[f"{name}.{key}"] = param
            own = tuple(When(f"{name}.{c.parent}", c.values)
                        for c in family_conditions.get(key, ()))
            conditions[f"{name}.{key}"] = (in_family, *own) if len(families) > 1 else own
    canonical = [c for name in families
                 if (c := FAMILIES.get(name).canonicalizer(family_specs.get(name, {})))]
    if len(canonical) > 1:
        raise SpaceError(f"Families {families} each canonicalise their architectures; a space "
                         "takes at most one such family.")
    return SearchSpace(params, {k: v for k, v in conditions.items() if v},
                       canonicalize=canonical[0] if canonical else None)


def _activation_condition(params: dict[str, Param], explicit: bool
                          ) -> dict[str, tuple[When, ...]]:
    """A norm-activation layer (EvoNorm) subsumes the activation: the activation exists only
    for the other norms, and not at all when every norm choice is one."""
    norms = list(params["norm"].values())
    subsuming = norm_activations()  # plugin norm-activations included
    plain = tuple(n for n in norms if n not in subsuming)
    if len(plain) == len(norms):
        return {}
    if plain:
        return {"activation": (When("norm", plain),)}
    if explicit and params["activation"].size != 1:
        raise SpaceError(
            f"[space] activation is searched, but every norm choice ({', '.join(map(str, norms))})"
            " is a normalization-activation layer that replaces the activation; remove "
            "activation from [space] or add a plain norm such as \"batch\"."
        )
    del params["activation"]
    return {}


def _per_layer_bits(family: str, flag: object, shared: Mapping[str, Param],
                    params: dict[str, Param], conditions: Conditions) -> None:
    """``per_layer_bits = true``: ``weight_bits.i`` / ``act_bits.i`` for every block i of the
    family (hidden layer, stage), with the choices of the global key, which keeps governing
    the other layers (the output layer, the head)."""
    if not isinstance(flag, bool):
        raise SpaceError(f"[space.{family}] {PER_LAYER_BITS} must be true or false.")
    if not flag:
        return
    count_key = FAMILIES.get(family).layer_count_key
    if count_key is None:
        raise SpaceError(f"[space.{family}] {PER_LAYER_BITS}: the {family} family has no "
                         "per-layer bit widths; remove the key and use [space] weight_bits.")
    keys = [k for k in ("weight_bits", "act_bits") if k in shared]
    if not keys:
        raise SpaceError(f"[space.{family}] {PER_LAYER_BITS} = true needs weight_bits or "
                         "act_bits in [space], e.g. weight_bits = [8, 4, 2].")
    for key in keys:
        per_index, per_conditions = per_index_params(key, shared[key], count_key,
                                                     params[count_key])
        params.update(per_index)
        conditions.update(per_conditions)


def _check_quantization(params: Mapping[str, Param]) -> None:
    for key in ("weight_bits", "act_bits"):
        if key in params:
            if params[key].size is None:
                raise SpaceError(f"[space] {key} must be a bit width or a list of them "
                                 f"({', '.join(map(str, BIT_WIDTHS))}), not a range.")
            for value in params[key].values():
                check_bits(value, f"[space] {key}")
    if "quant_step" in params:
        bad = [v for v in params["quant_step"].values() if v not in QUANT_STEPS]
        if bad:
            raise SpaceError(f"[space] quant_step {bad} is unknown; use "
                             f"{' or '.join(QUANT_STEPS)} (learned: LSQ step sizes).")
    if "keep_ends_8bit" in params and any(
            not isinstance(v, bool) for v in params["keep_ends_8bit"].values()):
        raise SpaceError("[space] keep_ends_8bit must be true, false or [true, false].")


def _check_resolution(params: Mapping[str, Param]) -> None:
    """The data-free part; `check_space_fits` checks the values against the data."""
    if RESOLUTION not in params:
        return
    param = params[RESOLUTION]
    values = [] if param.size is None else list(param.values())
    if param.size is None or not all(
            isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_RESOLUTION
            for v in values):
        raise SpaceError(f"[space] resolution must be whole numbers of pixels from 1 to "
                         f"{MAX_RESOLUTION} (a value, a list such as [24, 28, 32] or an integer "
                         "range {low, high}).")


def check_space_fits(space: SearchSpace, data: DataSpec) -> None:
    """Refuse families that cannot take this data, and resolutions that do not fit it
    (before anything is trained or stored)."""
    for name in space.params["family"].values():
        family = FAMILIES.get(str(name))
        family.check_data(data)
        check_space = getattr(family, "check_space", None)  # optional: its ranges vs the data
        if check_space is not None:
            check_space(space, data)
    if RESOLUTION in space.params:
        _check_resolutions_fit(space, data)


def _check_resolutions_fit(space: SearchSpace, data: DataSpec) -> None:
    """Each resolution fits the data (sequences or images, no larger than they are), and the
    smallest one is not below what the families' downsampling allows (planned for a seeded
    sample of architectures of each family)."""
    values = sorted(int(v) for v in space.params[RESOLUTION].values())
    for value in values:
        check_resolution(value, data)
    rng = np.random.default_rng(0)
    for _ in range(RESOLUTION_PROBES * len(list(space.params["family"].values()))):
        plan_for(space.sample(rng).replace(**{RESOLUTION: values[0]}), data)


def _check_training(params: Mapping[str, Param]) -> None:
    def values(key: str) -> list[object]:
        param = params[key]
        if isinstance(param, FloatRange):  # continuous: its bounds
            return [param.low, param.high]
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
