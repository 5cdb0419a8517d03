"""`nasforge import nni`: NNI's documented search spaces (tests/data/nni/) converted into
configs that load, whose spaces sample NNI's domain (bounds, choices, log scale, step grid,
conditions), and a search that runs on one; bad input exits 2 naming its JSON path and
writes nothing."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nasforge.config import SearchConfig, load
from nasforge.errors import ConfigError, NasforgeError
from nasforge.frozen import thaw
from nasforge.importers.nni import convert, read_search_space
from nasforge.searchspace.params import Choice, FloatRange, IntRange
from nasforge.ui.import_command import run_nni_import

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "nni"
TESTS = ROOT / "tests"


def imported(tmp_path: Path, fixture: str) -> tuple[Path, str]:
    out = tmp_path / f"{fixture}.toml"
    report = run_nni_import(DATA / f"{fixture}.json", out, objectives=["accuracy:max"],
                            evaluator=None, name=None, budget=20, strategy="tpe", force=False)
    return out, report


def loaded(tmp_path: Path, fixture: str) -> SearchConfig:
    """Convert, then name a real evaluator in the written config (as the report says), load."""
    out, _ = imported(tmp_path, fixture)
    text = out.read_text()
    assert 'callable = "my_trial:evaluate"' in text
    out.write_text(text.replace('"my_trial:evaluate"', '"nni_trial:evaluate"'))
    return load(out)


def samples(config: SearchConfig, n: int = 4000) -> list[dict[str, object]]:
    rng = np.random.default_rng(0)
    return [dict(config.space.sample(rng)) for _ in range(n)]


def test_the_placeholder_evaluator_does_not_load_until_named(tmp_path: Path):
    out, report = imported(tmp_path, "search_space")
    assert "set [evaluator] callable" in report
    with pytest.raises(ConfigError, match="my_trial"):
        load(out)


def test_doc_example_samples_nnis_domain(tmp_path: Path):
    config = loaded(tmp_path, "search_space")
    params = config.space.params
    assert config.name == "search_space" and [str(o) for o in config.objectives] == \
        ["accuracy:max"]
    assert params["conv_size"] == Choice((2, 3, 5, 7))
    assert params["hidden_size"] == Choice((124, 512, 1024))
    assert params["batch_size"] == Choice((50, 250, 500))
    assert params["dropout_rate"] == FloatRange(0.1, 0.5)
    assert params["learning_rate"] == FloatRange(0.0001, 0.1)
    drawn = samples(config)
    for name, low, high in (("dropout_rate", 0.1, 0.5), ("learning_rate", 0.0001, 0.1)):
        values = np.array([s[name] for s in drawn])
        assert low <= values.min() < low + 0.01 * (high - low)
        assert high - 0.01 * (high - low) < values.max() <= high
        assert abs(np.median(values) - (low + high) / 2) < 0.03 * (high - low)  # uniform
    assert {s["conv_size"] for s in drawn} == {2, 3, 5, 7}


def test_mnist_pytorch_example_keeps_a_float_range_of_whole_bounds(tmp_path: Path):
    config = loaded(tmp_path, "mnist_pytorch")
    assert config.space.params["momentum"] == FloatRange(0.0, 1.0)  # not the ints 0 and 1
    assert config.space.params["lr"] == Choice((0.0001, 0.001, 0.01, 0.1))
    momentum = [s["momentum"] for s in samples(config, 500)]
    assert len(set(momentum)) == 500 and all(0.0 <= m <= 1.0 for m in momentum)


def test_nested_choices_become_conditions(tmp_path: Path):
    config = loaded(tmp_path, "nested")
    params = config.space.params
    assert params["optimizer"] == Choice(("sgd", "adam"))
    assert params["layers"] == IntRange(1, 4)  # randint [1, 5): 5 excluded
    lr = params["optimizer.sgd.learning_rate"]
    assert lr == FloatRange(0.0001, 0.1, log=True)
    assert params["optimizer.adam.schedule.step.gamma"] == Choice((0.1, 0.2, 0.3, 0.4, 0.5))
    drawn = samples(config)
    for s in drawn:
        sgd, adam = s["optimizer"] == "sgd", s["optimizer"] == "adam"
        assert ("optimizer.sgd.learning_rate" in s) == sgd
        assert ("optimizer.sgd.momentum" in s) == sgd
        assert ("optimizer.adam.beta1" in s) == adam
        assert ("optimizer.adam.schedule" in s) == adam
        step = adam and s["optimizer.adam.schedule"] == "step"
        assert ("optimizer.adam.schedule.step.gamma" in s) == step
    rates = np.array([s["optimizer.sgd.learning_rate"] for s in drawn
                      if "optimizer.sgd.learning_rate" in s])
    # log-uniform: the median is the geometric mean of the bounds, not their midpoint
    assert abs(math.log10(np.median(rates)) - math.log10(math.sqrt(0.0001 * 0.1))) < 0.15
    assert 0.0001 <= rates.min() and rates.max() <= 0.1
    assert {s["layers"] for s in drawn} == {1, 2, 3, 4}


def test_every_bounded_type_and_what_is_not_mapped(tmp_path: Path):
    config = loaded(tmp_path, "all_types")
    params = config.space.params
    assert params["activation"] == Choice(("relu", "tanh", 1, 0.5, True))
    assert params["depth"] == IntRange(2, 8)
    assert params["width"] == IntRange(16, 256, step=16)
    assert params["clipped"] == Choice((2, 5, 10))  # NNI's documented values of [2, 10, 5]
    assert params["quarter"] == Choice((0.0, 2.5, 5.0, 7.5, 10.0))  # and of [0, 10, 2.5]
    assert params["units"] == IntRange(8, 512, log=True)  # qloguniform q=1: exact
    assert params["decay"] == FloatRange(0.001, 1.0, log=True)  # its step dropped, said so
    assert not {"noise", "scale", "steps", "shape"} & set(params)
    drawn = samples(config)
    widths = {s["width"] for s in drawn}
    assert widths == set(range(16, 257, 16))
    units = np.array([s["units"] for s in drawn])
    assert units.min() >= 8 and units.max() <= 512
    assert abs(np.median(units) - math.sqrt(8 * 512)) < 10  # log scale: near 64, not 260
    text = (tmp_path / "all_types.toml").read_text()
    assert "# $.noise: normal [0, 1]: normal is unbounded" in text


def test_report_names_what_mapped_and_what_could_not(tmp_path: Path):
    _, report = imported(tmp_path, "all_types")
    assert "9 parameter(s) mapped, 4 not mapped" in report
    assert "mapped      width: int range 16..256 step 16  <- $.width quniform" in report
    assert "note        decay: step q = 0.001 dropped" in report
    assert "not mapped  $.noise (normal [0, 1]): normal is unbounded" in report
    assert "noise = { low = -3.0, high = 3.0 }" in report
    assert "scale = { low = 0.22313, high = 4.48169, log = true }" in report
    assert "not mapped  $.shape (choice [[64, 64], [128]]): option $.shape._value[0] is a list" \
        in report


def test_duplicates_are_kept_once_and_names_never_collide():
    converted = convert({"a": {"_type": "choice", "_value": [1, 1.0, 2]}})
    assert converted.params["a"] == (1, 2) and "listed twice" in converted.notes[0].outcome
    taken = r'\$\["optimizer.sgd.m"\].*taken by \$\.optimizer\._value\[0\]\.m'
    with pytest.raises(ConfigError, match=taken):
        convert({"optimizer": {"_type": "choice", "_value": [
            {"_name": "sgd", "m": {"_type": "uniform", "_value": [0, 1]}}]},
            "optimizer.sgd.m": {"_type": "uniform", "_value": [0, 1]}})


@pytest.mark.parametrize("fixture", ["search_space", "nested", "mnist_pytorch", "all_types"])
def test_the_written_config_holds_exactly_the_conversion(tmp_path: Path, fixture: str):
    out, _ = imported(tmp_path, fixture)
    written = tomllib.loads(out.read_text())
    converted = convert(json.loads((DATA / f"{fixture}.json").read_text()))
    assert written["space"]["params"] == thaw(converted.params)
    conditions = {k: {p: list(v) for p, v in c.items()} for k, c in converted.conditions.items()}
    assert written["space"].get("conditions", {}) == conditions


def test_odd_names_and_strings_survive_the_toml(tmp_path: Path):
    odd = {'a "quoted" name': {"_type": "choice", "_value": [
               "new\nline", "tab\t", "\u00e9\U0001f600", "back\\slash", "\u007f"]},
           "x": {"_type": "choice", "_value": [{"_name": "sub space", "y z": {
               "_type": "uniform", "_value": [0, 1]}}]}}
    source = tmp_path / "odd.json"
    source.write_text(json.dumps(odd))
    out = tmp_path / "odd.toml"
    report = run_nni_import(source, out, objectives=["accuracy:max"], evaluator=None,
                            name=None, budget=3, strategy="random", force=False)
    assert '$["a \\"quoted\\" name"]' in report
    written = tomllib.loads(out.read_text())
    assert written["space"]["params"]['a "quoted" name'] == odd['a "quoted" name']["_value"]
    assert written["space"]["conditions"] == {"x.sub space.y z": {"x": ["sub space"]}}


def test_bad_options_exit_before_anything_is_written(tmp_path: Path):
    def run(out: Path, objective: str = "accuracy:max", strategy: str = "tpe",
            evaluator: str | None = None) -> str:
        with pytest.raises(NasforgeError) as caught:
            run_nni_import(DATA / "search_space.json", out, objectives=[objective],
                           evaluator=evaluator, name=None, budget=3, strategy=strategy,
                           force=False)
        return str(caught.value)

    out = tmp_path / "out.toml"
    assert "direction 'up'" in run(out, objective="accuracy:up")
    assert "tpe" in run(out, strategy="tpee")
    assert '"module:function"' in run(out, evaluator="my_trial")
    assert "does not exist; create it first" in run(tmp_path / "missing" / "out.toml")
    assert "is a folder" in run(tmp_path)
    assert not out.exists()
    with pytest.raises(ConfigError, match="does not exist"):
        run_nni_import(tmp_path / "nope.json", out, objectives=["accuracy:max"], evaluator=None,
                       name=None, budget=3, strategy="tpe", force=False)


def test_large_quniform_grids_keep_their_step_or_say_what_was_dropped():
    def one(value: list[float]) -> tuple[object, list[str]]:
        converted = convert({"w": {"_type": "quniform", "_value": value}})
        return converted.params["w"], [line.outcome for line in converted.notes]

    assert one([0, 1000, 10]) == ({"low": 0, "high": 1000, "step": 10}, [])
    assert one([0, 1000, 1]) == ({"low": 0, "high": 1000}, [])
    spec, notes = one([5, 1003, 10])
    assert spec == {"low": 10, "high": 1000, "step": 10} and "(low 5, high 1003)" in notes[0]
    spec, notes = one([0, 100, 0.1])
    assert spec == {"low": 0.0, "high": 100.0} and notes[0].startswith("step q = 0.1 dropped")


BAD = {
    "not_json": ("{\"lr\": {\"_type\": \"uniform\", \"_value\": [0, 1],}}", "$: not valid JSON"),
    "nan": ('{"lr": {"_type": "uniform", "_value": [0, NaN]}}', "NaN is not a number"),
    "top_level_list": ("[1, 2]", "$ is a list"),
    "empty": ("{}", "$ is an empty object"),
    "not_object": ('{"lr": 0.1}', "$.lr is the number 0.1"),
    "no_type": ('{"lr": {"_value": [0, 1]}}', "$.lr has no _type"),
    "no_value": ('{"lr": {"_type": "uniform"}}', "$.lr has no _value"),
    "unknown_type": ('{"lr": {"_type": "gauss", "_value": [0, 1]}}',
                     '$.lr._type = "gauss" is not an NNI type; use one of choice, randint'),
    "reversed": ('{"lr": {"_type": "uniform", "_value": [1, 0]}}',
                 "$.lr._value: the bounds are reversed"),
    "randint_empty": ('{"n": {"_type": "randint", "_value": [3, 3]}}',
                      "$.n._value: randint draws from lower"),
    "empty_choice": ('{"opt": {"_type": "choice", "_value": []}}',
                     "$.opt._value is an empty choice"),
    "arity": ('{"w": {"_type": "quniform", "_value": [0, 10]}}',
              "$.w._value = [0, 10]; quniform takes [low, high, q]"),
    "q_zero": ('{"w": {"_type": "quniform", "_value": [0, 10, 0]}}',
               "$.w._value: q = 0 must be above 0"),
    "log_zero": ('{"lr": {"_type": "loguniform", "_value": [0, 1]}}',
                 "$.lr._value: loguniform needs bounds above 0"),
    "nested_bad": ('{"optimizer": {"_type": "choice", "_value": [{"_name": "sgd", "m": '
                   '{"_type": "uniform", "_value": [2, 1]}}]}}',
                   "$.optimizer._value[0].m._value: the bounds are reversed"),
    "no_name": ('{"optimizer": {"_type": "choice", "_value": [{"m": 1}]}}',
                "$.optimizer._value[0] is a sub-space without a _name"),
    "nothing_maps": ('{"x": {"_type": "normal", "_value": [0, 1]}}',
                     "nothing maps to a nasforge parameter"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_names_the_json_path_and_writes_nothing(tmp_path: Path, case: str):
    text, message = BAD[case]
    source = tmp_path / "space.json"
    source.write_text(text)
    with pytest.raises(ConfigError) as caught:
        run_nni_import(source, tmp_path / "out.toml", objectives=["accuracy:max"],
                       evaluator=None, name=None, budget=5, strategy="tpe", force=False)
    assert message in str(caught.value)
    assert str(caught.value).startswith(str(source))
    assert not (tmp_path / "out.toml").exists()


def test_read_search_space_names_only_the_path():
    with pytest.raises(ConfigError, match=r"^\$\.a\._type"):
        convert(read_search_space('{"a": {"_type": 3, "_value": []}}'))


# ----------------------------------------------------------------------- the command itself
def nasforge(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(TESTS)]),
           "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "nasforge", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_command_converts_refuses_to_overwrite_and_the_search_runs(tmp_path: Path):
    out = tmp_path / "run.toml"
    done = nasforge(tmp_path, "import", "nni", str(DATA / "nested.json"), "-o", str(out),
                    "--objective", "accuracy:max", "--objective", "loss:min",
                    "--evaluator", "nni_trial:evaluate", "--budget", "6")
    assert done.returncode == 0, done.stderr
    assert "7 parameter(s) mapped, 0 not mapped" in done.stdout
    assert "mapped      optimizer.sgd.momentum: float range 0..1 (only when optimizer = sgd)" \
        in done.stdout
    assert f"next: nasforge search {out}" in done.stdout
    before = out.read_text()
    again = nasforge(tmp_path, "import", "nni", str(DATA / "search_space.json"), "-o", str(out))
    assert again.returncode == 2 and "exists; pass --force" in again.stderr
    assert out.read_text() == before

    url = f"sqlite:///{tmp_path / 'runs.db'}"
    searched = nasforge(tmp_path, "search", str(out), "--storage", url)
    assert searched.returncode == 0, searched.stderr
    shown = nasforge(tmp_path, "show", "nested", "--storage", url, "--json")
    trials = json.loads(shown.stdout)["trials"]
    assert [t["state"] for t in trials] == ["COMPLETE"] * 6
    for trial in trials:
        arch = trial["arch"]
        assert ("optimizer.sgd.momentum" in arch) == (arch["optimizer"] == "sgd")
        assert set(trial["metrics"]) >= {"accuracy", "loss"}

    forced = nasforge(tmp_path, "import", "nni", str(DATA / "search_space.json"), "-o",
                      str(out), "--force")
    assert forced.returncode == 0, forced.stderr
    assert "dropout_rate = { low = 0.1, high = 0.5 }" in out.read_text()


@pytest.mark.slow
@pytest.mark.parametrize("case", ["reversed", "unknown_type", "nothing_maps"])
def test_command_exits_2_naming_the_json_path(tmp_path: Path, case: str):
    text, message = BAD[case]
    (tmp_path / "space.json").write_text(text)
    done = nasforge(tmp_path, "import", "nni", "space.json", "-o", "out.toml")
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out.toml").exists()
