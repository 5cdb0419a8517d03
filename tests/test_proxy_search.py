"""Zero-cost proxies at the user's boundary: `nasforge search` with ``[training] proxies`` as
metrics and objectives, with the proxy pre-filter (pools kept, resume), and every bad input
(exit 2 before the search starts, naming the proxy and the fix)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from nasforge.proxies import PROXIES, ProxySpec
from nasforge.ui.cli import app

runner = CliRunner()

CONFIG = """
[search]
name = "zc"
budget = {budget}
objectives = {objectives}
strategy = "evolution"
strategy_options = {{ population_size = 3{prefilter} }}
seed = 0

[data]
dataset = "digits"

[training]
epochs = 1
measure_latency = false
proxies = {proxies}

[space]
families = {families}
activation = ["relu", "gelu"]
norm = ["none", "batch"]

[space.mlp]
depth = {{ low = 1, high = 2 }}
width = [8, 16, 32]
"""


def _write(tmp_path, *, budget=4, objectives='["accuracy:max", "zc_synflow:max"]',
           proxies='["synflow", "naswot"]', prefilter="", families='["mlp"]'):
    path = tmp_path / "zc.toml"
    path.write_text(CONFIG.format(budget=budget, objectives=objectives, proxies=proxies,
                                  prefilter=prefilter, families=families))
    return str(path)


def _invoke(*args: str):
    return runner.invoke(app, list(args))


def _show(url: str) -> dict:
    result = _invoke("show", "zc", "--storage", url, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_proxies_are_trial_metrics_and_objectives(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    result = _invoke("search", _write(tmp_path), "--storage", url)
    assert result.exit_code == 0, result.output
    report = _show(url)
    assert report["objectives"] == ["accuracy:max", "zc_synflow:max"]
    for trial in report["trials"]:
        assert {"zc_synflow", "zc_naswot", "zc_seconds"} <= set(trial["metrics"])
    assert report["pareto"]


def test_prefilter_trains_the_best_of_each_pool_and_resumes(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    prefilter = ', prefilter = { proxy = ["synflow", "naswot"], pool = 3 }'
    config = _write(tmp_path, budget=3, proxies="[]", prefilter=prefilter,
                    objectives='["accuracy:max", "params:min"]')
    assert _invoke("search", config, "--storage", url).exit_code == 0
    resumed = _invoke("search", config, "--storage", url, "--budget", "5", "--resume")
    assert resumed.exit_code == 0, resumed.output
    report = _show(url)
    pools = report["diagnostics"]["prefilter"]["pools"]
    trials = report["trials"]
    assert [t["arch_id"] for t in trials] == [p["winner"] for p in pools]
    for pool, trial in zip(pools, trials, strict=True):
        assert len(pool["scores"]) == 3 and len(pool["discarded"]) == 2
        # the trained candidate carries the scores it was chosen by
        own = pool["scores"][trial["arch_id"]]
        assert trial["metrics"]["zc_synflow"] == own["synflow"]
        assert trial["metrics"]["zc_naswot"] == own["naswot"]


@pytest.mark.parametrize("settings, message", [
    ({"proxies": '["synflw"]'}, "synflow"),
    ({"proxies": "[]", "prefilter": ', prefilter = { proxy = "nasswot" }'}, "naswot"),
    ({"proxies": '["zen"]'}, "zc_synflow"),  # an objective on a proxy that is not computed
    ({"proxies": '["zen", "zen"]'}, "twice"),
    ({"proxies": "[]", "prefilter": ', prefilter = { proxy = "zen", pool = 1 }'}, "pool"),
])
def test_bad_proxy_input_exits_2_before_the_search_starts(tmp_path, settings, message) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    objectives = '["accuracy:max"]' if "prefilter" in settings else None
    kwargs = dict(settings, **({"objectives": objectives} if objectives else {}))
    result = _invoke("search", _write(tmp_path, **kwargs), "--storage", url)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not (tmp_path / "s.db").exists() or _invoke(
        "show", "zc", "--storage", url).exit_code != 0  # nothing written


def test_a_proxy_that_cannot_score_a_family_is_refused_by_name(tmp_path) -> None:
    def no_convolutions(model) -> str | None:
        import torch

        if any(isinstance(m, torch.nn.Conv2d) for m in model.modules()):
            return "it reads dense layers only"
        return None

    PROXIES.register("dense_only", ProxySpec("dense_only", lambda model, batch: 0.0, "test",
                                             applies=no_convolutions))
    try:
        url = f"sqlite:///{tmp_path / 's.db'}"
        config = _write(tmp_path, proxies='["dense_only"]', objectives='["accuracy:max"]',
                        families='["mlp", "cnn"]')
        result = _invoke("search", config, "--storage", url)
        assert result.exit_code == 2, result.output
        assert "'dense_only'" in result.output and "'cnn'" in result.output
        assert "dense layers only" in result.output
    finally:
        PROXIES._remove("dense_only")
