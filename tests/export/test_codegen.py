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
import torch
from export_helpers import FLAT, IMAGE, cell, cnn, mlp

from nasforge.errors import SpaceError
from nasforge.export import ModelMeta, generate, sources
from nasforge.export.codegen import RESERVED
from nasforge.export.exprs import ExprBuilder, flat
from nasforge.searchspace.families import plan_for
from nasforge.searchspace.layer_specs import norm_groups
from nasforge.searchspace.layers.portable.evonorm import s0_groups
from nasforge.searchspace.layers.portable.pau import PAU_INIT
from nasforge.searchspace.plan import Norm
from nasforge.searchspace.plan_ops import (
    Activation,
    Branch,
    Cell,
    CellEdge,
    Conv,
    Dropout,
    Flatten,
    GlobalPool,
    Linear,
    Pool,
    Residual,
    Resize,
    SqueezeExcite,
)
from nasforge.searchspace.specs import ACTIVATIONS, NORMS, OP_SPECS, resolve

HOSTILE = "x\"\"\"; import os; os.system('rm -rf /')"
NAMES = [HOSTILE, "a\nimport os\n#", "\u00e9\u2028\U0001f600 \\ \"\"\"\"\"", "x" * 300, "'''", ""]


def _exports(constructor: str, modules: tuple[str, ...]) -> None:
    """`constructor` evaluates, with the inlined `modules` and model.py's imports, to a
    torch module: the spec's export and source are complete."""
    inlined = sources.inline(modules, reserved=RESERVED)
    code = "\n\n".join((sources.header(("import torch", "from torch import nn",
                                         *inlined.imports)), *inlined.text))
    namespace: dict[str, object] = {}
    exec(compile(code, "model.py", "exec"), namespace)
    module = eval(constructor, namespace)
    assert isinstance(module, torch.nn.Module)


@pytest.mark.parametrize("role,name", [("activation", n) for n in ACTIVATIONS.names()]
                         + [("norm", n) for n in NORMS.names()])
def test_every_layer_spec_exports(role: str, name: str) -> None:
    spec = (ACTIVATIONS if role == "activation" else NORMS).get(name)
    for dims in sorted(spec.dims):
        _exports(spec.export(6, dims), spec.source)


_BRANCH = Branch((Activation("relu", 4, 2),), ((4, 5, 5),))
OP_EXAMPLES = {
    "flatten": Flatten(), "linear": Linear(4, 3, weight_bits=4, act_bits=8),
    "conv": Conv(2, 4, 4, 4, dilation=1, weight_bits=2, act_bits=2),
    "norm": Norm("evonorm_s0", 4, 2), "activation": Activation("snake", 4, 2),
    "dropout": Dropout(0.25), "pool": Pool("avg", 2, 3, 2), "global_pool": GlobalPool(2),
    "cell": Cell(3, 4, 2, (CellEdge(1, 0, "x", _BRANCH), CellEdge(2, 1, "y", Branch()))),
    "residual": Residual(_BRANCH),
    "squeeze_excite": SqueezeExcite(4, 2, 2, "hardsigmoid"),
}
OP_EXAMPLES["resize"] = Resize(2, (9, 7), 4, "bicubic")


@pytest.mark.parametrize("name", OP_SPECS.names())
def test_every_op_spec_exports(name: str) -> None:
    spec = OP_SPECS.get(name)
    assert name in OP_EXAMPLES, f"add an example {spec.op_type.__name__} to OP_EXAMPLES"
    op = OP_EXAMPLES[name]
    builder = ExprBuilder()
    expr = resolve(spec.export)(op, builder)
    _exports(flat(expr), tuple(builder.sources))
    assert builder.prefix(op) == spec.attribute_prefix(op)


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
