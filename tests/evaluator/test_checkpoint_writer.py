"""LocalEvaluator saves each COMPLETE candidate's state_dict as <dir>/<arch_id>.pt, from the
sequential and the fused path alike, atomically, and reports the path with the result."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from evaluator_helpers import blobs

from nasforge.config import from_dict
from nasforge.evaluator import local as local_module
from nasforge.evaluator.checkpoint_writer import checkpoint_name, save_checkpoint
from nasforge.evaluator.executors.pool import WorkerPool
from nasforge.evaluator.executors.wire import result_from_wire, result_to_wire
from nasforge.evaluator.local import LocalEvaluator
from nasforge.evaluator_setup import EvaluatorRecipe, load_checked
from nasforge.records import EvalResult, TrialState
from nasforge.searchspace.architecture import Architecture
from nasforge.searchspace.build import build_from_plan
from nasforge.searchspace.families import plan_for


def arch(width: int, **changes: object) -> Architecture:
    values = {"family": "mlp", "mlp.depth": 1, "mlp.width": width, "activation": "relu",
              "norm": "none", "dropout": 0.0, "lr": 1e-2, "epochs": 2, "batch_size": 32,
              "optimizer": "adamw", "schedule": "cosine", **changes}
    return Architecture(values)  # type: ignore[arg-type]


def load_into(candidate: Architecture, path: Path) -> torch.nn.Module:
    model = build_from_plan(plan_for(candidate, blobs().spec))
    model.load_state_dict(torch.load(path, weights_only=True))
    return model.eval()


def evaluate(folder: Path, fused: bool, archs: list[Architecture]) -> list[EvalResult]:
    evaluator = LocalEvaluator(blobs(), seed=0, measure_latency=False, fused=fused,
                               checkpoint_dir=folder)
    return evaluator.evaluate(archs)


def test_sequential_and_fused_evaluation_save_the_same_weights(tmp_path: Path,
                                                               monkeypatch) -> None:
    archs = [arch(8), arch(16)]
    sequential = evaluate(tmp_path / "seq", False, archs)
    fused_calls: list[int] = []
    real = local_module.train_fused

    def counting(plans, *args, **kwargs):  # type: ignore[no-untyped-def]
        fused_calls.append(len(plans))
        return real(plans, *args, **kwargs)

    monkeypatch.setattr(local_module, "train_fused", counting)
    fused = evaluate(tmp_path / "fused", True, archs)
    assert fused_calls == [2]  # the fused path really ran
    x = blobs().x_val
    for candidate, a, b in zip(archs, sequential, fused, strict=True):
        assert a.state is b.state is TrialState.COMPLETE
        for result, folder in ((a, "seq"), (b, "fused")):
            assert result.checkpoint == str(tmp_path / folder / f"{candidate.arch_id}.pt")
        state = torch.load(b.checkpoint, weights_only=True)
        assert all(t.device.type == "cpu" for t in state.values())
        with torch.no_grad():
            torch.testing.assert_close(load_into(candidate, b.checkpoint)(x),
                                       load_into(candidate, a.checkpoint)(x),
                                       rtol=1e-4, atol=1e-5)
    assert not list(tmp_path.rglob("*.tmp"))


def test_no_folder_no_file_and_failed_candidates_have_none(tmp_path: Path) -> None:
    (plain,) = LocalEvaluator(blobs(), seed=0, measure_latency=False).evaluate([arch(8)])
    assert plain.state is TrialState.COMPLETE and plain.checkpoint is None
    diverging = arch(8, lr=1e6, optimizer="sgd")
    (failed,) = evaluate(tmp_path, False, [diverging])
    assert failed.state is TrialState.FAILED and failed.checkpoint is None
    assert not (tmp_path / f"{diverging.arch_id}.pt").exists()


def test_an_unwritable_folder_keeps_the_result_complete(tmp_path: Path, caplog) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    (result,) = evaluate(blocker, False, [arch(8)])
    assert result.state is TrialState.COMPLETE and result.checkpoint is None
    assert "checkpoint not saved" in caplog.text


@pytest.mark.parametrize("bad", ["../x", "a/b", "", ".hidden", "a b", "x" * 200, "é"])
def test_only_plain_ids_name_a_file(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError, match="cannot name a checkpoint"):
        checkpoint_name(bad)
    with pytest.raises(ValueError):
        save_checkpoint(tmp_path, bad, torch.nn.Linear(2, 2))
    assert not list(tmp_path.iterdir())


def test_save_replaces_atomically(tmp_path: Path) -> None:
    first, second = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    path = save_checkpoint(tmp_path / "new", "abc_1-2", first)
    assert save_checkpoint(tmp_path / "new", "abc_1-2", second) == path
    assert torch.equal(torch.load(path, weights_only=True)["weight"], second.weight)
    assert [p.name for p in path.parent.iterdir()] == ["abc_1-2.pt"]


def test_the_wire_carries_the_checkpoint_and_reads_old_tuples() -> None:
    result = EvalResult(TrialState.COMPLETE, {"loss": 1.0}, (), checkpoint="/c/x.pt")
    assert result_from_wire(result_to_wire(result)) == result
    old = ("COMPLETE", {"loss": 1.0}, [], None)  # a worker from before checkpoints
    assert result_from_wire(old) == EvalResult(TrialState.COMPLETE, {"loss": 1.0})


RAW = {
    "search": {"name": "wire", "budget": 2, "objectives": ["accuracy:max"], "seed": 1},
    "data": {"dataset": "digits"},
    "training": {"epochs": 1, "measure_latency": False},
    "space": {"families": ["mlp"], "lr": 0.01, "mlp": {"depth": 1, "width": [8, 16]}},
}


def test_worker_pool_results_carry_their_checkpoints(tmp_path: Path) -> None:
    config = from_dict(RAW)
    archs = list(config.space.enumerate())[:2]
    recipe = EvaluatorRecipe.of(config, dataset=load_checked(config), checkpoint_dir=tmp_path)
    with WorkerPool(2, recipe, threads=1) as pool:
        results = pool.evaluate(archs)
    assert [r.state for r in results] == [TrialState.COMPLETE] * 2
    assert [r.checkpoint for r in results] == [str(tmp_path / f"{a.arch_id}.pt") for a in archs]
    assert all(Path(r.checkpoint).is_file() for r in results if r.checkpoint)
