"""The Store protocol and its written contract.

Contract (every implementation passes `tests/store/test_contract.py`):

1. Records returned are snapshots (frozen values); changing the store later never changes a
   record already returned.
2. Each write method is one transaction: it happens whole or not at all.
3. Finished trials (COMPLETE, FAILED, PRUNED) are immutable: finishing or re-queueing one
   raises StoreError and changes nothing. The one exception: `clear_checkpoints` forgets
   a trial's checkpoint path (when its file is pruned).
4. Trial numbers are 0, 1, 2, ... per search, in creation order, never reused.
5. `claim` moves WAITING trials to RUNNING atomically: two callers never get the same trial.
6. A search name is unique in a store; `get_search` of an unknown name raises
   SearchNotFoundError listing the names that exist.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from nasforge.objectives import Objective
from nasforge.records import EvalResult, SearchRecord, TrialRecord, TrialState
from nasforge.searchspace.architecture import Architecture


class Store(Protocol):
    url: str

    # searches ----------------------------------------------------------------
    def create_search(self, name: str, objectives: Sequence[Objective], budget: int,
                      config: Mapping[str, object]) -> SearchRecord:
        """Create a search; SearchExistsError if the name is taken."""

    def get_search(self, name: str) -> SearchRecord:
        """The search with its trial counts per state; SearchNotFoundError if absent."""

    def list_searches(self) -> list[SearchRecord]:
        """Every search, oldest first, with trial counts."""

    def set_budget(self, name: str, budget: int) -> SearchRecord:
        """Change the budget of a search (to extend it on resume)."""

    def set_diagnostics(self, name: str, diagnostics: Mapping[str, object]) -> SearchRecord:
        """Replace the search's diagnostics (a JSON-serialisable mapping), one transaction."""

    # trials ------------------------------------------------------------------
    def add_trials(self, name: str, archs: Sequence[Architecture],
                   state: TrialState = TrialState.WAITING,
                   worker: str | None = None) -> list[TrialRecord]:
        """Append trials (WAITING, or RUNNING when the caller evaluates them itself)."""

    def claim(self, name: str, n: int, worker: str | None = None) -> list[TrialRecord]:
        """Atomically move up to `n` WAITING trials (lowest numbers first) to RUNNING."""

    def finish(self, name: str, number: int, result: EvalResult) -> TrialRecord:
        """Record the result of a RUNNING trial: state, metrics, curve, error and checkpoint
        path, in one transaction. StoreError if the trial is not RUNNING."""

    def clear_checkpoints(self, name: str, numbers: Iterable[int]) -> list[int]:
        """Set the checkpoint path of the numbered trials to None, in one transaction;
        returns the numbers that had one."""

    def requeue(self, name: str, numbers: Iterable[int] | None = None) -> list[int]:
        """Move RUNNING trials (all of the search, or those numbered) back to WAITING;
        returns the numbers moved."""

    def trials(self, name: str, states: Iterable[TrialState] | None = None,
               with_curves: bool = False) -> list[TrialRecord]:
        """Trials of a search ordered by number, optionally filtered by state. Curves are
        loaded only when asked for (they are the bulk of the data)."""

    def trial(self, name: str, number: int) -> TrialRecord:
        """One trial with its curve; StoreError if absent."""

    def close(self) -> None: ...
