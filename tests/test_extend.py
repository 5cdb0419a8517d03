"""The extension API in-process: registry origins and clashes, all-or-nothing stages, the
register_* functions (call and decorator), the portable-source check, and the plugin loader
with entry points made up here (tests/test_example_plugin.py runs the installed one).

Every registration into a shared registry happens inside a stage that is rolled back, so the
registries end as they began."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from importlib.metadata import EntryPoint

import numpy as np
import pytest
import torch
from portable_test_layers import Gain, Square

import nasforge
from nasforge import plugins
from nasforge.errors import ConfigError, UnknownNameError
from nasforge.extend import ClassBuild, check_portable
from nasforge.registry import Registry, RegistryClash, stage
from nasforge.searchspace.families import FAMILIES
from nasforge.searchspace.specs import ACTIVATIONS, ELEMENTWISE, NORMS, NOT_STACKABLE


class Undo(Exception):
    pass


@contextmanager
def undone(origin: str = "test plugin"):
    """A stage rolled back at the end (the registrations are visible inside)."""
    with pytest.raises(Undo), stage(origin) as staged:
        yield staged
        raise Undo


def test_entries_record_their_origin_and_a_clash_names_both():
    registry: Registry[int] = Registry("gadget")
    registry.register("a", 1)
    assert registry.origin("a") == __name__
    registry.register("b", 2, origin="plugin x")
    with pytest.raises(RegistryClash, match="Gadget 'b' is already registered by plugin x; "
                                            "plugin y tried to register it again"):
        registry.register("b", 3, origin="plugin y")
    assert isinstance(RegistryClash("m"), ValueError)  # old callers catch ValueError


def test_a_stage_is_all_or_nothing():
    one: Registry[int] = Registry("one")
    two: Registry[int] = Registry("two")
    one.register("kept", 0)
    with pytest.raises(RegistryClash), stage("plugin p"):
        one.register("new", 1)
        two.register("new", 2)
        one.register("kept", 3)  # clashes: the two above go too
    assert one.names() == ("kept",) and two.names() == ()
    with stage("plugin q") as staged:
        two.register("x", 1)
    assert two.origin("x") == "plugin q" and staged.added == []  # committed


def test_builtin_modules_imported_during_a_stage_stay_builtin():
    with undone("plugin late"):
        assert FAMILIES.origin("mlp") == "nasforge"
    assert "mlp" in FAMILIES


def test_register_activation_by_call_and_by_decorator():
    with undone():
        spec = nasforge.register_activation("square_t", Square, params=0, fused="elementwise")
        assert ACTIVATIONS.get("square_t") is spec and spec.origin == "test plugin"
        assert spec.fused is ELEMENTWISE and spec.source == ("portable_test_layers",)
        assert spec.export(8, 0) == "Square()" and isinstance(spec(8, 0), Square)
        assert spec.summary == "Square of x."

        decorate = nasforge.register_norm("gain_t", params=lambda c, d: c, fused="not_stackable")
        assert decorate(Gain) is Gain  # the decorator returns the class
        norm = NORMS.get("gain_t")
        assert NORMS.origin("gain_t") == "test plugin" and norm.fused is NOT_STACKABLE
        assert norm.export(16, 2) == "Gain(channels=16)" and norm.prefix == "norm"
        built = norm(16, 2)
        assert sum(p.numel() for p in built.parameters()) == norm.count_params(16, 2) == 16
    assert "square_t" not in ACTIVATIONS and "gain_t" not in NORMS


def test_a_class_reference_is_imported_on_first_build():
    with undone():
        spec = nasforge.register_activation("ref_t", "torch.nn:Hardtanh", params=0,
                                            fused="elementwise", source=())
        assert isinstance(spec.build, ClassBuild)
        assert spec.export(4, 1) == "Hardtanh()" and isinstance(spec(4, 1), torch.nn.Hardtanh)


def test_a_layer_missing_a_required_part_is_refused():
    with pytest.raises(TypeError, match="fused"):
        nasforge.register_activation("nofused_t", Square, params=0)  # type: ignore[call-arg]
    with pytest.raises(ConfigError, match="give export="):
        nasforge.register_activation("factory_t", lambda c, d: Square(), params=0,
                                     fused="elementwise")
    with pytest.raises(ConfigError, match="fused='sometimes'"):
        nasforge.register_activation("badfused_t", Square, params=0, fused="sometimes")
    assert not {"nofused_t", "factory_t", "badfused_t"} & set(ACTIVATIONS.names())


def test_a_layer_module_that_imports_more_than_torch_is_refused(tmp_path, monkeypatch):
    (tmp_path / "impure_layers.py").write_text("import numpy\nimport torch\n")
    (tmp_path / "pure_layers.py").write_text(
        "from __future__ import annotations\nimport math\nimport torch\n"
        "import torch.nn.functional as F\nfrom typing import Any\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    check_portable("pure_layers")
    with pytest.raises(ConfigError, match="imports 'numpy'.*only torch, math and typing"):
        check_portable("impure_layers")


def test_register_family_checks_its_parts():
    with pytest.raises(ConfigError, match="lacks plan"):
        nasforge.register_family("half_t", type("Half", (), {
            "params": lambda s, spec: ({}, {}), "canonicalizer": lambda s, spec: None,
            "check_data": lambda s, data: None, "layer_count_key": None}))
    assert "half_t" not in FAMILIES


def test_register_strategy_dataset_and_table():
    from nasforge.benchmark.registered import TABLES
    from nasforge.evaluator.data import DATASETS
    from nasforge.strategies import STRATEGIES

    with undone():
        @nasforge.register_strategy("strat_t")
        def strat(space, objectives, seed, **options):
            raise NotImplementedError

        nasforge.register_dataset("data_t", lambda ctx: None, options=("k",))
        nasforge.register_table("table_t", lambda: None)
        assert STRATEGIES.origin("strat_t") == DATASETS.origin("data_t") == "test plugin"
        assert DATASETS.get("data_t").options == frozenset({"k"})
        assert TABLES.origin("table_t") == "test plugin"
        with pytest.raises(RegistryClash, match="table_t.*already registered by test plugin"):
            nasforge.register_table("table_t", lambda: None)
    assert "strat_t" not in STRATEGIES and "table_t" not in TABLES


@pytest.fixture
def fresh_loader(monkeypatch, tmp_path):
    """The loader with no report yet, over made-up entry points in `tmp_path`."""
    monkeypatch.setattr(plugins, "_report", None)
    monkeypatch.delenv("NASFORGE_NO_PLUGINS", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    made: list[EntryPoint] = []
    monkeypatch.setattr(plugins, "entry_points", lambda group: list(made))
    yield tmp_path, made
    for name in ("good_t_plugin", "broken_t_plugin"):
        sys.modules.pop(name, None)


def test_the_loader_records_failures_rolls_them_back_and_names_them(fresh_loader):
    folder, made = fresh_loader
    (folder / "broken_t_plugin.py").write_text(
        "from nasforge import register_dataset\n"
        "register_dataset('half_data_t', lambda ctx: None)\n"
        "raise RuntimeError('boom')\n")
    made.append(EntryPoint("broken", "broken_t_plugin", plugins.GROUP))
    report = plugins.load_plugins()
    assert plugins.load_plugins() is report  # once per process
    (failure,) = report.failures
    assert failure.error == "RuntimeError: boom" and failure.dist == "unknown"
    assert failure.as_json()["ok"] is False
    from nasforge.evaluator.data import DATASETS

    assert "half_data_t" not in DATASETS
    with pytest.raises(UnknownNameError, match=r"Plugin broken \(entry point broken_t_plugin, "
                                               r"distribution unknown\) failed to load: "
                                               r"RuntimeError: boom"):
        DATASETS.get("half_data_t")


def test_the_loader_keeps_a_good_plugins_parts(fresh_loader):
    folder, made = fresh_loader
    (folder / "good_t_plugin.py").write_text(
        "from nasforge import register_dataset\n"
        "register_dataset('good_data_t', lambda ctx: None)\n")
    made.append(EntryPoint("good", "good_t_plugin", plugins.GROUP))
    from nasforge.evaluator.data import DATASETS

    try:
        (result,) = plugins.load_plugins().plugins
        assert result.ok and result.registered == ("dataset 'good_data_t'",)
        assert DATASETS.origin("good_data_t").startswith("plugin good (entry point good_t_plugin")
    finally:
        DATASETS._remove("good_data_t")


def test_the_loader_checks_specs_registered_around_the_api(fresh_loader):
    folder, made = fresh_loader
    (folder / "broken_t_plugin.py").write_text(
        "from nasforge.searchspace.specs import ACTIVATIONS, LayerSpec\n"
        "ACTIVATIONS.register('raw_t', LayerSpec('raw_t', 'activation', 'torch.nn:ReLU', None))\n")
    made.append(EntryPoint("raw", "broken_t_plugin", plugins.GROUP))
    (failure,) = plugins.load_plugins().failures
    assert "Activation 'raw_t' lacks export" in failure.error
    assert "raw_t" not in ACTIVATIONS


def test_a_plugin_norm_activation_subsumes_the_activation_like_evonorm(monkeypatch) -> None:
    """A norm registered after import with norm_activation=True is one everywhere: the space
    makes the activation conditional on the other norms, and an architecture holding it has
    no activation (not a snapshot of the built-in set taken at import)."""
    import dataclasses

    from nasforge.searchspace.assemble import assemble_space
    from nasforge.searchspace.families.base import FamilyView
    from nasforge.searchspace.specs import NORMS

    spec = dataclasses.replace(NORMS.get("evonorm_s0"), name="plugin_evonorm",
                               origin="plugin test")
    monkeypatch.setitem(NORMS._entries, "plugin_evonorm", spec)
    space = assemble_space(["mlp"], {"norm": ["batch", "plugin_evonorm"]}, {})
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(40)]
    assert {a["norm"] for a in archs} == {"batch", "plugin_evonorm"}
    for arch in archs:
        assert ("activation" in arch) == (arch["norm"] == "batch")
        if arch["norm"] == "plugin_evonorm":
            assert FamilyView("mlp", arch).activation is None
