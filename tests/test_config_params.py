"""[space.params] and [space.conditions]: a plain hyper-parameter space in a config."""

from __future__ import annotations

import numpy as np
import pytest

from nasforge.config import from_dict
from nasforge.errors import ConfigError
from nasforge.searchspace.params import Choice, FloatRange, IntRange

BASE = {"search": {"name": "p", "budget": 3, "objectives": ["score:max"]},
        "evaluator": {"callable": "json:dumps"}}


def space_of(space: dict) -> object:
    return from_dict({**BASE, "space": space}).space


def test_params_become_typed_parameters_with_conditions():
    space = space_of({
        "params": {"lr": {"low": 1e-4, "high": 1e-1, "log": True},
                   "depth": {"low": 1, "high": 8}, "opt": ["adam", "sgd"],
                   "momentum": {"low": 0.0, "high": 0.99}, "seed": 7},
        "conditions": {"momentum": {"opt": ["sgd"]}},
    })
    assert isinstance(space.params["lr"], FloatRange) and space.params["lr"].log
    assert isinstance(space.params["depth"], IntRange)
    assert isinstance(space.params["opt"], Choice)
    assert space.params["seed"].options == (7,)

    rng = np.random.default_rng(0)
    seen = [space.sample(rng) for _ in range(40)]
    assert all(("momentum" in a) == (a["opt"] == "sgd") for a in seen)
    assert {a["opt"] for a in seen} == {"adam", "sgd"}
    assert "family" not in seen[0]


@pytest.mark.parametrize(("space", "fragment"), [
    ({"params": {}}, "[space.params] is empty"),
    ({"params": {"lr": 0.1}, "families": ["mlp"]}, "[space] families"),
    ({"params": {"lr": 0.1}, "mlp": {"depth": 2}}, "[space] mlp"),
    ({"params": {"lr": {"low": 1, "hi": 2}}}, "'lr'"),
    ({"params": {"lr": 0.1}, "conditions": {"mom": {"lr": [0.1]}}}, "'mom'"),
    ({"params": {"lr": 0.1, "m": 1}, "conditions": {"m": {"opt": ["sgd"]}}}, "'opt'"),
    ({"params": {"lr": 0.1, "m": 1}, "conditions": {"m": "sgd"}}, "[space.conditions] m"),
    ({"conditions": {"m": {"opt": ["sgd"]}}}, "[space.conditions] needs [space.params]"),
])
def test_bad_plain_spaces_name_the_field_and_the_fix(space, fragment):
    with pytest.raises(ConfigError) as err:
        space_of(space)
    assert fragment in str(err.value)


def test_the_proxy_prefilter_is_refused_with_your_own_evaluator() -> None:
    raw = {**BASE, "search": {**BASE["search"],
                              "strategy_options": {"prefilter": {"proxy": "naswot"}}},
           "space": {"params": {"x": {"low": 0.0, "high": 1.0}}}}
    with pytest.raises(ConfigError, match="remove prefilter or \\[evaluator\\]"):
        from_dict(raw)
