"""Every example config loads, validates and fits its data (space, objectives, augmentation),
as `nasforge search` checks it before writing anything; and the Fashion-MNIST example searches
what its comments promise."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from nasforge import config as config_module
from nasforge.evaluator.data.builtin import FASHION_MNIST_ROOT
from nasforge.evaluator_setup import load_checked
from nasforge.searchspace.families import plan_for
from nasforge.searchspace.plan import DataSpec

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
CONFIGS = sorted(EXAMPLES.glob("*.toml"))


def _needs(path: Path) -> str | None:
    """Why this example's data cannot be loaded here (None: it can)."""
    text = path.read_text()
    if '"fashion-mnist"' in text and not FASHION_MNIST_ROOT.is_dir():
        return f"{FASHION_MNIST_ROOT} is missing (apt-get install dataset-fashion-mnist)"
    if '"mnist1d"' in text and importlib.util.find_spec("mnist1d") is None:
        return "the mnist1d package is not installed"
    return None


def test_the_examples_are_found() -> None:
    assert {"quickstart.toml", "fashion_mbconv.toml"} <= {p.name for p in CONFIGS}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_each_example_loads_and_fits_its_data(path: Path, tmp_path: Path) -> None:
    reason = _needs(path)
    if reason is not None:
        pytest.skip(reason)
    config = config_module.load(path)
    dataset = load_checked(config, cache_dir=tmp_path)
    rng = np.random.default_rng(0)
    for arch in config.space.sample_distinct(8, rng):  # a sample plans on the data
        assert plan_for(arch, dataset.spec).macs > 0


def test_the_fashion_example_searches_mobilenet_blocks_against_macs() -> None:
    config = config_module.load(EXAMPLES / "fashion_mbconv.toml")
    assert config.data.dataset == "fashion-mnist"
    assert [f"{o.metric}:{o.direction}" for o in config.objectives] == ["accuracy:max",
                                                                        "macs:min"]
    assert config.strategy == "evolution"
    assert config.data.augment == ("crop", "flip")
    assert config.data.train_limit == 12000
    params = config.space.params
    assert tuple(params["family"].values()) == ("mbconv",)
    assert set(params["activation"].values()) == {"relu", "hardswish"}
    assert tuple(params["norm"].values()) == ("batch",)
    for stage in range(3):
        assert set(params[f"mbconv.kernel.{stage}"].values()) == {3, 5, 7}
        assert set(params[f"mbconv.expand.{stage}"].values()) == set(range(1, 7))
        assert set(params[f"mbconv.se.{stage}"].values()) == {False, True}


def test_the_ofa_example_is_a_supernet_over_elastic_mbconv_blocks() -> None:
    from nasforge.strategies.supernet import SupernetOptions
    from nasforge.supernet.model import Supernet
    from nasforge.supernet.slots import extreme

    config = config_module.load(EXAMPLES / "fashion_ofa.toml")
    assert config.strategy == "supernet" and config.data.dataset == "fashion-mnist"
    assert [f"{o.metric}:{o.direction}" for o in config.objectives] == ["accuracy:max",
                                                                        "macs:min"]
    options = SupernetOptions(**config.strategy_options)
    assert options.ranking_sample >= 20 and options.retrain_top_k >= 1
    params = config.space.params
    assert set(params["resolution"].values()) == {20, 24, 28}
    for stage in range(3):
        assert set(params[f"mbconv.kernel.{stage}"].values()) == {3, 5, 7}
        assert set(params[f"mbconv.expand.{stage}"].values()) == {2, 3, 4}
        assert set(params[f"mbconv.depth.{stage}"].values()) == {1, 2}
    spec = DataSpec((1, 28, 28), 10, name="fashion-mnist")  # the supernet accepts the space
    net = Supernet(config.space, spec, seed=0)
    rng = np.random.default_rng(0)
    smallest, largest = (plan_for(extreme(config.space, rng, big), spec).macs
                         for big in (False, True))
    assert largest / smallest >= 5  # room for a front spanning 5x in MACs
    assert sum(p.numel() for p in net.parameters()) > 0
