"""Supernet training augments its training batches from its own seeded stream
(`DeviceData.augment`), reproducibly."""

from __future__ import annotations

import dataclasses

import torch

from nasforge.evaluator.data.tensors import DeviceData
from nasforge.supernet.model import Supernet
from nasforge.supernet.train import SupernetTraining, train_supernet
from tests.supernet.helpers import CNN_SPEC, cnn_space


def _data() -> DeviceData:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(120, *CNN_SPEC.input_shape, generator=g)
    y = torch.randint(0, 10, (120,), generator=g)
    return DeviceData(x[:80], y[:80], x[80:100], y[80:100], x[100:], y[100:], CNN_SPEC)


def _trained_loss(augment: tuple[str, ...]) -> float:
    space = cnn_space(weight_bits=[32], act_bits=[32], norm=["none", "batch"])
    net = Supernet(space, CNN_SPEC, seed=0)
    data = dataclasses.replace(_data(), augment=augment)
    return train_supernet(net, data, SupernetTraining(epochs=1, batch_size=40,
                                                      random_subnets=0), seed=1)["train_loss"]


def test_supernet_training_uses_the_augmentations_reproducibly() -> None:
    augmented = _trained_loss(("crop", "flip", "cutout"))
    assert augmented == _trained_loss(("crop", "flip", "cutout"))
    assert augmented != _trained_loss(())
