"""State dicts between nasforge's evaluated nn.Sequential and a generated Model, and loading
a generated model.py as a module."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType

import torch


def to_named(state_dict: Mapping[str, torch.Tensor], names: tuple[str, ...]
             ) -> dict[str, torch.Tensor]:
    """Rename ``"3.weight"`` (layer 3 of the Sequential) to ``names[3] + ".weight"``, the
    generated Model's key (what model.py's `from_sequential` does)."""
    renamed: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        index, _, rest = key.partition(".")
        renamed[f"{names[int(index)]}.{rest}"] = value.detach().cpu().clone()
    return renamed


def load_module(path: Path, name: str) -> ModuleType:
    """Import the generated file at `path` under the module name `name` (not kept in
    sys.modules, so two exports never clash)."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look the module up while it runs
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module
