"""Checkpoints written before the layers moved into portable modules still load: the built
model's state_dict keys and shapes are those recorded from the old code path
(`data/old_state_dict_keys.json`, made by build.py before issue 15), and a saved state_dict
loads strictly into the exported model.py and computes the same."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from export_helpers import FLAT, IMAGE, cell, cnn, mlp, trained

from nasforge.export import ModelMeta, generate
from nasforge.export.weights import load_module

OLD_KEYS = json.loads((Path(__file__).parent / "data" / "old_state_dict_keys.json").read_text())
CASES = {
    "cell-quant": (cell({(1, 0): "sep_conv_3x3", (2, 1): "dil_conv_3x3",
                         (3, 2): "avg_pool_3x3"}, norm="evonorm_s0", weight_bits=2,
                        act_bits=2, quant_step="learned"), IMAGE),
    "cnn-ibn-fixedquant": (cnn(norm="ibn", activation="snake", weight_bits=4, act_bits=8),
                           IMAGE),
    "mlp-binary-pau": (mlp(activation="pau", norm="rms", weight_bits=1, act_bits=1), FLAT),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_an_old_checkpoint_loads_into_the_built_and_the_exported_model(name: str,
                                                                       tmp_path: Path) -> None:
    arch, spec = CASES[name]
    plan, model = trained(arch, spec)
    state = model.state_dict()
    assert {k: list(v.shape) for k, v in state.items()} == OLD_KEYS[name]
    torch.save(state, tmp_path / "checkpoint.pt")
    saved = torch.load(tmp_path / "checkpoint.pt", map_location="cpu", weights_only=True)
    (tmp_path / "model.py").write_text(generate(plan, ModelMeta()).source)
    module = load_module(tmp_path / "model.py", f"nasforge_checkpoint_{name}")
    exported = module.build()
    exported.load_state_dict(module.from_sequential(saved))  # strict: the same keys
    x = torch.randn(16, *plan.input_shape, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        torch.testing.assert_close(exported.eval()(x), model(x), rtol=1.3e-6, atol=1e-5)

