"""`check_buildable`: refuse a space whose layer choices its families cannot build, before
anything is trained or stored."""

from __future__ import annotations

import dataclasses
from typing import cast

import numpy as np

from nasforge.errors import SpaceError
from nasforge.searchspace.architecture import Architecture
from nasforge.searchspace.families import plan_for
from nasforge.searchspace.plan import DataSpec
from nasforge.searchspace.plan_ops import Activation, Norm, iter_ops
from nasforge.searchspace.space import SearchSpace
from nasforge.searchspace.specs import ACTIVATIONS, NORMS, norm_activations, resolve, spec_of

#: Architectures of each family that `check_buildable` plans with every norm.
EXAMPLES_PER_FAMILY = 12
#: The space's layer choices: each is the `kind` of the plan ops whose spec has its name.
LAYER_CHOICES = {"activation": ACTIVATIONS, "norm": NORMS}


def check_buildable(space: SearchSpace, data: DataSpec, *, seed: int = 0) -> None:
    """Refuse, before anything is trained or stored, a space whose layers cannot be built:
    an unregistered activation or norm name, or one that its families would use on inputs it
    does not support (instance norm after an MLP's linear layers, for example)."""
    choices = {key: list(space.params[key].values()) for key in LAYER_CHOICES if key in space}
    for key, registry in LAYER_CHOICES.items():
        for value in choices.get(key, ()):
            if value not in registry:
                raise SpaceError(f"[space] {key}: {registry.unknown_message(value)}")
    rng = np.random.default_rng(seed)
    examples: dict[object, list[Architecture]] = {}
    for _ in range(400):  # several architectures of each family: heads, readouts, depths
        arch = space.sample(rng)
        same = examples.setdefault(arch.get("family"), [])
        if len(same) < EXAMPLES_PER_FAMILY and arch not in same:
            same.append(arch)
    activations = choices.get("activation", [None])
    replace_activation = norm_activations()
    refusals: dict[tuple[str, str, str, int], str] = {}
    for family, archs in examples.items():
        for arch in archs:
            for norm in choices.get("norm", [None]):
                # where activations go does not depend on which one: plan the first and check
                # each of them there
                activation = None if norm in replace_activation else activations[0]
                plan = plan_for(arch.replace(activation=activation, norm=norm), data)
                for op, _ in iter_ops(plan.ops, plan.shapes):
                    spec = spec_of(op)
                    if spec.name not in LAYER_CHOICES or spec.check is None:
                        continue
                    layer_op = cast("Activation | Norm", op)  # the op types of those two specs
                    kinds = ([str(k) for k in activations if k is not None]  # registered names
                             if spec.name == "activation" else [layer_op.kind])
                    for kind in kinds:
                        layer = dataclasses.replace(layer_op, kind=kind)
                        dims = getattr(layer, "dims", -1)
                        where = (str(family), spec.name, str(kind), int(dims))
                        if where not in refusals:
                            refusals[where] = resolve(spec.check)(layer) or ""
    for (name, what, kind, dims), reason in sorted(refusals.items()):
        if reason:
            flat = (" (flat features: the mlp family's hidden layers, or the cnn family's "
                    "head, which [space.cnn] head_width = 0 removes)" if dims == 0 else "")
            raise SpaceError(
                f"The {name} family applies {what} {kind!r} to inputs with {dims} spatial "
                f"axes{flat}, which it does not support ({reason}). Remove {kind!r} from "
                f"[space] {what}, or drop the {name} family."
            )
