"""Store -> pandas DataFrames for the dashboard (testable without Streamlit, torch-free).

Only the Store's read methods are called (`list_searches`, `get_search`, `trial_table`,
`trial`): the dashboard never writes, and on SQLite (WAL) its reads never block a running
search.

Trial frames have one row per trial: ``number``, ``state``, ``weights`` ("inherited": metrics
measured on a supernet's shared weights, named ``inherited_*``; "trained": a standalone
training), ``arch_id``, ``error``,
``started_at``, ``finished_at``, ``seconds``, one column per metric under its own name, and
one column per parameter named ``PARAM_PREFIX + name`` (``param.activation``); a parameter a
trial does not have (a condition) is NaN / None there. Column ``arch`` holds the
architecture's canonical JSON (`Architecture.json`), for `described`, which parses it for the
rows a page shows and puts ``arch_id`` and ``summary`` (a one-line architecture summary) in
its place: at 100k trials an Architecture per trial would cost more than the rest of the
frame. The frame is built in bulk from the store's columnar read (`table_frame`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from nasforge.frozen import table, thaw
from nasforge.metrics import larger_is_better
from nasforge.objectives import Objective
from nasforge.records import CurvePoint, SearchRecord, TrialRecord, TrialState
from nasforge.searchspace.architecture import Architecture
from nasforge.store.base import Store
from nasforge.store.trial_table import table_of_records
from nasforge.strategies.pareto import hypervolume, non_dominated_mask
from nasforge.ui.table_frame import FRAME_COLUMNS, PARAM_PREFIX, table_frame

#: Columns that are neither metrics nor parameters (``arch_id``, ``summary``: `described`).
BASE_COLUMNS = (*FRAME_COLUMNS, "arch_id", "summary")
_SUMMARY_SKIP = ("cell.edge_",)


def param_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.startswith(PARAM_PREFIX)]


def metric_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c not in BASE_COLUMNS and not c.startswith(PARAM_PREFIX)]


def display_names(columns: Sequence[str]) -> dict[str, str]:
    """Column -> the name shown in a table: parameters without the prefix, except where
    that name is also another column's (the metric ``epochs`` and the parameter
    ``param.epochs`` of a search over epochs): those keep it."""
    taken = {c for c in columns if not c.startswith(PARAM_PREFIX)}
    return {c: c.removeprefix(PARAM_PREFIX)
            if c.startswith(PARAM_PREFIX) and c.removeprefix(PARAM_PREFIX) not in taken else c
            for c in columns}


def spans_decades(values: pd.Series, decades: float = 2.0) -> bool:
    """Whether positive `values` span at least `decades` powers of ten (a log axis fits)."""
    numbers = pd.to_numeric(values, errors="coerce").dropna()
    numbers = numbers[np.isfinite(numbers)]
    if numbers.empty or (numbers <= 0).any():
        return False
    return bool(np.log10(numbers.max() / numbers.min()) >= decades)


def log_possible(values: pd.Series) -> bool:
    """A log axis can show every finite value (all positive)."""
    numbers = pd.to_numeric(values, errors="coerce").dropna()
    return bool(len(numbers)) and bool((numbers > 0).all())


def direction_of(metric: str, objectives: Sequence[Objective]) -> Objective:
    """The objective for `metric`: the search's own direction, else max for accuracy-like
    metrics and min for costs."""
    for objective in objectives:
        if objective.metric == metric:
            return objective
    return Objective(metric, "max" if larger_is_better(metric) else "min")


# searches ------------------------------------------------------------------------------
def search_status(search: SearchRecord) -> str:
    """running (trials RUNNING or WAITING below the budget), complete (budget reached) or
    stopped (below the budget and nothing running: killed or interrupted; resumable)."""
    counts = search.trial_counts
    active = counts.get(TrialState.RUNNING.value, 0) + counts.get(TrialState.WAITING.value, 0)
    if search.finished >= search.budget:
        return "complete"
    return "running" if active else "stopped"


def searches_frame(searches: Sequence[SearchRecord],
                   best: Mapping[str, Mapping[str, float]] | None = None) -> pd.DataFrame:
    """One row per search: name, status, strategy, dataset, objectives, budget, finished,
    per-state counts, progress (0..1), created_at, and `best` (objective -> best value)."""
    rows = []
    for s in searches:
        head, data = table(s.config, "search"), table(s.config, "data")
        counts = s.trial_counts
        row: dict[str, object] = {
            "name": s.name, "status": search_status(s),
            "strategy": head.get("strategy", ""), "dataset": data.get("dataset", ""),
            "objectives": ", ".join(str(o) for o in s.objectives), "budget": s.budget,
            "finished": s.finished, "progress": min(1.0, s.finished / max(1, s.budget)),
            **{state.value.lower(): counts.get(state.value, 0) for state in TrialState},
            "created_at": s.created_at,
        }
        for key, value in (best or {}).get(s.name, {}).items():
            row[f"best {key}"] = value
        rows.append(row)
    return pd.DataFrame(rows)


def best_values(frame: pd.DataFrame, objectives: Sequence[Objective]) -> dict[str, float]:
    """The best value of each objective over the COMPLETE trials of a trials frame."""
    done = frame[frame["state"] == TrialState.COMPLETE.value] if len(frame) else frame
    best: dict[str, float] = {}
    for o in objectives:
        if o.metric in done and done[o.metric].notna().any():
            values = done[o.metric].astype(float)
            best[str(o)] = float(values.max() if o.direction == "max" else values.min())
    return best


def same_space(a: SearchRecord, b: SearchRecord) -> bool:
    """Whether two searches ran on the same space and data (their stored config sections)."""
    ca, cb = thaw(a.config), thaw(b.config)
    return (ca.get("space") == cb.get("space") and ca.get("data") == cb.get("data")
            and ca.get("training") == cb.get("training"))


def random_reference(searches: Sequence[SearchRecord], name: str) -> str | None:
    """A random search on the same space and data as search `name` (not itself), if any:
    the reference line of the History page."""
    target = next((s for s in searches if s.name == name), None)
    if target is None:
        return None
    for s in searches:
        strategy = table(s.config, "search").get("strategy")
        if s.name != name and strategy == "random" and same_space(s, target):
            return s.name
    return None


# trials ---------------------------------------------------------------------------------
def arch_summary(arch: Mapping[str, object], limit: int = 10) -> str:
    """A short description of an architecture: family first, then its parameters (the cell
    edges as one NAS-Bench-201-like string)."""
    values = dict(arch)
    parts = [str(values.pop("family", ""))] if "family" in values else []
    edges, shown = [], []
    for k, v in values.items():
        if not k.startswith(_SUMMARY_SKIP):
            shown.append(f"{k}={_short(v)}")
        elif v != "none":
            edges.append(f"{k.rsplit('edge_', 1)[1]}:{v}")
    parts += shown[:limit] + ([f"+{len(shown) - limit} more"] if len(shown) > limit else [])
    if edges:
        parts.append("edges " + " ".join(edges))
    return ", ".join(p for p in parts if p)


def _short(value: object) -> str:
    if isinstance(value, float) and not float(value).is_integer():
        return f"{value:.3g}"
    return str(value)


def described(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` (the rows of a trials frame that a page shows) with ``arch_id`` and
    ``summary`` (`arch_summary`) in place of column ``arch``."""
    archs = [Architecture.from_json(text) for text in frame["arch"]]
    out = frame.drop(columns="arch")
    at = list(frame.columns).index("arch")
    out.insert(at, "summary", [arch_summary(a) for a in archs])
    out.insert(at, "arch_id", [a.arch_id for a in archs])
    return out


def trials_frame(trials: Sequence[TrialRecord]) -> pd.DataFrame:
    """The trials frame (see the module docstring) of `trials`, in their order: the frame
    `store.trial_table` gives for the same trials (`table_frame`)."""
    return table_frame(table_of_records(trials))


def load_trials(store: Store, name: str) -> pd.DataFrame:
    """The trials frame of every trial of search `name`, from the store's columnar read."""
    return table_frame(store.trial_table(name))


def filter_trials(frame: pd.DataFrame, states: Sequence[str] | None = None,
                  params: Mapping[str, Sequence[object]] | None = None,
                  ranges: Mapping[str, tuple[float, float]] | None = None) -> pd.DataFrame:
    """Rows whose state is in `states` (None: all), whose parameter column is one of the
    given values (`params`: column -> allowed values) and whose numeric column lies in the
    closed range (`ranges`: column -> (low, high))."""
    mask = pd.Series(True, index=frame.index)
    if states is not None:
        mask &= frame["state"].isin(list(states))
    for column, allowed in (params or {}).items():
        mask &= frame[column].isin(list(allowed))
    for column, (low, high) in (ranges or {}).items():
        values = pd.to_numeric(frame[column], errors="coerce")
        mask &= values.between(low, high)
    return frame[mask]


def objective_points(frame: pd.DataFrame, objectives: Sequence[Objective]) -> np.ndarray:
    """(n, m) objective values turned into maximisation (NaN where missing)."""
    columns = [frame[o.metric].to_numpy(dtype=np.float64) * o.sign() if o.metric in frame
               else np.full(len(frame), np.nan) for o in objectives]
    return np.column_stack(columns) if columns else np.empty((len(frame), 0))


def front_mask(frame: pd.DataFrame, objectives: Sequence[Objective]) -> np.ndarray:
    """Boolean (n,): the COMPLETE rows with every objective finite that no other such row
    dominates (the Pareto front of `objectives`)."""
    mask = np.zeros(len(frame), dtype=bool)
    if not len(frame):
        return mask
    points = objective_points(frame, objectives)
    usable = (frame["state"].to_numpy() == TrialState.COMPLETE.value) & np.isfinite(
        points).all(axis=1)
    if usable.any():
        mask[np.flatnonzero(usable)[non_dominated_mask(points[usable])]] = True
    return mask


def reference_point(points: np.ndarray) -> np.ndarray:
    """A hypervolume reference point below every finite point (maximisation): the worst
    value of each column minus 10% of its range (1 where the range is 0)."""
    finite = points[np.isfinite(points).all(axis=1)]
    if not len(finite):
        return np.zeros(points.shape[1])
    low, high = finite.min(axis=0), finite.max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    return low - 0.1 * span


def history_frame(frame: pd.DataFrame, objectives: Sequence[Objective],
                  reference: np.ndarray | None = None) -> pd.DataFrame:
    """Per finished trial (by number): ``number``, ``index`` (1-based count of finished
    trials), best-so-far of each objective (column ``best <objective>``) and
    ``hypervolume`` of the front so far (NaN above 3 objectives). `reference`: the
    hypervolume reference point in maximisation space (default: `reference_point` of these
    trials; pass a shared one to compare searches)."""
    finished = frame[frame["state"].isin([s.value for s in TrialState if s.is_finished])]
    finished = finished.sort_values("number")
    points = objective_points(finished, objectives)
    complete = finished["state"].to_numpy() == TrialState.COMPLETE.value
    usable = complete & np.isfinite(points).all(axis=1)
    out = pd.DataFrame({"number": finished["number"].to_numpy(),
                        "index": np.arange(1, len(finished) + 1)})
    for j, o in enumerate(objectives):
        column = np.where(usable, points[:, j], -np.inf)
        best = np.maximum.accumulate(column) if len(column) else column
        out[f"best {o}"] = np.where(np.isfinite(best), best * o.sign(), np.nan)
    m = len(objectives)
    if m > 3 or m == 0:
        out["hypervolume"] = math.nan
        return out
    ref = reference_point(points[usable]) if reference is None else np.asarray(reference)
    out["hypervolume"] = _running_hypervolume(points, usable, ref)
    return out


def _running_hypervolume(points: np.ndarray, usable: np.ndarray, ref: np.ndarray
                         ) -> np.ndarray:
    """Hypervolume after each row, keeping only the current front (it changes rarely, so
    this is far cheaper than recomputing over all rows)."""
    values = np.zeros(len(points))
    front = np.empty((0, points.shape[1]))
    current = 0.0
    for i, (point, ok) in enumerate(zip(points, usable, strict=True)):
        if ok and not (front >= point).all(axis=1).any():
            keep = ~(point >= front).all(axis=1)
            front = np.vstack([front[keep], point])
            current = hypervolume(front, ref)
        values[i] = current
    return values


# one trial ------------------------------------------------------------------------------
def curve_frame(curve: Sequence[CurvePoint]) -> pd.DataFrame:
    """Long form of a learning curve: epoch, metric, value."""
    rows = [{"epoch": p.epoch, "metric": k, "value": v} for p in curve for k, v in
            p.metrics.items()]
    return pd.DataFrame(rows, columns=["epoch", "metric", "value"])


def cell_nodes(arch: Mapping[str, object], family: str = "cell") -> int | None:
    """The number of nodes of the cell encoded by `arch` (``cell.edge_j_i`` keys), if any."""
    prefix = f"{family}.edge_"
    targets = [int(k[len(prefix):].split("_")[0]) for k in arch if k.startswith(prefix)]
    return max(targets) + 1 if targets else None


def breakdown_frame(frame: pd.DataFrame, column: str, metrics: Sequence[str]) -> pd.DataFrame:
    """Per value of `column` over the COMPLETE rows: count, and mean / best of each metric
    (best = max for larger-is-better metrics, min otherwise)."""
    done = frame[(frame["state"] == TrialState.COMPLETE.value) & frame[column].notna()]
    grouped = done.groupby(done[column].astype(str))
    out = pd.DataFrame({"count": grouped.size()})
    for metric in metrics:
        if metric in done:
            out[f"mean {metric}"] = grouped[metric].mean()
            best = grouped[metric].max() if larger_is_better(metric) else grouped[metric].min()
            out[f"best {metric}"] = best
    return out.reset_index().rename(columns={column: "value"})


def combined_trials(frames: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Trials frames of several searches in one, with a ``search`` column (Compare page)."""
    parts = [f.assign(search=name) for name, f in frames.items() if len(f)]
    if not parts:
        return pd.DataFrame({"search": [], **{c: [] for c in BASE_COLUMNS}})
    return pd.concat(parts, ignore_index=True)
