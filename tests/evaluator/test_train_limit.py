"""`[data] train_limit`: a seeded, stratified sample of the training split (validation and test
whole), read from the config, applied by `load_dataset` and through it by every search."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nasforge import config as config_module
from nasforge.errors import ConfigError, DataError
from nasforge.evaluator.data import load_dataset
from nasforge.evaluator.data.fingerprint import data_fingerprint
from nasforge.evaluator_setup import load_checked


def test_the_limit_keeps_a_stratified_seeded_sample_of_train_only() -> None:
    whole = load_dataset("digits", seed=3)
    cut = load_dataset("digits", seed=3, train_limit=200)
    assert len(cut.y_train) == 200
    np.testing.assert_array_equal(cut.y_val, whole.y_val)
    np.testing.assert_array_equal(cut.y_test, whole.y_test)
    counts = np.bincount(cut.y_train, minlength=10)
    share = np.bincount(whole.y_train, minlength=10) * 200 / len(whole.y_train)
    assert np.all(np.abs(counts - share) < 1)  # each class its share, rounded
    # the kept samples are training samples (rows of the whole train split)
    rows = {r.tobytes() for r in whole.x_train.reshape(len(whole.x_train), -1)}
    assert all(r.tobytes() in rows for r in cut.x_train.reshape(200, -1))
    again = load_dataset("digits", seed=3, train_limit=200)
    np.testing.assert_array_equal(again.x_train, cut.x_train)
    other = load_dataset("digits", seed=4, train_limit=200)
    assert not np.array_equal(other.y_train, cut.y_train)


def test_a_limit_of_at_least_the_train_split_keeps_it_whole() -> None:
    whole = load_dataset("digits", seed=0)
    same = load_dataset("digits", seed=0, train_limit=len(whole.y_train))
    np.testing.assert_array_equal(same.x_train, whole.x_train)


def test_a_limit_below_the_classes_names_the_fix() -> None:
    with pytest.raises(DataError, match="train_limit = 5 keeps fewer .* 10 classes"):
        load_dataset("digits", seed=0, train_limit=5)


def test_regression_takes_a_plain_seeded_sample(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "r.npz", x=rng.normal(size=(100, 3)).astype(np.float32),
             y=rng.normal(size=100).astype(np.float32))
    cut = load_dataset(f"npz:{tmp_path / 'r.npz'}", seed=0, options={"task": "regression"},
                       train_limit=20)
    assert len(cut.y_train) == 20 and len(cut.y_val) == 20


def _config(tmp_path: Path, limit: str) -> Path:
    path = tmp_path / "run.toml"
    path.write_text(f'[search]\nname = "cut"\n[data]\ndataset = "digits"\n{limit}\n'
                    '[space]\nfamilies = ["mlp"]\n[space.mlp]\ndepth = 1\nwidth = 8\n')
    return path


def test_the_config_key_reaches_the_search_data_and_its_fingerprint(tmp_path: Path) -> None:
    config = config_module.load(_config(tmp_path, "train_limit = 300"))
    assert config.data.train_limit == 300
    dataset = load_checked(config)
    assert len(dataset.y_train) == 300
    whole = config_module.load(_config(tmp_path, ""))
    assert whole.data.train_limit is None
    assert (data_fingerprint(config.data, dataset)["split"]
            != data_fingerprint(whole.data, load_checked(whole))["split"])


@pytest.mark.parametrize("value", ["0", "-3", "true", "2.5", '"many"'])
def test_a_bad_limit_is_a_config_error(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError, match=r"\[data\] train_limit = .* whole number"):
        config_module.load(_config(tmp_path, f"train_limit = {value}"))
