from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nasforge.errors import SpaceError
from nasforge.searchspace.params import Choice, FloatRange, IntRange, param_from_spec

PARAMS = [
    Choice(("relu", "gelu", "silu")),
    Choice((16, 32, 64.0, True)),
    Choice(("only",)),
    IntRange(1, 5),
    IntRange(0, 100, step=10),
    IntRange(8, 1024, log=True),
    IntRange(3, 3),
    FloatRange(0.0, 0.5),
    FloatRange(1e-5, 1e-1, log=True),
]


@pytest.mark.parametrize("param", PARAMS, ids=repr)
@given(seed=st.integers(0, 2**32 - 1))
@settings(max_examples=30, deadline=None)
def test_sample_mutate_encode_stay_valid(param, seed):
    rng = np.random.default_rng(seed)
    value = param.sample(rng)
    assert param.validate(value, "p") == value
    mutated = param.mutate(value, rng)
    assert param.validate(mutated, "p") == mutated
    if param.size is None or param.size > 1:
        if not (isinstance(param, FloatRange) and param.low == param.high):
            assert mutated != value
    u = param.encode(value)
    assert 0.0 <= u <= 1.0
    back = param.decode(u)
    if isinstance(param, FloatRange):
        assert math.isclose(back, value, rel_tol=1e-9, abs_tol=1e-12)
    else:
        assert back == value


@pytest.mark.parametrize("param", [p for p in PARAMS if p.size is not None], ids=repr)
def test_decode_covers_every_value_and_clips(param):
    values = list(param.values())
    assert [param.decode(param.encode(v)) for v in values] == values
    decoded = {param.decode(u) for u in np.linspace(0, 1, 2001)}
    assert decoded <= set(values)
    if len(values) <= 100:  # equal bins: a fine grid reaches every value
        assert decoded == set(values)
    assert param.decode(-3.0) == param.decode(0.0)
    assert param.decode(7.0) == param.decode(1.0)


def test_choice_keeps_bool_and_int_apart():
    c = Choice((1, True))
    assert c.validate(True, "x") is True
    assert c.validate(1.0, "x") == 1 and c.validate(1.0, "x") is not True


@pytest.mark.parametrize("make, message", [
    (lambda: IntRange(5, 1), "inverted"),
    (lambda: FloatRange(1.0, 0.1), "inverted"),
    (lambda: FloatRange(0.0, 1.0, log=True), "low > 0"),
    (lambda: IntRange(0, 10, log=True), "low >= 1"),
    (lambda: IntRange(0, 10, step=3), "grid"),
    (lambda: Choice(()), "at least one"),
    (lambda: Choice(("a", "a")), "duplicates"),
    (lambda: FloatRange(0.0, float("nan")), "finite"),
])
def test_bad_parameters_are_refused(make, message):
    with pytest.raises(SpaceError, match=message):
        make()


def test_validate_message_names_parameter_value_and_allowed():
    with pytest.raises(SpaceError) as err:
        IntRange(1, 4).validate(9, "mlp.depth")
    assert "'mlp.depth'" in str(err.value) and "9" in str(err.value) and "1 to 4" in str(err.value)
    with pytest.raises(SpaceError) as err:
        Choice(("relu", "gelu")).validate("relux", "activation")
    assert "'relux'" in str(err.value) and "'relu'" in str(err.value)


def test_param_from_spec_spellings():
    assert param_from_spec(0.1, "lr") == Choice((0.1,))
    assert param_from_spec(["a", "b"], "x") == Choice(("a", "b"))
    assert param_from_spec({"low": 1, "high": 4}, "d") == IntRange(1, 4)
    assert param_from_spec({"low": 1e-4, "high": 1e-1, "log": True}, "lr") == FloatRange(
        1e-4, 1e-1, log=True)
    assert param_from_spec({"low": 0, "high": 1, "type": "float"}, "x") == FloatRange(0.0, 1.0)
    with pytest.raises(SpaceError, match="unknown key"):
        param_from_spec({"low": 1, "hgh": 4}, "d")
    with pytest.raises(SpaceError, match="inverted"):
        param_from_spec({"low": 4, "high": 1}, "d")
