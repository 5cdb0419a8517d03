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
6. A worker holds the trials it claimed (or added RUNNING) until it finishes them or they
   are re-queued; `finish(..., worker=w)` of a trial `w` no longer holds raises
   LeaseLostError and changes nothing. `requeue_stale` moves only trials whose lease is
   still the one the caller saw (a compare-and-swap), so a live worker is never robbed.
7. A search name is unique in a store; `get_search` of an unknown name raises
   SearchNotFoundError listing the names that exist.
8. Pools (`add_pool`) are append-only: one is never changed or lost, and `pools` reads them in
   the order they were added.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from nasforge.objectives import Objective
from nasforge.records import EvalResult, Lease, SearchRecord, TrialRecord, TrialState
from nasforge.searchspace.architecture import Architecture
from nasforge.store.trial_table import TrialTable


class Store(Protocol):
    url: str

    # searches ----------------------------------------------------------------
    def create_search(self, name: str, objectives: Sequence[Objective], budget: int,
                      config: Mapping[str, object], *,
                      data_fingerprint: Mapping[str, object] | None = None) -> SearchRecord:
        """Create a search (with the fingerprint of its data, when given); SearchExistsError
        if the name is taken."""

    def get_search(self, name: str) -> SearchRecord:
        """The search with its trial counts per state; SearchNotFoundError if absent."""

    def list_searches(self) -> list[SearchRecord]:
        """Every search, oldest first, with trial counts."""

    def set_budget(self, name: str, budget: int) -> SearchRecord:
        """Change the budget of a search (to extend it on resume)."""

    def set_diagnostics(self, name: str, diagnostics: Mapping[str, object]) -> SearchRecord:
        """Replace the search's diagnostics (a JSON-serialisable mapping), one transaction."""

    def set_data_fingerprint(self, name: str, fingerprint: Mapping[str, object], *,
                             replacing: Mapping[str, object] | None = None
                             ) -> dict[str, object] | None:
        """Store the fingerprint of the data the search trains on where the stored one is
        still `replacing` (None: where there is none), atomically; returns the one stored
        afterwards (this one, or the one another process stored first)."""

    def data_fingerprint(self, name: str) -> dict[str, object] | None:
        """The stored fingerprint of the search's data; None if it was stored without one."""

    def add_pool(self, name: str, pool: Mapping[str, object]) -> None:
        """Append one of the proxy pre-filter's pools (`strategies.prefilter.Pool.to_json`)
        to the search: one insert, one transaction, the same cost at any number of pools or
        trials; pools added at once by several workers are all kept."""

    def pools(self, name: str, *, offset: int = 0, limit: int | None = None
              ) -> list[dict[str, object]]:
        """The search's pools in the order they were added; from the `offset`-th, at most
        `limit` of them (a page)."""

    # trials ------------------------------------------------------------------
    def add_trials(self, name: str, archs: Sequence[Architecture],
                   state: TrialState = TrialState.WAITING,
                   worker: str | None = None, *, limit: int | None = None,
                   unique: bool = False) -> list[TrialRecord]:
        """Append trials (WAITING, or RUNNING when the caller evaluates them itself); with
        `limit`, only as many as keep the search at most `limit` trials, and with `unique`
        none whose arch_id the search holds, atomically."""

    def claim(self, name: str, n: int, worker: str | None = None) -> list[TrialRecord]:
        """Atomically move up to `n` WAITING trials (lowest numbers first) to RUNNING."""

    def finish(self, name: str, number: int, result: EvalResult,
               worker: str | None = None) -> TrialRecord:
        """Record the result of a RUNNING trial: state, metrics, curve, error and checkpoint
        path, in one transaction. StoreError if the trial is not RUNNING; with `worker`,
        LeaseLostError if that worker no longer holds it."""

    def heartbeat(self, name: str, worker: str,
                  numbers: Iterable[int] | None = None) -> list[int]:
        """Refresh the heartbeat of the RUNNING trials `worker` holds; returns their numbers."""

    def leases(self, name: str) -> list[Lease]:
        """The RUNNING trials with their holder and last heartbeat, by number."""

    def requeue_stale(self, name: str, seen: Mapping[int, Lease]) -> list[int]:
        """Move back to WAITING the trials whose lease is still the one in `seen`."""

    def clear_checkpoints(self, name: str, numbers: Iterable[int]) -> list[int]:
        """Set the checkpoint path of the numbered trials to None, in one transaction;
        returns the numbers that had one."""

    def requeue(self, name: str, numbers: Iterable[int] | None = None) -> list[int]:
        """Move RUNNING trials (all of the search, or those numbered) back to WAITING;
        returns the numbers moved."""

    def trials(self, name: str, states: Iterable[TrialState] | None = None,
               with_curves: bool = False, *, numbers: Iterable[int] | None = None,
               after: int | None = None) -> list[TrialRecord]:
        """Trials of a search ordered by number, optionally filtered by state, by number and
        to numbers above `after`. Curves are loaded only when asked for (the bulk of it)."""

    def trial_table(self, name: str, *, numbers: Iterable[int] | None = None,
                    after: int | None = None, limit: int | None = None) -> TrialTable:
        """The trials `trials(name, numbers=numbers, after=after)` returns, as plain columns
        (`TrialTable`: architecture JSON, UTC time text, metrics in long form, no curves):
        for readers of every trial, which would pay more for the records than the read.
        With `limit`, only the first `limit` of them (a page: the next begins after the
        last number of this one)."""

    def trial(self, name: str, number: int) -> TrialRecord:
        """One trial with its curve; StoreError if absent."""

    def best_trials(self, name: str) -> dict[str, TrialRecord]:
        """Per objective of the search (keyed by ``str(objective)``), the COMPLETE trial with
        the best finite value, ties broken as `nasforge.best.best_trial` does; objectives
        without a finite value are left out. Reads only the trials that reach the best."""

    def metric_values(self, name: str, metrics: Sequence[str]
                      ) -> tuple[list[int], dict[str, list[float]]]:
        """The numbers of the search's COMPLETE trials (ascending) and, per metric of
        `metrics`, each one's value in that order (NaN where it is NaN or missing): a front
        or a ranking without reading whole trials."""

    def worker_counts(self, name: str) -> dict[str, dict[str, int]]:
        """Per worker that holds or ran trials of the search, sorted by name:
        ``{"finished": n, "running": m}`` (WAITING trials and trials without a worker are
        not counted)."""

    def close(self) -> None: ...
