"""Write the export folder: per trial, model.py, weights.pt, model.onnx and README.txt.

Everything is written into a temporary folder beside the destination and renamed into place
at the end, so a failed export leaves nothing behind. The weights come from the trial's stored
checkpoint (`nasforge.checkpoint_policy`) or, with `retrain`, from training it afresh; either way
they are checked: model.py loaded with weights.pt must compute what the trained model computes.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from nasforge.checkpoint_policy import stored_checkpoint
from nasforge.config import SearchConfig
from nasforge.evaluator.data import Dataset
from nasforge.evaluator.data.preprocessing import Preprocessing
from nasforge.export.checkpoint_reader import load_stored
from nasforge.export.codegen import ModelMeta, generate
from nasforge.export.onnx_check import ExportError, write_onnx
from nasforge.export.retrain import retrain
from nasforge.export.weights import load_module, to_named
from nasforge.frozen import thaw
from nasforge.records import TrialRecord
from nasforge.searchspace.families import plan_for

README = """Trial {number} of the nasforge search in model.py's docstring.

    import torch
    from model import INPUT_SHAPE, build

    model = build({weights})
    with torch.no_grad():
        outputs = model(torch.randn(8, *INPUT_SHAPE))

{input}

model.py needs only torch.{extra}
{data}"""


@dataclass(frozen=True, slots=True)
class Options:
    """`checkpoint_root`: where the store's checkpoint paths point (`checkpoint_root`);
    weights come from there unless `retrain`. `data_warning`: how the data differs from the
    search's, when `retrain` trains on changed data (`data_check`); README.txt records it."""

    weights: bool = False
    onnx: bool = False
    retrain: bool = False
    checkpoint_root: Path | None = None
    data_warning: str | None = None


@dataclass(frozen=True, slots=True)
class Exported:
    number: int
    folder: Path
    files: tuple[str, ...]
    seconds: float
    onnx_max_abs_diff: float | None = None
    retrained_metrics: dict[str, float] | None = None


def check_destination(out: Path, options: Options) -> None:
    """Refuse a non-empty destination and option combinations that cannot work, before any
    data is loaded or anything trained."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ExportError(f"The output folder {out} exists and is not empty; choose a new "
                          "folder with -o, or empty this one.")
    _check_parent(out)
    if options.onnx and not options.weights:
        raise ExportError("--onnx needs --weights: the ONNX file holds the trained weights.")


def _check_parent(out: Path) -> None:
    """The export is staged beside `out` and renamed into place: the nearest existing folder
    above it must be a folder that takes a new entry (tried for real, as root ignores modes)."""
    parent = out.absolute().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    fix = "choose -o under a folder you can write to (e.g. -o ./export)"
    if not parent.is_dir():
        raise ExportError(f"Cannot create the output folder {out}: {parent} is a file, not a "
                          f"folder; {fix}.")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=f".{out.name}.", dir=parent))
    except OSError as err:
        raise ExportError(f"Cannot create the output folder {out}: {parent} does not take new "
                          f"folders ({err.strerror or err}); {fix}.") from None


def check_weights(trials: list[TrialRecord], options: Options) -> None:
    """Without --retrain, every trial's stored checkpoint must exist (CheckpointError, which
    names --retrain, otherwise)."""
    if options.weights and not options.retrain:
        for trial in trials:
            stored_checkpoint(trial, options.checkpoint_root)


def export_trials(config: SearchConfig, dataset: Dataset, trials: list[TrialRecord],
                  out: Path, options: Options) -> list[Exported]:
    """Write one folder per trial under `out` (trial_0007/ ...); all or nothing."""
    check_destination(out, options)
    check_weights(trials, options)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        done = [_export_one(config, dataset, trial, staging, options) for trial in trials]
        if out.exists():
            out.rmdir()  # checked empty above
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return [Exported(d.number, out / d.folder.name, d.files, d.seconds, d.onnx_max_abs_diff,
                     d.retrained_metrics) for d in done]


def _export_one(config: SearchConfig, dataset: Dataset, trial: TrialRecord, staging: Path,
                options: Options) -> Exported:
    start = time.perf_counter()
    plan = plan_for(trial.arch, dataset.spec)
    objectives = tuple(str(o) for o in config.objectives)
    meta = ModelMeta(search=config.name, trial=trial.number, arch=thaw(dict(trial.arch)),
                     arch_id=trial.arch_id, metrics=dict(trial.metrics), objectives=objectives)
    pre = dataset.preprocessing
    generated = generate(plan, meta, pre)
    folder = staging / f"trial_{trial.number:04d}"
    folder.mkdir()
    (folder / "model.py").write_text(generated.source, encoding="ascii")
    files, diff, metrics = ["model.py"], None, None
    if options.weights:
        if options.retrain:
            trained = retrain(config, dataset, trial)
            model = trained.model
            metrics = {"loss": trained.outcome.val_loss,
                       "accuracy": trained.outcome.val_accuracy}
        else:
            model = load_stored(plan, stored_checkpoint(trial, options.checkpoint_root),
                                trial.number)
        module = load_module(folder / "model.py", f"nasforge_export_{trial.number}")
        state = to_named(model.state_dict(), generated.names)
        if pre is not None:
            state = {**module.preprocessing_state(), **state}
        torch.save(state, folder / "weights.pt")
        files.append("weights.pt")
        copy = module.build(str(folder / "weights.pt"))
        _check_same(copy, model, plan.input_shape, pre, trial.number)
        if options.onnx:
            shape = plan.input_shape if pre is None else pre.raw_shape
            diff = write_onnx(copy, shape, folder / "model.onnx").max_abs_diff
            files.append("model.onnx")
    weights = '"weights.pt"' if options.weights else ""
    extra = " model.onnx takes the input named \"input\" (batch axis dynamic)." \
        if options.onnx else ""
    data = "" if options.data_warning is None else "\n" + textwrap.fill(
        f"Retrained on changed data: {options.data_warning}", 92) + "\n"
    (folder / "README.txt").write_text(README.format(
        number=trial.number, weights=weights, extra=extra, data=data,
        input=_input_text(pre, plan.input_shape)))
    files.append("README.txt")
    return Exported(trial.number, folder, tuple(files), time.perf_counter() - start, diff,
                    {k: v for k, v in (metrics or {}).items() if v is not None} or None)


def _input_text(pre: Preprocessing | None, shape: tuple[int, ...]) -> str:
    """What the model takes, for README.txt: whole sentences, whatever the dataset says."""
    if pre is None:
        return textwrap.fill(
            f"The model takes samples of shape (N, {', '.join(map(str, shape))}) already "
            "preprocessed, as the search's evaluator was given them: this dataset carries no "
            "input preprocessing for model.py to apply.", 92)
    if not pre.raw_input:
        return textwrap.fill(
            f"The model takes raw samples of shape (N, {', '.join(map(str, pre.raw_shape))}), "
            "as you have them, and preprocesses them itself (model.py's docstring says how).",
            92)
    return ("The model takes raw samples, as you have them, and preprocesses them itself:\n"
            + textwrap.fill(pre.raw_input + ".", 92, initial_indent="    ",
                            subsequent_indent="    "))


def _check_same(copy: torch.nn.Module, model: torch.nn.Module, shape: tuple[int, ...],
                pre: Preprocessing | None, number: int) -> None:
    """`copy` (model.py, taking raw samples when `pre` is given) computes what `model`
    computes on the preprocessed samples, on random raw samples of the data's scale."""
    generator = torch.Generator().manual_seed(0)
    if pre is None:
        x = torch.randn(16, *shape, generator=generator)
        raw = x
    else:
        noise = torch.randn(16, *pre.raw_shape, generator=generator, dtype=torch.float64)
        values = (noise.numpy() * pre.std + pre.mean if pre.scale is None
                  else (noise.numpy().clip(-2, 2) + 2) / (4 * pre.scale))  # 0..1 scaled
        raw = torch.from_numpy(values)
        x = torch.from_numpy(pre.apply(values))
    with torch.no_grad():
        expected, got = model(x), copy(raw)
    if not torch.allclose(got, expected, rtol=1.3e-6, atol=1e-5):
        raise ExportError(f"The exported model.py of trial {number} does not reproduce the "
                          "trained model's outputs; please report this as a bug.")
