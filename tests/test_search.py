"""The search loop against a real store with a fake evaluator (instant, scripted)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from nasforge.config import from_dict
from nasforge.errors import ConfigError, SearchExistsError
from nasforge.records import EvalResult, TrialState
from nasforge.search import Search
from nasforge.searchspace.architecture import Architecture
from nasforge.store import open_store

RAW = {
    "search": {"name": "s", "budget": 6, "objectives": ["accuracy:max", "params:min"]},
    "data": {"dataset": "digits"},
    "space": {"families": ["mlp"], "activation": ["relu", "gelu"], "norm": ["none"],
              "lr": 0.01, "mlp": {"depth": {"low": 1, "high": 2}, "width": [8, 16, 32]}},
}


class FakeEvaluator:
    """accuracy grows with width; every `fail_every`-th call fails; can raise on a call."""

    def __init__(self, fail_every: int = 0, raise_on: int | None = None,
                 exc: type[BaseException] = KeyboardInterrupt) -> None:
        self.calls: list[Architecture] = []
        self.fail_every, self.raise_on, self.exc = fail_every, raise_on, exc

    def evaluate(self, archs: Sequence[Architecture]) -> list[EvalResult]:
        results = []
        for arch in archs:
            if self.raise_on is not None and len(self.calls) == self.raise_on:
                raise self.exc()
            self.calls.append(arch)
            if self.fail_every and len(self.calls) % self.fail_every == 0:
                results.append(EvalResult.failed("scripted failure"))
                continue
            width = arch["mlp.width"]
            results.append(EvalResult(TrialState.COMPLETE, {
                "accuracy": 0.5 + width / 100 + (0.01 if arch["activation"] == "gelu" else 0),
                "params": float(width * arch["mlp.depth"])}))
        return results


@pytest.fixture
def store(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    yield store
    store.close()


def config(**search):
    return from_dict({**RAW, "search": {**RAW["search"], **search}})


def test_runs_the_budget_and_records_everything(store):
    evaluator = FakeEvaluator(fail_every=3)
    outcome = Search(config(), store, evaluator).run()
    trials = store.trials("s")
    assert [t.number for t in trials] == list(range(6))
    assert [t.state for t in trials].count(TrialState.FAILED) == 2
    assert trials[2].error == "scripted failure"
    assert (outcome.complete, outcome.failed) == (4, 2)
    assert len({t.arch_id for t in trials}) == 6
    assert [t.arch for t in trials] == evaluator.calls


def test_space_exhaustion_ends_the_search(store):
    outcome = Search(config(budget=100), store, FakeEvaluator()).run()
    assert outcome.exhausted and outcome.complete == 12  # 2 activations x (3 + 9 widths)


def test_existing_name_needs_resume(store):
    Search(config(budget=1), store, FakeEvaluator()).run()
    with pytest.raises(SearchExistsError, match="--resume"):
        Search(config(budget=1), store, FakeEvaluator()).run()


def test_interrupt_requeues_and_resume_completes_without_duplicates(store):
    with pytest.raises(KeyboardInterrupt):
        Search(config(), store, FakeEvaluator(raise_on=3)).run()
    assert [t.state for t in store.trials("s")] == [TrialState.COMPLETE] * 3 + [TrialState.WAITING]
    evaluator = FakeEvaluator()
    Search(config(), store, evaluator, resume=True).run()
    trials = store.trials("s")
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 6
    assert len({t.arch_id for t in trials}) == 6
    assert evaluator.calls[0] == trials[3].arch  # the interrupted trial ran first


def test_resume_reruns_trials_a_killed_run_left_running(store):
    Search(config(budget=3), store, FakeEvaluator()).run()
    # a killed run leaves its trial RUNNING; make one as that run would have
    leftover = config().space.validate({"family": "mlp", "activation": "gelu", "norm": "none",
                                        "dropout": 0.0, "lr": 0.01, "weight_decay": 1e-4,
                                        "batch_size": 64, "epochs": 10, "optimizer": "adamw",
                                        "schedule": "cosine", "mlp.depth": 2, "mlp.width": 32})
    if leftover.arch_id in {t.arch_id for t in store.trials("s")}:
        leftover = leftover.replace(**{"mlp.width": 8})
    orphan = store.add_trials("s", [leftover], TrialState.RUNNING)[0]
    evaluator = FakeEvaluator()
    Search(config(budget=6), store, evaluator, resume=True).run()
    trials = store.trials("s")
    assert evaluator.calls[0] == orphan.arch  # re-run first, under its own number
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 6
    assert len({t.arch_id for t in trials}) == 6


def test_a_resumed_run_proposes_what_an_uninterrupted_run_would(tmp_path, store):
    Search(config(budget=3), store, FakeEvaluator()).run()
    Search(config(budget=6), store, FakeEvaluator(), resume=True).run()
    reference = open_store(f"sqlite:///{tmp_path / 'ref.db'}")
    Search(config(budget=6), reference, FakeEvaluator()).run()
    assert [t.arch for t in store.trials("s")] == [t.arch for t in reference.trials("s")]
    reference.close()


def test_resume_refuses_a_different_space(store):
    Search(config(budget=1), store, FakeEvaluator()).run()
    changed = from_dict({**RAW, "space": {**RAW["space"], "activation": ["relu"]}})
    with pytest.raises(ConfigError, match=r"\[space\] differs"):
        Search(changed, store, FakeEvaluator(), resume=True).run()
    assert len(store.trials("s")) == 1


def test_resume_of_an_unknown_search_starts_it(store):
    Search(config(budget=2), store, FakeEvaluator(), resume=True).run()
    assert len(store.trials("s")) == 2


def test_observer_sees_history_and_each_trial(store):
    seen = {"start": None, "trials": []}

    class Recorder:
        def on_start(self, search, history):
            seen["start"] = (search.name, len(history))

        def on_trial(self, record):
            seen["trials"].append(record.number)

    Search(config(budget=2), store, FakeEvaluator()).run()
    Search(config(budget=4), store, FakeEvaluator(), resume=True, observer=Recorder()).run()
    assert seen == {"start": ("s", 2), "trials": [2, 3]}


def test_resuming_a_long_search_keeps_proposing(tmp_path):
    """A rebuilt random strategy replays 150 known candidates before a new one: resuming must
    not mistake that for an exhausted space."""
    store = open_store(f"sqlite:///{tmp_path / 'long.db'}")
    raw = {**RAW, "space": {**RAW["space"], "lr": {"low": 1e-4, "high": 1e-1, "log": True}}}
    first = from_dict({**raw, "search": {**raw["search"], "budget": 150}})
    Search(first, store, FakeEvaluator()).run()
    outcome = Search(first.with_overrides(budget=160), store, FakeEvaluator(), resume=True).run()
    assert not outcome.exhausted and outcome.complete == 160
    assert len({t.arch_id for t in store.trials("s")}) == 160
    store.close()


def test_resume_refuses_another_seed_or_strategy_options_but_takes_a_new_budget(store):
    Search(config(budget=1), store, FakeEvaluator()).run()
    with pytest.raises(ConfigError, match=r"\[search\] seed differs"):
        Search(config(budget=2, seed=7), store, FakeEvaluator(), resume=True).run()
    # an explicit default equals an omitted one; a new budget extends the search
    Search(config(budget=2, seed=0), store, FakeEvaluator(), resume=True).run()
    assert len(store.trials("s")) == 2


def test_a_round_asks_for_one_candidate_per_evaluation_slot(store):
    class Slotted(FakeEvaluator):
        slots = 4

        def __init__(self) -> None:
            super().__init__()
            self.batches: list[int] = []

        def evaluate(self, archs):
            self.batches.append(len(archs))
            return super().evaluate(archs)

    evaluator = Slotted()
    Search(config(budget=6), store, evaluator).run()
    assert evaluator.batches == [4, 2]
    evaluator = Slotted()  # batch above the slots wins
    Search(config(budget=6, batch=5, name="t"), store, evaluator).run()
    assert evaluator.batches == [5, 1]


class Streaming(FakeEvaluator):
    """Hands results over as they "arrive" (`streams_results`): in `order`, then raises
    KeyboardInterrupt if `interrupt_after` results have been handed over."""

    streams_results = True

    def __init__(self, order: Sequence[int], interrupt_after: int | None = None) -> None:
        super().__init__()
        self.order, self.interrupt_after = order, interrupt_after

    def evaluate(self, archs, on_result=None):
        results = super().evaluate(archs)
        for count, position in enumerate(self.order[:len(archs)]):
            if count == self.interrupt_after:
                raise KeyboardInterrupt
            on_result(position, results[position])
        return results


def test_results_are_stored_as_they_arrive_and_an_interrupt_keeps_them(store):
    with pytest.raises(KeyboardInterrupt):
        Search(config(batch=3), store, Streaming([2, 0, 1], interrupt_after=2)).run()
    # the two that arrived are stored; the third goes back to the queue
    assert [t.state for t in store.trials("s")] == [TrialState.COMPLETE, TrialState.WAITING,
                                                  TrialState.COMPLETE]


def test_the_strategy_is_told_a_streamed_batch_in_input_order(store, monkeypatch):
    from nasforge.strategies.random import RandomSearch

    told: list[int] = []
    real = RandomSearch.tell

    def spy(self, records):
        told.extend(r.number for r in records if r.state.is_finished)
        return real(self, records)

    monkeypatch.setattr(RandomSearch, "tell", spy)
    Search(config(batch=3), store, Streaming([2, 0, 1, 2, 0, 1])).run()
    assert told == list(range(6))
    assert [t.state for t in store.trials("s")] == [TrialState.COMPLETE] * 6


@pytest.mark.parametrize("strategy", ["random", "evolution"])
def test_a_run_resumed_after_an_interrupt_mid_round_proposes_what_an_uninterrupted_would(
        tmp_path, store, strategy):
    """Results stream in, so an interrupted round is partly stored: the resumed run first
    finishes that round (asking for nothing new), then goes on as an uninterrupted run."""
    search = {"batch": 3, "budget": 9, "strategy": strategy}
    if strategy == "evolution":
        search["strategy_options"] = {"population_size": 3, "sample_size": 2}
    with pytest.raises(KeyboardInterrupt):
        Search(config(**search), store, Streaming([2, 0, 1], interrupt_after=2)).run()
    Search(config(**search), store, FakeEvaluator(), resume=True).run()
    reference = open_store(f"sqlite:///{tmp_path / 'ref.db'}")
    Search(config(**search), reference, FakeEvaluator()).run()
    assert [t.arch for t in store.trials("s")] == [t.arch for t in reference.trials("s")]
    assert [t.state for t in store.trials("s")] == [TrialState.COMPLETE] * 9
    reference.close()
