"""Input resolution as a search dimension (Once-for-All's elastic resolution), torch-free.

The shared ``[space]`` key ``resolution`` (a constant, a list or an integer range) gives an
architecture the size r its network sees: the family plans on the data resized to r per
spatial axis, and the plan starts with a `Resize` op from the data's own size, so the model
takes the data as they are and resizes on the device (in `forward`, in model.py and
model.onnx too). Every cost (MACs, BOPs, latency) is then the cost at r. At the data's own
size there is no Resize op: the plan is the one without the key.

Sequences (C, L) resize to length r, images (C, H, W) to r x r: a non-square image is
resized to a square (its aspect ratio is not kept), and r may not exceed its smaller side.
"""

from __future__ import annotations

from dataclasses import replace

from nasforge.errors import SpaceError
from nasforge.searchspace.architecture import Architecture
from nasforge.searchspace.families.base import Family
from nasforge.searchspace.plan import DataSpec, NetworkPlan, iter_ops
from nasforge.searchspace.plan_ops import Resize

#: The shared `[space]` key (absent: no resolution parameter, the data's own size).
RESOLUTION = "resolution"


def check_resolution(value: object, data: DataSpec) -> int:
    """`value` as a resolution of `data`: a whole number from 1 to the data's smallest spatial
    size, on sequences or images; SpaceError naming the value, the data and the fix."""
    if data.spatial_dims not in (1, 2):
        raise SpaceError(
            f"[space] resolution = {value!r} resizes sequences (C, L) or images (C, H, W), but "
            f"dataset {data.name!r} has flat features of shape {data.input_shape}; remove "
            "resolution from [space] (or give [data] input_shape to read them as a signal).")
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SpaceError(f"[space] resolution {value!r} must be a whole number of pixels >= 1.")
    spatial = data.input_shape[1:]
    if value > min(spatial):
        what = "images" if data.spatial_dims == 2 else "sequences"
        raise SpaceError(
            f"[space] resolution {value} is larger than the data's {what} "
            f"({' x '.join(map(str, spatial))} in dataset {data.name!r}): a resolution "
            f"resizes the input down. Pick values <= {min(spatial)}"
            f"{'' if len(set(spatial)) == 1 else ' (the smaller side: images resize to r x r)'}.")
    return value


def resized_plan(family: Family, arch: Architecture, data: DataSpec, value: object
                 ) -> NetworkPlan:
    """`family`'s plan of `arch` at resolution `value` on `data` (see the module docstring)."""
    size = check_resolution(value, data)
    if all(s == size for s in data.input_shape[1:]):
        return family.plan(arch, data)
    resized = (data.input_shape[0], *(size,) * data.spatial_dims)
    plan = family.plan(arch, replace(data, input_shape=resized))
    for op, shape in iter_ops(plan.ops, plan.shapes):
        if min(shape) < 1:
            raise SpaceError(
                f"[space] resolution {size} is too small for the {plan.family} family: its "
                f"{type(op).__name__} op leaves a feature map of shape {shape}. Pick larger "
                "resolutions, or fewer downsampling stages.")
    resize = Resize(data.spatial_dims, data.input_shape[1:], size)
    return NetworkPlan(plan.family, data.input_shape, (resize, *plan.ops),
                       (resized, *plan.shapes))
