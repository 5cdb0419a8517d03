"""The two sides of an export check, shared by the end-to-end family tests: the stored
checkpoint's logits on the evaluator's (preprocessed) test inputs, and an exported model.py
loaded with its weights."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import torch


def stored_logits(url: str, name: str, number: int, cache: Path) -> torch.Tensor:
    """Trial `number` of search `name`: its stored checkpoint's logits on the test split."""
    from nasforge.checkpoint_policy import checkpoint_root, stored_checkpoint
    from nasforge.evaluator_setup import load_checked
    from nasforge.export.checkpoint_reader import load_stored
    from nasforge.search import stored_config
    from nasforge.searchspace.families import plan_for
    from nasforge.store import open_store

    with open_store(url, create=False) as store:
        config, trial = stored_config(store, name), store.trial(name, number)
    dataset = load_checked(config, cache_dir=cache)
    path = stored_checkpoint(trial, checkpoint_root(url, config.training.checkpoint_dir))
    model = load_stored(plan_for(trial.arch, dataset.spec), path, 0)
    with torch.no_grad():
        return model(torch.from_numpy(dataset.x_test.copy()))


def exported_model(folder: Path, module_name: str) -> tuple[torch.nn.Module, Any]:
    """(the model built from `folder`'s model.py and weights.pt, the model.py module)."""
    spec = importlib.util.spec_from_file_location(module_name, folder / "model.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build(str(folder / "weights.pt")), module
