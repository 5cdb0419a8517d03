from __future__ import annotations

from pathlib import Path

import pytest

from nasforge.config import from_dict, load
from nasforge.errors import ConfigError

EXAMPLES = Path(__file__).parents[1] / "examples"

BASE = {
    "search": {"name": "t", "budget": 3, "objectives": ["accuracy:max", "params:min"]},
    "data": {"dataset": "digits"},
    "training": {"epochs": 2},
    "space": {"families": ["mlp"], "activation": ["relu", "gelu"]},
}


def with_(section: str, **changes: object) -> dict:
    raw = {k: dict(v) for k, v in BASE.items()}
    raw[section].update(changes)
    return raw


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.toml")), ids=lambda p: p.name)
def test_examples_load(path):
    config = load(path)
    assert config.space.size is None or config.space.size > config.budget


def test_quickstart_contents():
    config = load(EXAMPLES / "quickstart.toml")
    assert config.name == "quickstart"
    assert [str(o) for o in config.objectives] == ["accuracy:max", "params:min"]
    assert config.data.dataset == "digits"
    assert config.space.params["family"].options == ("mlp",)
    assert config.space.params["epochs"].options == (20,)  # fixed in [training]


def test_training_values_become_constants_and_csv_paths_resolve(tmp_path):
    raw = with_("data", dataset="csv:data/x.csv")
    config = from_dict(raw, base_dir=tmp_path)
    assert config.data.dataset == f"csv:{tmp_path / 'data' / 'x.csv'}"
    assert config.raw["data"]["dataset"] == config.data.dataset
    assert config.space.params["epochs"].options == (2,)


def test_overrides():
    config = from_dict(BASE).with_overrides(name="other", budget=9, seed=4)
    assert (config.name, config.budget, config.seed) == ("other", 9, 4)
    assert config.raw["search"]["budget"] == 9


@pytest.mark.parametrize("raw, message", [
    (with_("search", budgett=3), r"Unknown field 'budgett' in \[search\]. Did you mean 'budget'"),
    ({**BASE, "serch": {}}, r"Unknown field 'serch'.*Did you mean 'search'"),
    (with_("search", budget=0), r"budget = 0; use a whole number from 1"),
    (with_("search", budget="ten"), r"budget = 'ten'"),
    (with_("search", name="has space"), "not a valid name"),
    (with_("search", objectives=["accuracy:up"]), r"direction 'up'; use 'max' or 'min'"),
    (with_("search", objectives=[]), "At least one objective"),
    (with_("search", strategy="randm"), r"Unknown strategy 'randm'.*'random'"),
    (with_("search", strategy_options={"populaton": 3}), r"strategy_options for 'random'"),
    (with_("space", lr={"low": 0.1, "high": 0.001}), "inverted"),
    (with_("space", families=["transformer"]), r"Unknown family 'transformer'"),
    (with_("space", lr=[0.1]) | {"training": {"lr": 0.01}}, "fixed in \\[training\\] and searched"),
    (with_("data", dataset=None), r"\[data\] dataset is missing"),
    (with_("data", val_fraction=1.5), r"val_fraction = 1.5"),
    (with_("data", val_fraction=0.6, test_fraction=0.5), "must be below 1"),
    (with_("training", device="tpu"), r"device = 'tpu'"),
    (with_("training", precision="fp16"),
     r'precision = \'fp16\'; use one of "auto", "fp32", "tf32", "bf16"'),
    (with_("training", compile="yes"), r"compile must be true or false"),
    (with_("training", threads=0), r'threads = 0; use "auto" .* or a whole number from 1'),
    (with_("training", threads="2"), r"threads = '2'; use \"auto\""),
    (with_("training", threads=True), r"threads = True"),
    (with_("training", threads=1.5), r"threads = 1.5"),
    (with_("training", thread=2), r"Unknown field 'thread'.*Did you mean 'threads'"),
])
def test_bad_configs_name_the_problem(raw, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(raw, source="bad.toml")


def test_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[search\nname = 1\n")
    with pytest.raises(ConfigError, match=r"broken.toml: not valid TOML"):
        load(broken)


def test_a_config_saved_with_a_utf8_bom_loads(tmp_path):
    bom = tmp_path / "bom.toml"
    bom.write_text((EXAMPLES / "quickstart.toml").read_text(), encoding="utf-8-sig")
    assert bom.read_bytes().startswith(b"\xef\xbb\xbf")
    assert load(bom).name == "quickstart"


def test_precision_and_compile_defaults_and_values():
    config = from_dict(BASE)
    assert (config.training.precision, config.training.compile) == ("auto", False)
    config = from_dict(with_("training", precision="bf16", compile=True))
    assert (config.training.precision, config.training.compile) == ("bf16", True)


def test_threads_default_to_auto_and_take_a_count():
    assert from_dict(BASE).training.threads == "auto"
    assert from_dict(with_("training", threads=3)).training.threads == 3
    assert from_dict(with_("training", threads="auto")).training.threads == "auto"
