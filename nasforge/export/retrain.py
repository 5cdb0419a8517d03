"""Train a stored trial's architecture afresh, as the search's evaluator trained it.

Same stored config, same data split and augmentation, same seed (`candidate_seed(search
seed, arch_id)`), same hyper-parameters (the trial's architecture), same torch threads, the
sequential training path: on the CPU the result matches the stored trial (fused trials
within the fused path's rtol 1e-4).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from nasforge.config import SearchConfig
from nasforge.evaluator.data import Dataset
from nasforge.evaluator.data.tensors import resolve_device, to_device
from nasforge.evaluator.seeding import candidate_seed, seeded
from nasforge.evaluator.threads import candidate_torch_threads
from nasforge.evaluator.train import TrainingParams, TrainOutcome, train_candidate
from nasforge.records import TrialRecord
from nasforge.searchspace.build import build_from_plan
from nasforge.searchspace.families import plan_for


@dataclass(frozen=True, slots=True)
class Retrained:
    model: torch.nn.Module  # on the CPU, eval mode
    outcome: TrainOutcome


def retrain(config: SearchConfig, dataset: Dataset, trial: TrialRecord) -> Retrained:
    """The trial's model trained afresh with its own hyper-parameters and seed."""
    device = resolve_device(config.training.device)
    data = to_device(dataset, device, config.data.augment)
    arch = trial.arch
    seed = candidate_seed(config.seed, arch.arch_id)
    plan = plan_for(arch, dataset.spec)
    params = TrainingParams.from_arch(arch)
    # the evaluator's thread count: another one sums in another order on the CPU
    with candidate_torch_threads(plan.macs, params.batch_size, config.training.threads, device):
        with seeded(seed, device):
            model = build_from_plan(plan).to(device)
        outcome = train_candidate(model, data, params, seed=seed, task=dataset.spec.task,
                                  precision=config.training.precision,
                                  compile=config.training.compile)
    return Retrained(model.cpu().eval(), outcome)
