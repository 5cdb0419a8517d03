"""Checkpoint policy (search side, torch-free): where a search keeps its trials' trained
weights, which it keeps (pruning to the Pareto front) and finding a trial's stored file.
Not the writing of a file (`nasforge.evaluator.checkpoint_writer`) nor loading one into a
model (`nasforge.export.checkpoint_reader`).

Layout: a checkpoint root per store, a folder per search under it, a file per architecture::

    <root>/<search name>/<arch_id>.pt        (a state_dict, written by the evaluator)

The root (`checkpoint_root`): ``[training] checkpoint_dir`` when set; otherwise, for a SQLite
file store, ``<db file>.checkpoints`` beside it; otherwise (PostgreSQL, in-memory SQLite)
none, and no checkpoints are kept. The store records each trial's file relative to the root
(``<search name>/<arch_id>.pt``), so a store and its checkpoint folder can move together.

``[training] checkpoints``: "pareto" (default: after every round, the files of COMPLETE trials
that left the Pareto front of the search's objectives are deleted; a search's `FrontPruner`
reads the history once and then compares only the front with what finished since), "all"
(keep every file) or "none" (save nothing). Pruning first clears the paths in the store, then
deletes the files (and a result the front already dominates is stored without its path, then
its file deleted): a crash in between leaves a stray file (deleted by a later prune), never a
path to a missing file. Readers still check that the file exists (`stored_checkpoint`).
"""

from __future__ import annotations

import dataclasses
import logging
import re
import stat
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from nasforge.config import CHECKPOINT_MODES, SearchConfig
from nasforge.errors import ConfigError, NasforgeError
from nasforge.objectives import Objective
from nasforge.records import EvalResult, TrialRecord, TrialState
from nasforge.store import sqlite_file
from nasforge.store.base import Store
from nasforge.strategies.pareto import pareto_front
from nasforge.userfiles import look_up

logger = logging.getLogger(__name__)

MODES = CHECKPOINT_MODES
SUFFIX = ".checkpoints"
_SAFE_ID = re.compile(r"[0-9A-Za-z_-]{1,128}")


class CheckpointError(NasforgeError):
    """A trial has no usable stored checkpoint."""


def checkpoint_root(storage_url: str, checkpoint_dir: str | None = None) -> Path | None:
    """The checkpoint root of a store: `checkpoint_dir` if given, else ``<db>.checkpoints``
    beside a SQLite file (absolute, resolved against the working directory as the store's
    own path is), else None."""
    if checkpoint_dir:
        return Path(checkpoint_dir).expanduser().absolute()
    db = sqlite_file(storage_url)
    if db is None:
        return None
    return db.with_name(db.name + SUFFIX)


@dataclass(frozen=True, slots=True)
class Checkpoints:
    """The checkpoints of one search: `root` (see `checkpoint_root`), the search `name`,
    and whether to `prune` to the Pareto front after each round."""

    root: Path
    name: str
    prune: bool = True

    @property
    def folder(self) -> Path:
        """Where the evaluator writes this search's files."""
        return self.root / self.name

    def relative(self, path: str) -> str | None:
        """`path` (from the evaluator) relative to the root, or None if it lies outside."""
        try:
            return PurePosixPath(Path(path).absolute().relative_to(self.root.absolute())).as_posix()
        except ValueError:
            return None


def search_checkpoints(config: SearchConfig, storage_url: str) -> Checkpoints | None:
    """Where the search of `config` in the store at `storage_url` keeps its checkpoints;
    None when ``[training] checkpoints = "none"`` or the store has no checkpoint root."""
    mode = config.training.checkpoints
    if mode not in MODES:
        raise ValueError(f"checkpoints mode {mode!r}; use one of {', '.join(MODES)}")
    root = checkpoint_root(storage_url, config.training.checkpoint_dir)
    if mode == "none" or root is None:
        return None
    checkpoints = Checkpoints(root, config.name, prune=mode == "pareto")
    check_writable(checkpoints.folder, configured=config.training.checkpoint_dir is not None)
    return checkpoints


def check_writable(folder: Path, *, configured: bool = True) -> None:
    """Before the search starts: `folder` (or, while it does not exist, its nearest existing
    parent) must be a folder this process can write a file in. A path that is a file, lies
    under a file or cannot be written raises ConfigError naming it, rather than every trial
    dropping its checkpoint. Creates nothing (a temporary probe file is removed)."""
    where = ("[training] checkpoint_dir" if configured
             else "the checkpoint folder beside the SQLite store")
    existing, found = next((p, found) for p in (folder, *folder.parents)
                           if (found := look_up(p, where, ConfigError)) is not None)
    reason = None
    if not stat.S_ISDIR(found.st_mode):
        reason = f"{existing} is a file, not a folder"
    else:
        try:
            with tempfile.TemporaryFile(dir=existing):
                pass
        except OSError as err:
            reason = f"{existing} cannot be written: {err.strerror or err}"
    if reason is not None:
        raise ConfigError(
            f"{where}: cannot write checkpoints to {folder} ({reason}). Choose a folder this "
            "user can create and write, set [training] checkpoint_dir to one, or set "
            '[training] checkpoints = "none" to keep no weights.')


def resolve(root: Path, relative: str) -> Path | None:
    """The file a stored relative path names under `root`; None for a path that is absolute
    or climbs out of the root (a store is not trusted to name files elsewhere)."""
    parts = PurePosixPath(relative).parts
    if not parts or PurePosixPath(relative).is_absolute() or any(
            p in ("..", "") or "\\" in p or ":" in p for p in parts):
        return None
    return root.joinpath(*parts)


def stored_checkpoint(trial: TrialRecord, root: Path | None) -> Path:
    """The existing checkpoint file of `trial`; CheckpointError (naming --retrain) if the
    store has none for it or the file is gone."""
    retrain = ("add --retrain to train it afresh with its own hyper-parameters and seed "
               "(on the CPU the result matches the stored trial)")
    if trial.checkpoint is None or root is None:
        why = ("no checkpoint is kept for it (only Pareto trials keep theirs, with "
               "[training] checkpoints = \"pareto\"; stores other than a SQLite file need "
               "[training] checkpoint_dir)")
        raise CheckpointError(f"Trial {trial.number} of search {trial.search!r} has no stored "
                              f"weights: {why}; {retrain}.")
    path = resolve(root, trial.checkpoint)
    found = None if path is None else look_up(
        path, f"The checkpoint of trial {trial.number}", CheckpointError)
    if path is None or found is None or not stat.S_ISREG(found.st_mode):
        raise CheckpointError(f"The checkpoint of trial {trial.number} of search "
                              f"{trial.search!r} ({trial.checkpoint!r} under {root}) is "
                              f"missing; {retrain}.")
    return path


def prune(store: Store, objectives: Sequence[Objective], checkpoints: Checkpoints) -> list[int]:
    """Delete the checkpoints of the search's COMPLETE trials that are not on the Pareto
    front (their paths are cleared in the store first); returns the numbers cleared. A file
    that a Pareto trial's path names is never deleted (equal architectures share one).
    Reads every COMPLETE trial: a search's rounds use `FrontPruner`, which reads once."""
    return _prune_all(store, objectives, checkpoints)[0]


def _prune_all(store: Store, objectives: Sequence[Objective], checkpoints: Checkpoints
               ) -> tuple[list[int], list[TrialRecord]]:
    """`prune`, and the COMPLETE trials on the front."""
    complete = store.trials(checkpoints.name, [TrialState.COMPLETE])
    on_front = set(pareto_front([t.metrics for t in complete], objectives))
    front = [t for i, t in enumerate(complete) if i in on_front]
    stale = [t for i, t in enumerate(complete) if i not in on_front]
    return _drop(store, checkpoints, stale, front), front


def _keep(name: str, front: Sequence[TrialRecord]) -> set[str]:
    """The files the trials of `front` name: recorded, and the evaluator's name for each."""
    return ({t.checkpoint for t in front if t.checkpoint}
            | {f"{name}/{t.arch_id}.pt" for t in front})


def _drop(store: Store, checkpoints: Checkpoints, stale: Sequence[TrialRecord],
          front: Sequence[TrialRecord]) -> list[int]:
    """Clear the recorded paths of `stale` trials, then delete their files (the recorded
    one, and the evaluator's name for it: a file a crash left unrecorded) except those a
    `front` trial names."""
    cleared = store.clear_checkpoints(checkpoints.name,
                                      [t.number for t in stale if t.checkpoint])
    candidates = {t.checkpoint for t in stale if t.checkpoint}
    candidates |= {f"{checkpoints.name}/{t.arch_id}.pt" for t in stale
                   if _SAFE_ID.fullmatch(t.arch_id)}
    _delete(checkpoints, candidates - _keep(checkpoints.name, front))
    if cleared:
        logger.debug("pruned the checkpoints of trials %s", cleared)
    return cleared


def _delete(checkpoints: Checkpoints, relatives: Iterable[str]) -> None:
    for relative in sorted(relatives):
        path = resolve(checkpoints.root, relative)
        if path is None:
            continue
        try:
            path.unlink(missing_ok=True)
        except OSError as err:  # the store no longer names it: only disk space is lost
            logger.warning("Could not delete the pruned checkpoint %s: %s", path, err)


class FrontPruner:
    """`prune` for a running search, at a cost that does not grow with its history.

    The first use reads every COMPLETE trial once (`prune`: what a crash or another run
    left is cleaned up) and keeps the front; after that it learns of finished trials through
    `note` (this process's and, via `SharedHistory.news`, other workers') and each `prune`
    compares only the front with the trials noted since. A result the front already
    dominates never gets a recorded path (`unkept`): its file is deleted right after the
    trial is stored, so most trials cost no extra transaction. Exact: a trial dominated by
    some stored trial is off the search's front whatever else it holds; a trial of another
    worker not yet noted only delays pruning (its file is kept until it is).
    """

    def __init__(self, store: Store, objectives: Sequence[Objective],
                 checkpoints: Checkpoints) -> None:
        self.store, self.objectives, self.checkpoints = store, tuple(objectives), checkpoints
        self._front: list[TrialRecord] | None = None  # None: not read yet
        self._noted: dict[int, TrialRecord] = {}

    def front(self) -> list[TrialRecord]:
        """The COMPLETE trials on the front as far as this pruner knows (reads once)."""
        if self._front is None:
            self._noted.clear()
            _, self._front = _prune_all(self.store, self.objectives, self.checkpoints)
        return self._front

    def note(self, records: Iterable[TrialRecord]) -> None:
        """Finished trials to compare with the front at the next `prune`."""
        for record in records:
            if record.state is TrialState.COMPLETE:
                self._noted[record.number] = record

    def unkept(self, result: EvalResult) -> EvalResult:
        """`result` without its checkpoint path when the front dominates it (or it has no
        finite value of an objective): store that, then `discard` the path."""
        if result.state is not TrialState.COMPLETE or result.checkpoint is None:
            return result
        front = self.front()
        known = [t.metrics for t in front] + [result.metrics]
        if len(known) - 1 in pareto_front(known, self.objectives):
            return result
        return dataclasses.replace(result, checkpoint=None)

    def discard(self, relative: str) -> None:
        """Delete the file of a trial stored without its path (`unkept`), unless a front
        trial names it."""
        if relative not in _keep(self.checkpoints.name, self.front()):
            _delete(self.checkpoints, [relative])

    def prune(self) -> list[int]:
        """Clear and delete the checkpoints of the trials that left the front or never
        reached it since the last call; returns the numbers cleared."""
        front = self.front()
        if not self._noted:
            return []
        numbers = {t.number for t in front}
        candidates = front + [t for t in self._noted.values() if t.number not in numbers]
        self._noted.clear()
        on_front = set(pareto_front([t.metrics for t in candidates], self.objectives))
        self._front = [t for i, t in enumerate(candidates) if i in on_front]
        stale = [t for i, t in enumerate(candidates) if i not in on_front]
        return _drop(self.store, self.checkpoints, stale, self._front) if stale else []
