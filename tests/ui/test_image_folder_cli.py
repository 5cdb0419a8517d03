"""`images:DIR` and `[data] augment` through the config and the CLI: paths relative to the
config file, the setting reaching the evaluator (inline and in a worker's recipe), and bad
folders or augmentations exiting 2 before anything is written."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nasforge.config import from_dict, load
from nasforge.errors import ConfigError
from nasforge.evaluator_setup import EvaluatorRecipe, build_evaluator
from nasforge.ui.cli import app

sys.path.insert(0, str(Path(__file__).parents[1] / "evaluator"))
from test_images import BAD, _bad, write_digits  # noqa: E402

SPACE = ('[space]\nfamilies = ["cnn"]\nnorm = ["batch"]\n'
         '[space.cnn]\nstages = 1\nconvs_per_stage = 1\nchannels = 4\nhead_width = 0\n')


def _config(folder: Path, data: str = "") -> Path:
    path = folder / "run.toml"
    path.write_text('[search]\nname = "imgs"\nbudget = 2\nseed = 1\n'
                    f'[data]\ndataset = "images:pics"\n{data}\n'
                    '[training]\nepochs = 1\nbatch_size = 32\nmeasure_latency = false\n'
                    + SPACE)
    return path


def test_the_folder_resolves_against_the_config_and_augment_reaches_workers(
        tmp_path: Path) -> None:
    write_digits(tmp_path / "pics", range(120))
    config = load(_config(tmp_path, 'augment = ["crop", "flip"]\nimage_size = 12'))
    assert config.data.dataset == f"images:{tmp_path / 'pics'}"
    assert config.data.augment == ("crop", "flip")
    evaluator = build_evaluator(config)
    assert evaluator.data.augment == ("crop", "flip")  # type: ignore[attr-defined]
    assert evaluator.data.spec.input_shape == (1, 12, 12)  # type: ignore[attr-defined]
    in_worker = EvaluatorRecipe.of(config)()
    assert in_worker.data.augment == ("crop", "flip")  # type: ignore[attr-defined]


@pytest.mark.parametrize(("augment", "message"), [
    ('"flip"', None),
    ('["flip", "flip"]', "names an augmentation twice"),
    ("[1]", r"augment = \[1\]; use a list of augmentation names"),
])
def test_augment_values_in_the_config(tmp_path: Path, augment: str, message: str | None
                                      ) -> None:
    path = _config(tmp_path, f"augment = {augment}")
    if message is None:
        assert load(path).data.augment == ("flip",)
    else:
        with pytest.raises(ConfigError, match=message):
            load(path)


@pytest.mark.parametrize(("data", "setup", "message"), [
    ("", "missing", "Image folder .*pics not found"),
    ("", "one class", "only one class folder"),
    ('augment = ["flipp"]', "ok", r"Unknown augmentation 'flipp'.*Did you mean 'flip'"),
    ("image_size = 0", "ok", "image_size = 0 must be a whole number of pixels"),
])
def test_bad_input_exits_2_and_writes_nothing(tmp_path: Path, data: str, setup: str,
                                              message: str) -> None:
    if setup == "ok":
        write_digits(tmp_path / "pics", range(60))
    elif setup == "one class":
        write_digits(tmp_path / "pics", range(60), classes=1)
    db = tmp_path / "s.db"
    result = CliRunner().invoke(app, ["search", str(_config(tmp_path, data)), "--storage",
                                      f"sqlite:///{db}"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    import re

    assert re.search(message, " ".join(result.stderr.split())), result.stderr
    assert not db.exists()


@pytest.mark.parametrize("case", sorted(BAD))
def test_every_bad_folder_exits_2_naming_it_before_any_write(tmp_path: Path, case: str
                                                             ) -> None:
    import re

    root = _bad(tmp_path, case)
    config = tmp_path / "run.toml"
    config.write_text(_config(tmp_path).read_text().replace("images:pics", f"images:{root}"))
    db = tmp_path / "s.db"
    result = CliRunner().invoke(app, ["search", str(config), "--storage", f"sqlite:///{db}"])
    assert result.exit_code == 2, result.output
    assert "error:" in result.stderr and "Traceback" not in result.output
    assert re.search(BAD[case], " ".join(result.stderr.split())), result.stderr
    assert not db.exists()


def test_augment_on_tabular_data_is_refused_before_any_write(tmp_path: Path) -> None:
    import numpy as np

    from nasforge.evaluator_setup import load_checked

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "t.npz", x=rng.normal(size=(60, 5)), y=rng.integers(0, 2, 60))
    raw = {"search": {"name": "t", "budget": 1},
           "data": {"dataset": f"npz:{tmp_path / 't.npz'}", "augment": ["crop"]},
           "training": {"epochs": 1}, "space": {"families": ["mlp"]}}
    with pytest.raises(ConfigError, match="remove augment for tabular data"):
        load_checked(from_dict(raw))
