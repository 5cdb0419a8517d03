"""Network families: torch-free definitions of how an architecture becomes a network plan."""

from __future__ import annotations

from nasforge.registry import Registry
from nasforge.searchspace.architecture import Architecture
from nasforge.searchspace.families.base import Family
from nasforge.searchspace.families.cell import CellFamily
from nasforge.searchspace.families.cnn import CNNFamily
from nasforge.searchspace.families.mbconv import MBConvFamily
from nasforge.searchspace.families.mlp import MLPFamily
from nasforge.searchspace.families.resnet import ResNetFamily
from nasforge.searchspace.plan import DataSpec, NetworkPlan
from nasforge.searchspace.resolution import RESOLUTION, resized_plan

FAMILIES: Registry[Family] = Registry("family")
FAMILIES.register("mlp", MLPFamily())
FAMILIES.register("cnn", CNNFamily())
FAMILIES.register("cell", CellFamily())
FAMILIES.register("mbconv", MBConvFamily())
FAMILIES.register("resnet", ResNetFamily())


def plan_for(arch: Architecture, data: DataSpec) -> NetworkPlan:
    """The network plan of `arch` (its ``family`` value picks the family) on `data`; with a
    ``resolution``, planned at that size behind a first Resize op (`resolution`)."""
    family = FAMILIES.get(str(arch.get("family", "mlp")))
    resolution = arch.get(RESOLUTION)
    if resolution is None:
        return family.plan(arch, data)
    return resized_plan(family, arch, data, resolution)


__all__ = ["FAMILIES", "Family", "plan_for"]
