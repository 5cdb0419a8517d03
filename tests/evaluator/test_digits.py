"""The digits dataset is scikit-learn's, read from its bundled CSV without importing it."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from nasforge.evaluator.data import builtin, load_dataset


def test_digits_are_scikit_learns_read_without_importing_it() -> None:
    """The bundled CSV holds what load_digits() returns; reading it leaves sklearn out of
    the process (1.2 s of start-up)."""
    code = ("import sys; from nasforge.evaluator.data import load_dataset; "
            "load_dataset('digits', seed=0); print('sklearn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    bunch = sklearn_datasets.load_digits()
    pixels, labels = builtin._digits_arrays()
    np.testing.assert_array_equal(pixels, bunch.data)
    np.testing.assert_array_equal(labels, bunch.target)


def test_digits_go_through_scikit_learn_where_its_file_is_elsewhere(monkeypatch) -> None:
    pytest.importorskip("sklearn")
    expected = load_dataset("digits", seed=3)
    monkeypatch.setattr(builtin, "digits_csv", lambda: None)
    got = load_dataset("digits", seed=3)
    np.testing.assert_array_equal(got.x_train, expected.x_train)
    np.testing.assert_array_equal(got.y_test, expected.y_test)
