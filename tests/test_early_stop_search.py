"""Learning-curve early stopping in a whole search on digits: PRUNED trials count against
the budget but never reach the front, the best trial or an export; a resumed search
compares with its stored front; the CLI runs it, shows it and refuses bad settings."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nasforge.best import best_trial
from nasforge.config import from_dict
from nasforge.curves.rule import StopRule
from nasforge.evaluator.protocol import Evaluator
from nasforge.evaluator_setup import build_evaluator
from nasforge.export.select import TrialChoiceError, choose_trials
from nasforge.records import EvalResult, TrialState
from nasforge.search import Search
from nasforge.searchspace.architecture import Architecture
from nasforge.store import open_store
from nasforge.ui.cli import app

CONFIG = """
[search]
name = "stopping"
budget = {budget}
objectives = {objectives}
strategy = "random"
seed = 3
batch = 4

[data]
dataset = "digits"

[training]
device = "cpu"
measure_latency = false
epochs = 10
batch_size = 128
optimizer = "sgd"
schedule = "constant"
early_stop = "curve"
{extra}

[space]
families = ["mlp"]
activation = ["relu"]
lr = [1e-1, 3e-4, 1e-4]

[space.mlp]
depth = 1
width = [16, 32]
"""


def raw(budget: int, objectives: str = '["accuracy:max"]', extra: str = "") -> dict:
    import tomllib

    return tomllib.loads(CONFIG.format(budget=budget, objectives=objectives, extra=extra))


class Recording:
    """The evaluator, recording the rule each batch came with."""

    stops_early = True

    def __init__(self, inner: Evaluator) -> None:
        self.inner, self.rules = inner, []

    def evaluate(self, archs: Sequence[Architecture], stop: StopRule | None = None
                 ) -> list[EvalResult]:
        self.rules.append(stop)
        return self.inner.evaluate(archs, stop=stop)  # type: ignore[call-arg]


def test_pruned_trials_count_but_never_reach_the_front_and_a_resume_keeps_the_front(
        tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    config = from_dict(raw(6))
    evaluator = Recording(build_evaluator(config))
    outcome = Search(config, store, evaluator).run()
    trials = store.trials("stopping", with_curves=True)
    assert len(trials) == 6 and store.get_search("stopping").finished == 6
    assert evaluator.rules[0] is not None and evaluator.rules[0].front == ()
    assert evaluator.rules[1] is not None and evaluator.rules[1].front != ()
    resumed_config = from_dict(raw(12))
    resumed = Recording(build_evaluator(resumed_config))
    outcome = Search(resumed_config, store, resumed, resume=True).run()
    best = max(t.metrics["accuracy"] for t in trials if t.state is TrialState.COMPLETE)
    assert resumed.rules[0] is not None and resumed.rules[0].front == ((best,),)
    # the stored finished curves are read back for the gains after each epoch
    finished = [t for t in trials if t.state is TrialState.COMPLETE]
    assert len(dict(resumed.rules[0].calibration.ratios).get((10, 4), ())) == len(finished)
    trials = store.trials("stopping", with_curves=True)
    pruned = [t for t in trials if t.state is TrialState.PRUNED]
    complete = {t.number for t in trials if t.state is TrialState.COMPLETE}
    assert pruned, "the hopeless learning rates should have been stopped"
    assert len(trials) == 12 and outcome.pruned == len(pruned)
    assert outcome.complete + outcome.failed + outcome.pruned == 12
    for trial in pruned:
        assert len(trial.curve) < 10 and trial.metrics["epochs"] == len(trial.curve)
        assert trial.metrics["p_improve"] < 0.05 and "predicted_accuracy" in trial.metrics
        assert trial.checkpoint is None
    assert set(outcome.pareto) <= complete
    objectives = config.objectives
    top = best_trial(trials, objectives[0], objectives)
    assert top is not None and top.number in complete
    chosen = choose_trials(store, "stopping", pareto=True)
    assert {t.number for t in chosen} <= complete
    with pytest.raises(TrialChoiceError, match="PRUNED"):
        choose_trials(store, "stopping", trial=pruned[0].number)
    store.close()


def test_several_objectives_compare_with_the_front(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    config = from_dict(raw(8, '["accuracy:max", "params:min"]'))
    Search(config, store, build_evaluator(config)).run()
    trials = store.trials("stopping")
    complete = [t for t in trials if t.state is TrialState.COMPLETE]
    pruned = [t for t in trials if t.state is TrialState.PRUNED]
    assert pruned, "nothing was stopped: the test would not test anything"
    for trial in pruned:
        # stopped only when predicted dominated: some finished trial is no larger and at
        # least as accurate as its prediction
        assert any(c.metrics["params"] <= trial.metrics["params"]
                   and c.metrics["accuracy"] >= trial.metrics["predicted_accuracy"]
                   for c in complete), trial.number
    store.close()


runner = CliRunner()


def test_cli_search_and_show_with_early_stopping(tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_text(CONFIG.format(budget=8, objectives='["accuracy:max"]', extra=""))
    url = f"sqlite:///{tmp_path / 'q.db'}"
    result = runner.invoke(app, ["search", str(path), "--storage", url])
    assert result.exit_code == 0, result.output
    assert "stopped early (pruned)" in result.stdout
    shown = runner.invoke(app, ["show", "stopping", "--storage", url])
    assert shown.exit_code == 0, shown.output
    assert "PRUNED" in shown.stdout and "best accuracy:max" in shown.stdout
    report = json.loads(runner.invoke(app, ["show", "stopping", "--storage", url,
                                            "--json"]).stdout)
    states = {t["state"] for t in report["trials"]}
    assert states == {"COMPLETE", "PRUNED"}
    listed = runner.invoke(app, ["list", "--storage", url])
    assert listed.exit_code == 0 and "pruned" in listed.stdout


@pytest.mark.parametrize(("extra", "named"), [
    ('early_stop_threshold = 2.0', "early_stop_threshold"),
    ('early_stop_min_epochs = 1', "early_stop_min_epochs"),
])
def test_cli_refuses_bad_settings_with_exit_2(tmp_path: Path, extra: str, named: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(CONFIG.format(budget=2, objectives='["accuracy:max"]', extra=extra))
    url = f"sqlite:///{tmp_path / 'q.db'}"
    result = runner.invoke(app, ["search", str(path), "--storage", url])
    assert result.exit_code == 2 and named in result.output
    assert not (tmp_path / "q.db").exists()


def test_cli_refuses_an_unknown_early_stop_naming_the_allowed_values(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(CONFIG.format(budget=2, objectives='["accuracy:max"]', extra="")
                    .replace('early_stop = "curve"', 'early_stop = "curves"'))
    result = runner.invoke(app, ["search", str(path), "--storage",
                                 f"sqlite:///{tmp_path / 'q.db'}"])
    assert result.exit_code == 2
    assert "early_stop" in result.output and '"none", "curve"' in result.output
