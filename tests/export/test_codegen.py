"""The generated source: every registered layer has an export, hostile names stay text,
the file passes ruff, compiles, and re-exporting gives the same bytes."""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from export_helpers import FLAT, IMAGE, cell, cnn, mlp

from nasforge.errors import SpaceError
from nasforge.export import ModelMeta, generate
from nasforge.export.layer_sources import ACTIVATION_SOURCES, NORM_SOURCES, norm_groups
from nasforge.searchspace.families import plan_for
from nasforge.searchspace.layers import ACTIVATIONS, NORMS
from nasforge.searchspace.layers.portable.evonorm import s0_groups
from nasforge.searchspace.layers.portable.pau import PAU_INIT
from nasforge.searchspace.plan import Norm

HOSTILE = "x\"\"\"; import os; os.system('rm -rf /')"
NAMES = [HOSTILE, "a\nimport os\n#", "\u00e9\u2028\U0001f600 \\ \"\"\"\"\"", "x" * 300, "'''", ""]


def test_every_registered_activation_and_norm_has_an_export_source() -> None:
    assert set(ACTIVATIONS.names()) <= set(ACTIVATION_SOURCES), (
        "add the new activation to nasforge/export/layer_sources.py")
    assert set(NORMS.names()) <= set(NORM_SOURCES), (
        "add the new norm to nasforge/export/layer_sources.py")


def test_torch_free_twins_agree_with_the_layers() -> None:
    for channels in range(1, 70):
        for dims in (0, 1, 2):
            assert norm_groups(channels, dims) == s0_groups(channels, dims)
    source = generate(plan_for(mlp(activation="pau"), FLAT), ModelMeta()).source
    numerator, denominator = PAU_INIT["leaky_relu"]
    assert all(repr(c) in source for c in (*numerator, *denominator))


def test_an_unknown_layer_kind_is_refused_not_copied() -> None:
    plan = plan_for(mlp(), FLAT)
    bad = plan.__class__(plan.family, plan.input_shape,
                         (*plan.ops[:2], Norm("os.system('x')", 8, 0), *plan.ops[3:]),
                         plan.shapes)
    with pytest.raises(SpaceError, match="no export source"):
        generate(bad, ModelMeta())


def _code_without_docstring(source: str) -> str:
    tree = ast.parse(source)
    assert isinstance(tree.body[0], ast.Expr)
    return ast.unparse(ast.Module(tree.body[1:], []))


@pytest.mark.parametrize("name", NAMES)
def test_hostile_names_stay_inside_the_docstring(name: str) -> None:
    arch = mlp(note=name)
    meta = ModelMeta(search=name, trial=7, arch=dict(arch), arch_id=arch.arch_id,
                     metrics={name: 1.0, "accuracy": float("nan")}, objectives=(name,))
    source = generate(plan_for(arch, FLAT), meta).source
    compile(source, "model.py", "exec")
    docstring = ast.get_docstring(ast.parse(source), clean=False)
    assert docstring is not None and json.dumps(name) in docstring  # recorded as JSON text
    code = _code_without_docstring(source)
    assert "os.system" not in code and "rm -rf" not in code and "import os" not in code
    assert source.isascii()
    imported = {n.names[0].name for n in ast.walk(ast.parse(source))
                if isinstance(n, ast.Import | ast.ImportFrom) and isinstance(n, ast.Import)}
    assert imported <= {"math", "torch", "torch.nn.functional"}


@pytest.mark.skipif(importlib.util.find_spec("ruff") is None, reason="ruff is not installed")
def test_generated_files_pass_ruff_and_are_deterministic(tmp_path: Path) -> None:
    archs = [(mlp(activation="snake", weight_bits=4, act_bits=8, quant_step="learned"), FLAT),
             (cnn(norm="evonorm_s0", **{"cnn.head_width": 8}), IMAGE),
             (cell({(1, 0): "sep_conv_3x3", (3, 2): "avg_pool_3x3"}, norm="ibn",
                   activation="pau", weight_bits=2, act_bits=2), IMAGE),
             (mlp(note=HOSTILE), FLAT)]
    paths = []
    for i, (arch, spec) in enumerate(archs):
        meta = ModelMeta(search=HOSTILE, trial=i, arch=dict(arch), arch_id=arch.arch_id,
                         metrics={"accuracy": 0.5})
        source = generate(plan_for(arch, spec), meta).source
        assert generate(plan_for(arch, spec), meta).source == source  # same bytes
        path = tmp_path / f"model_{i}.py"
        path.write_text(source)
        paths.append(str(path))
    config = Path(__file__).resolve().parents[2] / "pyproject.toml"
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--config",
                             str(config), *paths], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(importlib.util.find_spec("ruff") is None, reason="ruff is not installed")
@pytest.mark.parametrize("kind", ["standardise", "scale"])
def test_preprocessing_text_stays_in_the_docstring_and_passes_ruff(kind: str, tmp_path: Path
                                                                   ) -> None:
    import numpy as np

    from nasforge.evaluator.data.preprocessing import Preprocessing

    stats = {"mean": np.linspace(-3e3, 7.5, 12), "std": np.linspace(0.1, 400, 12)} \
        if kind == "standardise" else {"scale": 1 / 255}
    pre = Preprocessing(raw_shape=(12,), input_shape=FLAT.input_shape, raw_input=HOSTILE,
                        feature_names=tuple(NAMES[:4]) + tuple(f"c{i}" for i in range(8)),
                        **stats)  # type: ignore[arg-type]
    source = generate(plan_for(mlp(), FLAT), ModelMeta(search="s", trial=0), pre).source
    code = _code_without_docstring(source)
    assert "os.system" not in code and "rm -rf" not in code and source.isascii()
    docstring = ast.get_docstring(ast.parse(source), clean=False)
    assert docstring is not None and json.dumps(NAMES[1]) in docstring
    assert " ".join(HOSTILE.split()) in " ".join(docstring.split())  # wrapped as text
    path = tmp_path / "model.py"
    path.write_text(source)
    config = Path(__file__).resolve().parents[2] / "pyproject.toml"
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--config",
                             str(config), str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
