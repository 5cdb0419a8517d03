"""export/sources.py: portable modules are inlined whole, their imports checked and gathered,
in import order, and a plugin's portable module is inlined like a built-in one."""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from export_helpers import assert_same, train_plan

from nasforge.errors import SpaceError
from nasforge.export import ModelMeta, generate, sources
from nasforge.searchspace.layers import portable
from nasforge.searchspace.plan import PlanBuilder
from nasforge.searchspace.specs import ACTIVATIONS, LayerSpec

PORTABLE = sorted(f"{portable.__name__}.{m.name}" for m in pkgutil.iter_modules(portable.__path__))


@pytest.mark.parametrize("module", PORTABLE)
def test_every_portable_module_is_strictly_portable(module: str) -> None:
    read = sources.read(module)
    assert read.defines, module  # it defines something to inline
    lines = read.text.splitlines()
    assert not [line for line in lines if line.startswith(("import ", "from "))]  # all hoisted
    assert not read.text.startswith('"""')  # the module docstring is dropped
    # the inlined text with its hoisted imports runs on its own: torch alone, no nasforge
    inlined = sources.inline([module])
    namespace: dict[str, object] = {}
    exec(compile(sources.header(inlined.imports) + "\n" + "\n\n".join(inlined.text),
                 module, "exec"), namespace)
    assert all(name in namespace for name in read.defines)


def test_per_channel_is_one_helper_used_by_all() -> None:
    inlined = sources.inline(PORTABLE)
    text = "\n".join(inlined.text)
    assert text.count("def per_channel(") == 1 and "def _per_channel(" not in text
    names = [m.name for m in inlined.modules]
    channels = names.index(f"{sources.PORTABLE_PACKAGE}.channels")
    assert channels < names.index(f"{sources.PORTABLE_PACKAGE}.swish")  # imports come first
    compile("\n\n".join((sources.header(inlined.imports), *inlined.text)), "model.py", "exec")


def test_the_header_is_isort_ordered() -> None:
    header = sources.header(["from torch import nn", "import torch", "from typing import Any",
                             "import math", "import torch.nn.functional as F",
                             "from typing import TYPE_CHECKING"])
    assert header == ("import math\nfrom typing import TYPE_CHECKING, Any\n\n"
                      "import torch\nimport torch.nn.functional as F\nfrom torch import nn")


@pytest.fixture
def plugin(tmp_path: Path) -> Iterator[Path]:
    package = tmp_path / "nf_plugin_example"
    package.mkdir()
    (package / "__init__.py").write_text("")
    sys.path.insert(0, str(tmp_path))
    try:
        yield package
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n.startswith("nf_plugin_example")]:
            del sys.modules[name]


def _write(package: Path, name: str, text: str) -> str:
    (package / f"{name}.py").write_text(textwrap.dedent(text))
    return f"{package.name}.{name}"


def test_a_plugin_module_is_inlined_with_its_portable_imports(plugin: Path) -> None:
    base = _write(plugin, "base", '''
        """A plugin helper."""
        import torch

        def squared(x: torch.Tensor) -> torch.Tensor:
            return x * x
        ''')
    module = _write(plugin, "sqrelu", '''
        """Squared ReLU."""
        from __future__ import annotations

        import torch
        from torch import nn

        from nasforge.searchspace.layers.portable.channels import per_channel
        from nf_plugin_example.base import squared


        class SqReLU(nn.Module):
            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return squared(torch.relu(x)) * per_channel(x.new_ones(x.shape[1]), x.dim())
        ''')
    inlined = sources.inline([module], {module: "plugin nf_plugin_example"})
    assert [m.name for m in inlined.modules] == [
        f"{sources.PORTABLE_PACKAGE}.channels", base, module]
    namespace: dict[str, object] = {}
    code = "\n\n".join((sources.header(("import torch", *inlined.imports)), *inlined.text))
    exec(compile(code, "model.py", "exec"), namespace)
    import torch

    layer = namespace["SqReLU"]()  # type: ignore[operator]
    assert torch.equal(layer(torch.tensor([[-1.0, 2.0]])), torch.tensor([[0.0, 4.0]]))
    assert "nf_plugin_example" not in code and "nasforge" not in code


def test_a_forbidden_import_names_the_module_and_its_origin(plugin: Path) -> None:
    bad = _write(plugin, "bad", "import os\n\nX = os.sep\n")
    with pytest.raises(SpaceError, match=r"nf_plugin_example\.bad \(registered by plugin P\) "
                                         r"imports 'os'"):
        sources.inline([bad], {bad: "plugin P"})
    nested = _write(plugin, "nested", "def f():\n    import numpy\n    return numpy\n")
    with pytest.raises(SpaceError, match="imports 'numpy'"):
        sources.inline([nested])
    core = _write(plugin, "core", "from nasforge.errors import SpaceError\n")
    with pytest.raises(SpaceError, match="imports 'nasforge.errors'"):
        sources.inline([core])


def test_a_name_defined_twice_is_refused(plugin: Path) -> None:
    first = _write(plugin, "first", "import torch\n\n\nclass Swish(torch.nn.Module):\n    pass\n")
    with pytest.raises(SpaceError, match="'Swish' is defined by both"):
        sources.inline([first, f"{sources.PORTABLE_PACKAGE}.swish"])
    model = _write(plugin, "model", "def build():\n    return None\n")
    with pytest.raises(SpaceError, match="'build' is defined by both.*model.py"):
        sources.inline([model], reserved={"build"})


def test_making_model_py_does_not_import_torch() -> None:
    """The dashboard shows model.py without importing torch: portable modules are read from
    their files, found without importing them."""
    code = ("import sys\n"
            "from nasforge.export import ModelMeta, generate\n"
            "from nasforge.searchspace.architecture import Architecture\n"
            "from nasforge.searchspace.families import plan_for\n"
            "from nasforge.searchspace.plan import DataSpec\n"
            "arch = Architecture({'family': 'mlp', 'mlp.depth': 2, 'mlp.width': 8, "
            "'activation': 'snake', 'norm': 'rms', 'dropout': 0.0, 'weight_bits': 4, "
            "'act_bits': 4})\n"
            "source = generate(plan_for(arch, DataSpec((12,), 3)), ModelMeta()).source\n"
            "assert 'class Snake' in source and 'class QuantLinear' in source\n"
            "print('torch' in sys.modules)")
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=root, env={**os.environ, "PYTHONPATH": str(root)})
    assert out.stdout.strip() == "False"


def test_a_plugin_activation_is_exported_without_the_plugin(plugin: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    module = _write(plugin, "sqrelu", '''
        """Squared ReLU with a per-channel scale (a plugin's portable module)."""
        from __future__ import annotations

        import torch
        from torch import nn

        from nasforge.searchspace.layers.portable.channels import per_channel


        class SqReLU(nn.Module):
            def __init__(self, channels: int) -> None:
                super().__init__()
                self.scale = nn.Parameter(torch.ones(channels))

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return torch.relu(x).square() * per_channel(self.scale, x.dim(), x.dtype)


        def make(channels: int, dims: int) -> SqReLU:
            return SqReLU(channels)
        ''')
    spec = LayerSpec("sqrelu_test", "activation", f"{module}:make",
                     lambda c, d: f"SqReLU({int(c)})", params=lambda c, d: c,
                     source=(module,), origin="plugin nf_plugin_example")
    monkeypatch.setitem(ACTIVATIONS._entries, spec.name, spec)  # type: ignore[attr-defined]
    builder = PlanBuilder("custom", (6,))
    plan = builder.linear(5).activation("sqrelu_test").linear(3).build()
    source = generate(plan, ModelMeta()).source
    assert "class SqReLU" in source and "nf_plugin_example" not in source
    assert_same(*train_plan(plan, 3), tmp_path)
