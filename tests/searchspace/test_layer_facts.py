"""layer_facts against the layers the registries build, and its torch-free import."""

from __future__ import annotations

import subprocess
import sys

import pytest

from nasforge.errors import SpaceError
from nasforge.registry import Registry
from nasforge.searchspace.layer_facts import NORM_ACTIVATIONS, activation_params, norm_params
from nasforge.searchspace.layers import ACTIVATIONS, NORMS

CASES = [(NORMS, name, norm_params) for name in NORMS.names()] + [
    (ACTIVATIONS, name, activation_params) for name in ACTIVATIONS.names()]


def _builtin(registry: Registry, name: str) -> bool:
    return registry.get(name).__module__.startswith("nasforge.")


@pytest.mark.parametrize("dims", [0, 1, 2])
@pytest.mark.parametrize(("registry", "name", "count"), CASES,
                         ids=[f"{r.kind}-{n}" for r, n, _ in CASES])
def test_parameter_counts_match_the_built_modules(registry, name, count, dims) -> None:
    if not _builtin(registry, name):
        pytest.skip(f"{name!r} is not a built-in {registry.kind}")
    built = 0
    for channels in (1, 6, 7, 64):
        try:
            module = registry.get(name)(channels, dims)
        except SpaceError:
            continue
        built += 1
        expected = sum(p.numel() for p in module.parameters())
        assert count(name, channels, dims) == expected, (name, channels, dims)
    if built == 0:
        pytest.skip(f"{registry.kind} {name!r} does not support dims={dims}")


def test_every_builtin_name_is_known_and_others_are_not() -> None:
    for registry, name, count in CASES:
        if _builtin(registry, name):
            assert count(name, 8, 2) is not None, f"layer_facts does not know {name!r}"
    assert norm_params("my_norm", 8, 2) is None
    assert activation_params("my_act", 8, 0) is None
    assert norm_params("relu", 8, 2) is None and activation_params("batch", 8, 2) is None


def test_norm_activations_are_registered_norms() -> None:
    assert NORM_ACTIVATIONS == {"evonorm_b0", "evonorm_s0"}
    assert NORM_ACTIVATIONS <= set(NORMS.names())


def test_layer_facts_does_not_import_torch() -> None:
    code = ("import sys, nasforge.searchspace.layer_facts; "
            "print('torch' in sys.modules, 'nasforge.searchspace.layers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
