"""`nasforge export`: choose the trials, check the destination, the weights and the data
(the data the search ran on, by its fingerprint) before anything is written, then write one
folder per trial and a line each."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.text import Text

from nasforge.errors import NasforgeError

if TYPE_CHECKING:
    from nasforge.store import Store


@dataclass(frozen=True)
class ExportRequest:
    """What the user asked `nasforge export` for (its options as typed)."""

    name: str
    out: Path
    trial: int | None = None
    best: str | None = None
    pareto: bool = False
    weights: bool = False
    onnx: bool = False
    retrain: bool = False


def run_export(request: ExportRequest, storage_url: str, read_store: Callable[[], Store],
               cache_dir: Path) -> None:
    """Export `request` from the store `read_store()` opens (read-only) at `storage_url`;
    NasforgeError for a bad request, before anything is written."""
    from nasforge.checkpoint_policy import checkpoint_root
    from nasforge.evaluator.data.fingerprint import data_fingerprint
    from nasforge.evaluator_setup import load_checked
    from nasforge.export.bundle import Options, check_destination, check_weights, export_trials
    from nasforge.export.data_check import check_export_data, load_failure
    from nasforge.export.select import choose_trials
    from nasforge.search import stored_config

    name, retrain = request.name, request.retrain
    with_weights = request.weights or retrain  # retrained weights are what --retrain is for
    check_destination(request.out, Options(weights=with_weights, onnx=request.onnx,
                                           retrain=retrain))
    store = read_store()
    try:
        chosen = choose_trials(store, name, trial=request.trial, best=request.best,
                               pareto=request.pareto)
        config = stored_config(store, name)
        stored = store.data_fingerprint(name)
    finally:
        store.close()
    root = checkpoint_root(storage_url, config.training.checkpoint_dir)
    check_weights(chosen, Options(weights=with_weights, retrain=retrain,
                                  checkpoint_root=root))  # before the data is loaded
    try:
        dataset = load_checked(config, cache_dir=cache_dir)
    except NasforgeError as err:
        raise load_failure(name, stored, config.data, err) from None
    notice = check_export_data(name, stored, data_fingerprint(config.data, dataset),
                               retrain=retrain)
    if notice is not None:
        Console(stderr=True).print(Text.assemble((f"{notice.level}: ", "bold yellow"),
                                                 notice.text), highlight=False, soft_wrap=True)
    options = Options(weights=with_weights, onnx=request.onnx, retrain=retrain,
                      checkpoint_root=root,
                      data_warning=notice.text if notice and notice.level == "warning"
                      else None)
    for item in export_trials(config, dataset, chosen, request.out, options):
        notes = [f"{item.seconds:.2f} s"]
        if item.retrained_metrics:
            notes.append("retrained: " + ", ".join(
                f"{k} {v:.4g}" for k, v in item.retrained_metrics.items()))
        if item.onnx_max_abs_diff is not None:
            notes.append(f"onnxruntime max abs diff {item.onnx_max_abs_diff:.2g}")
        typer.echo(f"trial {item.number}: {item.folder} ({', '.join(item.files)}; "
                   f"{'; '.join(notes)})")
