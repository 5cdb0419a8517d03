"""The worked plugin (examples/plugin, installed with ``pip install -e examples/plugin``)
through the CLI as a user runs it: `nasforge layers --json` lists its parts with their
origin; a search uses its activation, norm, family and dataset (one process and
``--workers 2``); `nasforge export` writes a model.py that runs with torch alone and computes
what the evaluated model computes; the dashboard pages render the search; `nasforge
benchmark` runs on its table. Broken plugins (an import error, a clashing name, a spec
missing a part) are reported and roll back, break no search that does not use them, and a
config naming their parts exits 2 naming the plugin.

Every nasforge here is a subprocess with plugins on (the suite turns them off in-process,
tests/conftest.py), so the registries of the test process stay as they are.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

try:
    import nasforge_example  # noqa: F401
except ImportError:
    pytest.skip("the example plugin is not installed: pip install -e examples/plugin",
                allow_module_level=True)

ROOT = Path(__file__).resolve().parents[1]
ORIGIN = "plugin example (entry point nasforge_example.plugin, distribution nasforge-example"

CONFIG = """
[search]
name = "{name}"
budget = {budget}
objectives = ["accuracy:max", "params:min"]
seed = 0

[data]
dataset = "{dataset}"

[training]
epochs = 2
measure_latency = false

[space]
families = ["{family}"]
activation = ["{activation}"]
norm = ["{norm}"]

[space.{family}]
{family_options}
"""
PLUGIN = dict(dataset="rings", family="resmlp", activation="sqrelu", norm="scaled_rms",
              family_options="blocks = [1, 2]\nwidth = [16]")
BUILTIN = dict(dataset="digits", family="mlp", activation="relu", norm="none",
               family_options="depth = 1\nwidth = [16]")


def nasforge(folder: Path, *args: str, path: Path | None = None, timeout: float = 300
             ) -> subprocess.CompletedProcess:
    """`python -m nasforge ARGS` in `folder` with plugins on (and `path`'s plugins too)."""
    env = {k: v for k, v in os.environ.items() if k != "NASFORGE_NO_PLUGINS"}
    env.update(PYTHONPATH=os.pathsep.join(str(p) for p in (ROOT, path) if p),
               NASFORGE_CACHE_DIR=str(folder / "cache"), OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "nasforge", *args], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=timeout)


def write_config(folder: Path, name: str, budget: int = 3, **parts: str) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(CONFIG.format(name=name, budget=budget, **{**PLUGIN, **parts}))
    return path


def ok(run: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert run.returncode == 0, run.stdout + run.stderr
    return run


@pytest.fixture(scope="module")
def searched(tmp_path_factory) -> tuple[Path, str]:
    """A finished search over the plugin's family, dataset, activation and norm."""
    folder = tmp_path_factory.mktemp("plugin")
    url = f"sqlite:///{folder / 'runs.db'}"
    ok(nasforge(folder, "search", str(write_config(folder, "plug")), "--storage", url))
    return folder, url


def trials(url: str, name: str) -> list:
    from nasforge.store import open_store

    store = open_store(url, create=False)
    try:
        return store.trials(name)
    finally:
        store.close()


def test_layers_json_lists_the_plugin_parts_with_their_origin(tmp_path):
    catalog = json.loads(ok(nasforge(tmp_path, "layers", "--json")).stdout)
    (plugin,) = [p for p in catalog["plugins"] if p["name"] == "example"]
    assert plugin["ok"] and plugin["error"] is None and plugin["value"] == "nasforge_example.plugin"
    assert plugin["dist"].startswith("nasforge-example")
    details = catalog["details"]
    for kind, name in (("activations", "sqrelu"), ("norms", "scaled_rms"),
                       ("families", "resmlp")):
        assert name in catalog[kind]
        assert details[kind][name]["origin"].startswith(ORIGIN)
        assert details[kind][name]["summary"]
    assert details["activations"]["relu"]["origin"] == "nasforge"
    assert {"activation 'sqrelu'", "dataset 'rings'", "benchmark table 'example_table'"} <= set(
        plugin["registered"])
    text = ok(nasforge(tmp_path, "layers")).stdout
    assert "sqrelu" in text and "plugin example" in text


def test_a_search_uses_the_plugins_activation_norm_family_and_dataset(searched):
    _, url = searched
    done = trials(url, "plug")
    assert [t.state.name for t in done] == ["COMPLETE"] * 3
    for trial in done:
        assert trial.arch["family"] == "resmlp"
        assert (trial.arch["activation"], trial.arch["norm"]) == ("sqrelu", "scaled_rms")
        assert trial.metrics["accuracy"] > 0


class Undo(Exception):
    pass


@contextmanager
def example_registered() -> Iterator[None]:
    """The example plugin's parts registered in this process for the block, then removed
    (the suite's other tests compare the registries)."""
    from nasforge.registry import stage
    from nasforge.searchspace.families import FAMILIES

    if "resmlp" in FAMILIES:  # loaded for good by someone else
        yield
        return
    sys.modules.pop("nasforge_example.plugin", None)
    try:
        with pytest.raises(Undo), stage("test"):
            importlib.import_module("nasforge_example.plugin")
            yield
            raise Undo
    finally:
        sys.modules.pop("nasforge_example.plugin", None)


def test_the_plugin_layers_cost_what_the_built_model_holds(searched):
    from nasforge.evaluator.data import load_dataset
    from nasforge.searchspace.build import build_from_plan
    from nasforge.searchspace.families import FAMILIES, plan_for

    with example_registered():
        spec = load_dataset("rings", seed=0).spec
        for trial in trials(searched[1], "plug"):
            model = build_from_plan(plan_for(trial.arch, spec))
            assert trial.metrics["params"] == sum(p.numel() for p in model.parameters())
    assert "resmlp" not in FAMILIES


RUN_MODEL = textwrap.dedent("""
    import sys
    import torch
    from model import INPUT_SHAPE, build
    model = build("weights.pt")
    x = torch.randn(16, *INPUT_SHAPE, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.save(model(x), "output.pt")
    torch.save(x, "input.pt")
    assert not [m for m in sys.modules if m.startswith("nasforge")], "imports nasforge"
""")


def test_export_runs_with_torch_alone_and_matches_the_evaluated_model(searched, tmp_path):
    import torch

    from nasforge.checkpoint_policy import checkpoint_root, stored_checkpoint
    from nasforge.evaluator.data import load_dataset
    from nasforge.searchspace.build import build_from_plan
    from nasforge.searchspace.families import plan_for

    folder, url = searched
    out = tmp_path / "out"
    ok(nasforge(folder, "export", "plug", "--best", "accuracy", "--weights", "--out", str(out),
                "--storage", url))
    (trial_dir,) = out.iterdir()
    source = (trial_dir / "model.py").read_text()
    assert "class SquaredReLU" in source and "class ScaledRMSNorm" in source
    assert "nasforge_example" not in source
    (trial_dir / "run.py").write_text(RUN_MODEL)
    # -E -s: no PYTHONPATH (no worktree), no user site; run.py checks no nasforge is imported
    run = subprocess.run([sys.executable, "-E", "-s", "run.py"], cwd=trial_dir, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr

    best = max(trials(url, "plug"), key=lambda t: t.metrics["accuracy"])
    assert trial_dir.name == f"trial_{best.number:04d}"
    with example_registered():
        model = build_from_plan(plan_for(best.arch, load_dataset("rings", seed=0).spec))
    model.load_state_dict(torch.load(stored_checkpoint(best, checkpoint_root(url)),
                                     weights_only=True))
    weights = torch.load(trial_dir / "weights.pt", weights_only=True)
    x = torch.load(trial_dir / "input.pt", weights_only=True)
    standardised = ((x.double() - weights["input_mean"]) / weights["input_std"]).float()
    with torch.no_grad():
        expected = model.eval()(standardised)
    torch.testing.assert_close(torch.load(trial_dir / "output.pt", weights_only=True), expected)


DASHBOARD = textwrap.dedent("""
    import sys
    sys.path.insert(0, {ui!r})
    from dashboard_helpers import open_page
    from nasforge.ui.dashboard import links
    for page in links.PAGES:
        at = open_page({url!r}, page.url_path, search={search!r}, trial=0)
        assert at.header[0].value, page.url_path
    print("pages", len(links.PAGES))
""")


def render_pages(folder: Path, url: str, search: str) -> None:
    pytest.importorskip("streamlit")
    pytest.importorskip("plotly")
    script = folder / f"pages_{search}.py"
    script.write_text(DASHBOARD.format(ui=str(ROOT / "tests" / "ui"), url=url, search=search))
    env = {k: v for k, v in os.environ.items() if k != "NASFORGE_NO_PLUGINS"}
    env["PYTHONPATH"] = str(ROOT)
    run = subprocess.run([sys.executable, str(script)], cwd=folder, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "pages" in run.stdout


def test_the_dashboard_pages_render_the_plugin_search(searched):
    render_pages(*searched, "plug")


def test_two_workers_load_the_plugin(tmp_path):
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    config = write_config(tmp_path, "two", budget=2)
    ok(nasforge(tmp_path, "search", str(config), "--workers", "2", "--storage", url))
    assert [t.state.name for t in trials(url, "two")] == ["COMPLETE"] * 2


def test_benchmark_runs_on_the_plugin_table(tmp_path):
    run = ok(nasforge(tmp_path, "benchmark", "example_table", "--strategy", "random,evolution",
                      "--budget", "5", "--repeats", "2", "--json"))
    report = json.loads(run.stdout)
    assert set(report["results"]) == {"random", "evolution"}
    assert report["optimum"] == pytest.approx(0.895)


BROKEN = {
    "bad": "import not_a_module_anywhere  # noqa: F401\n",
    "clash": ("from nasforge import register_activation, register_dataset\n"
              "register_dataset('clash_data', lambda ctx: None)\n"
              "register_activation('relu', 'torch.nn:ReLU', params=0, fused='elementwise', "
              "source=())\n"),
    "partial": ("from nasforge import register_norm\n"
                "register_norm('partial_norm', 'torch.nn:LayerNorm', params=None)\n"),
}


@pytest.fixture(scope="module")
def broken(tmp_path_factory) -> Path:
    """A folder of three installed-looking plugins that fail to load (put it on the path)."""
    site = tmp_path_factory.mktemp("broken_plugins")
    for name, text in BROKEN.items():
        info = site / f"{name}_plugin-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}-plugin\n"
                                       "Version: 0.1\n")
        (info / "entry_points.txt").write_text(f"[nasforge.plugins]\n{name} = {name}_plugin\n")
        (site / f"{name}_plugin.py").write_text(text)
    return site


def test_broken_plugins_are_reported_and_leave_nothing_registered(tmp_path, broken):
    catalog = json.loads(ok(nasforge(tmp_path, "layers", "--json", path=broken)).stdout)
    plugins = {p["name"]: p for p in catalog["plugins"]}
    assert plugins["example"]["ok"]
    assert not plugins["bad"]["ok"] and "not_a_module_anywhere" in plugins["bad"]["error"]
    assert plugins["bad"]["dist"] == "bad-plugin 0.1"
    clash = plugins["clash"]["error"]
    assert "Activation 'relu' is already registered by nasforge" in clash
    assert "plugin clash (entry point clash_plugin, distribution clash-plugin 0.1)" in clash
    assert "fused" in plugins["partial"]["error"]  # the required part it left out
    assert all(p["registered"] == [] for p in plugins.values() if not p["ok"])
    assert "partial_norm" not in catalog["norms"]


def test_broken_plugins_break_no_search_that_does_not_use_them(tmp_path, broken):
    config = write_config(tmp_path, "builtin", budget=1, **BUILTIN)
    ok(nasforge(tmp_path, "search", str(config), "--storage", f"sqlite:///{tmp_path / 'r.db'}",
                path=broken))


@pytest.mark.parametrize("part", [dict(dataset="clash_data"), dict(norm="partial_norm")])
def test_a_config_naming_a_broken_plugins_part_exits_2_naming_the_plugin(tmp_path, broken,
                                                                          part):
    config = write_config(tmp_path, "uses", budget=1, **{**BUILTIN, **part})
    run = nasforge(tmp_path, "search", str(config), "--storage",
                   f"sqlite:///{tmp_path / 'runs.db'}", path=broken)
    assert run.returncode == 2, run.stdout + run.stderr
    error = " ".join(run.stderr.split())
    assert "Plugin clash (entry point clash_plugin, distribution clash-plugin 0.1) failed to " \
           "load: RegistryClash" in error
    assert "Plugin partial (entry point partial_plugin" in error
    assert "Traceback" not in run.stderr


EVALUATOR_CONFIG = """
[search]
name = "plain"
budget = 4
objectives = ["loss:min", "cost:min"]
seed = 0

[space.params]
lr = {{ low = 1e-4, high = 1e-1, log = true }}
depth = {{ low = 1, high = 8 }}

[evaluator]
callable = "{callable}"

[evaluator.options]
scale = 2.0
"""


def test_an_evaluator_entry_point_runs_a_plain_parameter_search(tmp_path):
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    config = tmp_path / "plain.toml"
    config.write_text(EVALUATOR_CONFIG.format(callable="example_quadratic"))
    ok(nasforge(tmp_path, "search", str(config), "--storage", url))
    done = trials(url, "plain")
    assert [t.state.name for t in done] == ["COMPLETE"] * 4
    assert all(t.metrics["cost"] == t.arch["depth"] for t in done)


def test_an_unknown_evaluator_entry_point_exits_2_listing_the_installed_ones(tmp_path):
    config = tmp_path / "plain.toml"
    config.write_text(EVALUATOR_CONFIG.format(callable="example_quadratik"))
    run = nasforge(tmp_path, "search", str(config), "--storage",
                   f"sqlite:///{tmp_path / 'runs.db'}")
    assert run.returncode == 2, run.stderr
    assert "example_quadratik" in run.stderr and "example_quadratic" in run.stderr
    assert "nasforge.evaluators" in run.stderr
