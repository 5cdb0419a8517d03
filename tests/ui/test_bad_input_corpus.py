"""A corpus of bad inputs to `nasforge search`: each exits with code 2, a one-paragraph
error that names the problem (checked by a fragment of it), no traceback, and a store that
already holds a search is left byte-for-byte unchanged."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_CONFIG
from typer.testing import CliRunner

from nasforge.ui.cli import app

BASE = TINY_CONFIG.format(budget=1, epochs=1, dataset="digits", activation='["relu"]',
                          depth="1")


# a plain parameter space with your own evaluator ([evaluator] callable filled in)
PLAIN = ('[search]\nname = "plain"\nbudget = 1\nobjectives = ["score:max"]\n'
         "[space.params]\nlr = {{ low = 1e-4, high = 1e-1, log = true }}\n"
         "[evaluator]\ncallable = {}\n")


def edit(old: str, new: str) -> str:
    assert old in BASE, old
    return BASE.replace(old, new, 1)


def data(name: str) -> str:
    return edit('dataset = "digits"', f'dataset = "{name}"')


def train(line: str) -> str:
    return edit("epochs = 1", f"epochs = 1\n{line}")


def space(line: str) -> str:
    return edit('norm = ["none", "batch"]', f'norm = ["none", "batch"]\n{line}')


def search(line: str) -> str:
    return edit("seed = 0", f"seed = 0\n{line}")


CASES: dict[str, tuple[str, str]] = {  # name: (config text, a fragment of the error)
    "malformed toml": (edit("budget = 1", "budget = "), "not valid TOML"),
    "misspelt section": (edit("[search]", "[serch]"), "Did you mean 'search'"),
    "unknown section": (BASE + "\n[foo]\nx = 1\n", "Unknown field 'foo'"),
    "unknown key": (search("budgett = 3"), "Did you mean 'budget'"),
    "budget string": (edit("budget = 1", 'budget = "ten"'), "budget = 'ten'"),
    "budget zero": (edit("budget = 1", "budget = 0"), "use a whole number from 1"),
    "budget negative": (edit("budget = 1", "budget = -5"), "budget = -5"),
    "budget absurd": (edit("budget = 1", "budget = 1e12"), "budget = 1000000000000.0"),
    "budget nan": (edit("budget = 1", "budget = nan"), "budget = nan"),
    "seed string": (edit("seed = 0", 'seed = "abc"'), "seed = 'abc'"),
    "no objectives": (edit('objectives = ["accuracy:max", "params:min"]', "objectives = []"),
                      "At least one objective"),
    "bad direction": (edit('"accuracy:max"', '"accuracy:up"'), "use 'max' or 'min'"),
    "unknown metric": (edit('"accuracy:max"', '"acurracy:max"'), "Did you mean 'accuracy'"),
    "metric twice": (edit('"params:min"', '"accuracy:min"'), "name a metric twice"),
    "unknown strategy": (search('strategy = "evolutionn"'), "Did you mean 'evolution'"),
    "bad strategy option": (search('strategy = "evolution"\n'
                                   'strategy_options = { population_size = "x" }'),
                            "population_size = 'x'"),
    "unknown strategy option": (search('strategy = "evolution"\n'
                                       "strategy_options = { populatoin = 3 }"),
                                "Did you mean 'population_size'"),
    "unknown dataset": (data("digitz"), "Did you mean 'digits'"),
    "missing file": (data("csv:files/none.csv"), "not found"),
    "empty csv": (data("csv:files/empty.csv"), "is empty"),
    "header only": (data("csv:files/header.csv"), "no data rows"),
    "nan features": (data("csv:files/nan.csv"), "NaN or infinite"),
    "text features": (data("csv:files/text.csv"), "not numeric"),
    "one class": (data("csv:files/one_class.csv"), "at least 2"),
    "labels out of range": (data("csv:files/labels.csv"), "out of range"),
    "num_classes far above the labels": (
        data("csv:files/three.csv").replace("[training]", "num_classes = 1000000\n\n[training]"),
        "num_classes = 1000000 is far above the classes in column 'label' (labels 0..2"),
    "folder as file": (data("csv:files/folder"), "Is a directory"),
    "npz without labels": (data("npz:files/no_y.npz"), "it needs 'x' and 'y'"),
    "npz lengths differ": (data("npz:files/mismatch.npz"), "labels must have shape"),
    "npz not an archive": (data("npz:files/garbage.npz"), "Cannot read NPZ file"),
    "val fraction": (edit('dataset = "digits"', 'dataset = "digits"\nval_fraction = 1.5'),
                     "strictly between 0 and 1"),
    "fractions leave nothing": (edit('dataset = "digits"', 'dataset = "digits"\n'
                                     "val_fraction = 0.6\ntest_fraction = 0.5"),
                                "data must remain for training"),
    "width 10^9": (edit("width = [16, 32, 64]", "width = [1000000000]"), "absurdly large"),
    "depth 1000": (edit("depth = 1", "depth = 1000"), "absurdly large"),
    "width zero": (edit("width = [16, 32, 64]", "width = [0]"), "whole numbers >= 1"),
    "unknown activation": (edit('activation = ["relu"]', 'activation = ["relux"]'),
                           "Did you mean 'relu'"),
    "unknown norm": (edit('norm = ["none", "batch"]', 'norm = ["batchh"]'),
                     "Did you mean 'batch'"),
    "unknown family": (edit('families = ["mlp"]', 'families = ["transformer"]'),
                       "Registered families"),
    "inverted range": (edit("low = 1e-3, high = 1e-2", "low = 1e-2, high = 1e-3"),
                       "inverted"),
    "log range below zero": (edit("low = 1e-3, high = 1e-2", "low = -1, high = 1e-2"),
                             "needs low > 0"),
    "epochs zero": (edit("epochs = 1", "epochs = 0"), "epochs must be whole numbers"),
    "batch size zero": (train("batch_size = 0"), "batch_size must be whole numbers"),
    "batch size absurd": (train("batch_size = 1000000000"), "batch_size must be whole"),
    "unknown device": (train('device = "tpu"'), "device = 'tpu'"),
    "unknown optimizer": (train('optimizer = "lion"'), "use one of sgd, adam, adamw"),
    "unknown precision": (train('precision = "fp8"'), "precision = 'fp8'"),
    "unknown checkpoint mode": (train('checkpoints = "some"'), "checkpoints = 'some'"),
    "checkpoint_dir is a file": (train('checkpoint_dir = "files/empty.csv"'),
                                 "empty.csv is a file, not a folder"),
    "checkpoint_dir under a file": (train('checkpoint_dir = "files/empty.csv/weights"'),
                                    "[training] checkpoint_dir: cannot write checkpoints"),
    "bit width 3": (space("weight_bits = [3]"), "not a supported bit width"),
    "dropout 2": (space("dropout = 2.0"), "out of range"),
    "params without evaluator": (BASE.split("[space]")[0] + "[space.params]\nlr = 0.1\n",
                                 "[space.params] needs your own evaluator"),
    "params with families": (BASE + "\n[space.params]\nlr = 0.1\n",
                             "cannot be used with [space.params]"),
    "evaluator module missing": (PLAIN.format('"no_such_module_xyz:score"'),
                                 "module 'no_such_module_xyz' does not import"),
    "evaluator not module:function": (PLAIN.format('"json"'),
                                      'is neither "module:function" nor an entry point'),
    "evaluator attribute missing": (PLAIN.format('"json:nope"'), "'json' has no 'nope'"),
    "evaluator not callable": (PLAIN.format('"json:__doc__"'), "not a function"),
    "evaluator with data": (PLAIN.format('"json:dumps"') + '[data]\ndataset = "digits"\n',
                            "remove [data]"),
    "evaluator with training": (PLAIN.format('"json:dumps"') + "[training]\nepochs = 3\n",
                                "remove [training]"),
    "condition on unknown param": (PLAIN.format('"json:dumps"')
                                   + "[space.conditions]\nlr = { opt = [\"sgd\"] }\n",
                                   "depends on 'opt'"),
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the bad data files and a store that holds one finished search."""
    root = tmp_path_factory.mktemp("corpus")
    files = root / "files"
    (files / "folder").mkdir(parents=True)
    (files / "empty.csv").write_text("")
    (files / "header.csv").write_text("a,b,label\n")
    rows = range(40)
    (files / "nan.csv").write_text("a,b,label\n" + "".join(f"nan,{i},{i % 2}\n" for i in rows))
    (files / "text.csv").write_text("a,b,label\n" + "".join(f"x{i},{i},{i % 2}\n" for i in rows))
    (files / "one_class.csv").write_text("a,b,label\n" + "".join(f"{i},{i},0\n" for i in rows))
    (files / "three.csv").write_text("a,b,label\n" + "".join(f"{i},{i * 2},{i % 3}\n"
                                                            for i in rows))
    (files / "labels.csv").write_text("a,b,label\n" + "".join(f"{i},{i * 2},{i % 3 - 1}\n"
                                                             for i in rows))
    np.savez(files / "no_y.npz", x=np.zeros((10, 3)))
    np.savez(files / "mismatch.npz", x=np.zeros((10, 3)), y=np.zeros(7))
    (files / "garbage.npz").write_bytes(b"not a zip archive")
    (root / "good.toml").write_text(BASE)
    result = CliRunner().invoke(app, ["search", str(root / "good.toml"), "--storage",
                                      f"sqlite:///{root / 'kept.db'}"])
    assert result.exit_code == 0, result.output
    return root


def test_the_corpus_is_large() -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_bad_input_exits_2_names_the_problem_and_keeps_the_store(corpus: Path, tmp_path: Path,
                                                                  case: str) -> None:
    text, fragment = CASES[case]
    config = corpus / f"{case.replace(' ', '_')}.toml"  # beside files/: relative paths resolve
    config.write_text(text)
    store = tmp_path / "kept.db"
    shutil.copy(corpus / "kept.db", store)
    before = store.read_bytes()
    result = CliRunner().invoke(app, ["search", str(config), "--storage", f"sqlite:///{store}",
                                      "--name", "another"])
    assert result.exit_code == 2, result.output
    assert "error:" in result.stderr and fragment in result.stderr, result.stderr
    assert "Traceback" not in result.output
    assert store.read_bytes() == before


RUN_OPTIONS = {  # options of this run (not of the config): same rules
    "unknown executor": (["--executor", "spark"], "use one of local, ray"),
    "ray address without ray": (["--ray-address", "auto"], "needs --executor ray"),
    "unreachable ray cluster": (["--executor", "ray", "--ray-address", "127.0.0.1:1"],
                                "ray start --head"),
    "zero heartbeat timeout": (["--heartbeat-timeout", "0"], "number of seconds > 0"),
    "nan heartbeat timeout": (["--heartbeat-timeout", "nan"], "number of seconds > 0"),
    "zero workers": (["--workers", "0"], "whole number >= 1"),
    "more workers than the machine holds": (["--workers", "100000"], "at most"),
    "in-memory store": (["--storage", "sqlite:///:memory:"], "Use a file"),
}


@pytest.mark.parametrize("case", RUN_OPTIONS, ids=list(RUN_OPTIONS))
def test_bad_run_options_exit_2_and_keep_the_store(corpus: Path, tmp_path: Path,
                                                   case: str) -> None:
    options, fragment = RUN_OPTIONS[case]
    if "ray" in case and "executor" in options[0]:
        pytest.importorskip("ray")
    store = tmp_path / "kept.db"
    shutil.copy(corpus / "kept.db", store)
    before = store.read_bytes()
    result = CliRunner().invoke(app, ["search", str(corpus / "good.toml"), "--storage",
                                      f"sqlite:///{store}", "--name", "another", *options])
    assert result.exit_code == 2, result.output
    assert "error:" in result.stderr and fragment in result.stderr, result.stderr
    assert "Traceback" not in result.output
    assert store.read_bytes() == before
