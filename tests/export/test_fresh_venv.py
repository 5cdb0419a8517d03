"""An exported model.py runs in a fresh virtual environment that has only torch."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from export_helpers import IMAGE, cell, trained

from nasforge.export import ModelMeta, generate
from nasforge.export.weights import to_named

TORCH = f"torch=={torch.__version__.split('+')[0]}"
SCRIPT = textwrap.dedent("""
    import sys
    import torch
    from model import build
    model = build("weights.pt")
    x = torch.load("input.pt", weights_only=True)
    with torch.no_grad():
        torch.save(model(x), "output.pt")
    assert "nasforge" not in sys.modules and not any(
        m.startswith("nasforge") for m in sys.modules)
""")


@pytest.mark.slow
def test_model_py_runs_where_only_torch_is_installed(tmp_path: Path) -> None:
    arch = cell({(1, 0): "nor_conv_3x3", (2, 1): "sep_conv_3x3", (3, 2): "avg_pool_3x3"},
                activation="pau", norm="ibn", weight_bits=4, act_bits=8, quant_step="learned")
    plan, model = trained(arch, IMAGE)
    generated = generate(plan, ModelMeta(search="venv", trial=0))
    work = tmp_path / "export"
    work.mkdir()
    (work / "model.py").write_text(generated.source)
    torch.save(to_named(model.state_dict(), generated.names), work / "weights.pt")
    x = torch.randn(8, *IMAGE.input_shape, generator=torch.Generator().manual_seed(3))
    torch.save(x, work / "input.pt")
    (work / "run.py").write_text(SCRIPT)

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", TORCH],
                             capture_output=True, text=True, timeout=900)
    if install.returncode != 0:  # no package index reachable: not a failure of the export
        pytest.skip(f"pip install {TORCH} failed: {install.stderr[-500:]}")
    run = subprocess.run([str(python), "run.py"], cwd=work, capture_output=True, text=True,
                         timeout=300, env={"PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr
    with torch.no_grad():
        expected = model(x)
    torch.testing.assert_close(torch.load(work / "output.pt", weights_only=True), expected)
