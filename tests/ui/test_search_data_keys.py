"""The dashboard loads a search's data as the search did: `[data] augment` and `train_limit`
are not loader options, and the train sample keeps the stored fingerprint's split."""

from __future__ import annotations

import pytest

from nasforge import config as config_module
from nasforge.evaluator.data.fingerprint import data_fingerprint
from nasforge.evaluator_setup import load_checked
from nasforge.ui.architecture import search_data

RAW = {"search": {"name": "keys", "seed": 2},
       "data": {"dataset": "digits", "augment": ["flip"], "train_limit": 300},
       "space": {"families": ["cnn"]}}


def test_augment_and_train_limit_load_with_the_stored_split() -> None:
    pytest.importorskip("pandas")
    config = config_module.from_dict(RAW)
    stored = data_fingerprint(config.data, load_checked(config))
    loaded = search_data(RAW, stored=stored)
    assert loaded.refused is None, loaded.refused
    assert loaded.spec.input_shape == (1, 8, 8)
