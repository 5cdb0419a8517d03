"""A trial's network for the dashboard: its data spec, plan, layer stack and model.py.

model.py is generated as `nasforge export` generates it (`export.codegen.generate` on
`families.plan_for` with the same `ModelMeta`), torch-free. The plan needs the data's shape,
so the search's dataset is loaded once (numpy only) and kept as its `SearchData` (the shape
and the input preprocessing that model.py carries); a search on a tabular benchmark has no
dataset to plan on, and `search_data` says so. Data that changed since the search ran is
checked as `nasforge export` checks it (`export.data_check`): `SearchData.refused` says why
model.py is not offered.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pandas as pd

from nasforge.errors import NasforgeError
from nasforge.export.codegen import ModelMeta, generate
from nasforge.frozen import thaw
from nasforge.records import SearchRecord, TrialRecord
from nasforge.searchspace.families import plan_for
from nasforge.searchspace.plan import DataSpec, NetworkPlan, iter_ops
from nasforge.searchspace.plan_ops import PlanOp
from nasforge.searchspace.quantization import FLOAT_BITS

if TYPE_CHECKING:
    from nasforge.evaluator.data.preprocessing import Preprocessing


class Unavailable(NasforgeError):
    """What the dashboard cannot show for a trial, and why."""


@dataclass(frozen=True, slots=True)
class SearchData:
    """What the dashboard keeps of a search's dataset: its shape and input preprocessing.
    `refused`: why model.py is not offered (the data changed since the search ran, naming the
    change); `note`: what the export could not check (a search stored without a fingerprint).
    """

    spec: DataSpec
    preprocessing: Preprocessing | None
    refused: str | None = None
    note: str | None = None


def search_data(config: Mapping[str, object], cache_dir: Path | None = None, *,
                stored: Mapping[str, object] | None = None) -> SearchData:
    """The SearchData of the search whose stored config is `config` (loads its dataset),
    checked against `stored`, the search's stored data fingerprint (None: stored without)."""
    from nasforge.config import DATA_OPTION_KEYS, DataConfig
    from nasforge.errors import DataError
    from nasforge.evaluator.data import load_dataset
    from nasforge.evaluator.data.fingerprint import data_fingerprint
    from nasforge.export.data_check import check_export_data, load_failure

    raw = cast("dict[str, Any]", thaw(config) or {})  # thaw returns object
    data = dict(raw.get("data", {}))
    name = str(data.pop("dataset", ""))
    if raw.get("evaluator"):
        raise Unavailable("The search ran your own evaluator ([evaluator] in its config) on "
                          "plain parameters, so it has no network to plan or export.")
    if not name or name.startswith("tabular:"):
        raise Unavailable(f"The search ran on the lookup table {name or '(none)'!r}, not on "
                          "a dataset, so it has no network to plan or export; run a search "
                          "on a dataset (e.g. dataset = \"digits\") to export code.")
    head = raw.get("search", {})
    options = {k: v for k, v in data.items() if k in DATA_OPTION_KEYS}  # not augment, ...
    limit = data.get("train_limit")
    loaded = DataConfig(name, float(data.get("val_fraction", 0.2)),
                        float(data.get("test_fraction", 0.2)), options,
                        train_limit=limit if isinstance(limit, int) else None)
    search = str(head.get("name", ""))
    try:
        dataset = load_dataset(name, seed=int(head.get("seed", 0)),
                               val_fraction=loaded.val_fraction,
                               test_fraction=loaded.test_fraction, options=options,
                               cache_dir=cache_dir, train_limit=loaded.train_limit)
    except NasforgeError as err:
        raise load_failure(search, stored, loaded, err) from None
    try:
        notice = check_export_data(search, stored, data_fingerprint(loaded, dataset),
                                   retrain=False)
    except DataError as err:
        return SearchData(dataset.spec, dataset.preprocessing, refused=str(err))
    return SearchData(dataset.spec, dataset.preprocessing,
                      note=notice.text if notice is not None else None)


def trial_plan(trial: TrialRecord, spec: DataSpec) -> NetworkPlan:
    return plan_for(trial.arch, spec)


def model_source(search: SearchRecord, trial: TrialRecord, data: SearchData) -> str:
    """The model.py text `nasforge export --trial N` writes for this trial (taking raw
    samples, preprocessed as the search did)."""
    meta = ModelMeta(search=search.name, trial=trial.number, arch=thaw(dict(trial.arch)),
                     arch_id=trial.arch_id, metrics=dict(trial.metrics),
                     objectives=tuple(str(o) for o in search.objectives))
    return generate(plan_for(trial.arch, data.spec), meta, data.preprocessing).source


#: Ops whose name carries their dimensionality (Conv2d); other ops' ``dims`` is internal.
_NAMED_BY_DIMS = ("Conv", "Pool")


def op_label(op: PlanOp) -> str:
    """``Conv2d in_channels=1 out_channels=8 kernel=3 bias=False w8/a8``: the op's scalar
    fields that differ from their defaults, in the user's words; internal fields (``dims``,
    ``learned_step=False``) and float bit widths are left out. Plan ops are dataclasses
    (`plan_ops.PlanOp`); another object raises TypeError, as `dataclasses.fields` would."""
    if not dataclasses.is_dataclass(op):
        raise TypeError(f"{op!r} is not a plan op dataclass")
    name = type(op).__name__
    dims = getattr(op, "dims", 0)
    if name in _NAMED_BY_DIMS and dims:
        name += f"{dims}d"
    parts = [name]
    for f in dataclasses.fields(op):
        value = getattr(op, f.name)
        if f.name in ("weight_bits", "act_bits", "dims") or value == f.default:
            continue
        if isinstance(value, bool):
            parts.append(f.name.replace("_", " ") if value else f"no {f.name}")
        elif isinstance(value, (int, float, str)):
            parts.append(f"{f.name}={value}")
    bits = (getattr(op, "weight_bits", FLOAT_BITS), getattr(op, "act_bits", FLOAT_BITS))
    if bits != (FLOAT_BITS, FLOAT_BITS):
        parts.append(f"w{bits[0]}/a{bits[1]}")
    return " ".join(parts)


def layer_frame(plan: NetworkPlan) -> pd.DataFrame:
    """The layer stack: one row per top-level op (index, kind, label, output shape,
    inner ops of a composite op)."""
    rows = []
    for i, (op, shape) in enumerate(zip(plan.ops, plan.shapes, strict=True)):
        inner_ops = sum(1 for _ in iter_ops((op,), (shape,))) - 1
        rows.append({"index": i, "kind": type(op).__name__, "label": op_label(op),
                     "shape": "x".join(map(str, shape)), "inner_ops": inner_ops})
    return pd.DataFrame(rows, columns=["index", "kind", "label", "shape", "inner_ops"])
