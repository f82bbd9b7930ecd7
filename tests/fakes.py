"""Small stand-ins the training tests share: a federation of random data and a model on it."""

from dataclasses import dataclass

import numpy as np
import torch

from fedgs_lite.models import get_params, make_model
from fedgs_lite.training import DeviceData


@dataclass(frozen=True)
class FakeDataset:  # stand-in for data.Dataset: only the fields DeviceData reads
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


@dataclass(frozen=True)
class FakeFederation:  # stand-in for partitions.FederatedDataset
    dataset: FakeDataset
    client_indices: tuple


def fake_federation(shape, sizes, seed=0, classes=10, separable=False):
    rng = np.random.default_rng(seed)
    n = sum(sizes) + 5  # a few samples belong to nobody
    y = rng.integers(0, classes, n)
    x = rng.normal(size=(n, *shape)).astype(np.float32)
    if separable:  # class signal in the first features so that a few SGD steps lower the loss
        x.reshape(n, -1)[np.arange(n), y] += 3.0
    perm = rng.permutation(n)
    idx = tuple(np.sort(p) for p in np.split(perm[: sum(sizes)], np.cumsum(sizes)[:-1]))
    return FakeFederation(FakeDataset(x, y, x[:30].copy(), y[:30].copy()), idx)


def training_setup(name, shape, sizes, seed=0, **kw):
    data = DeviceData.from_federated(fake_federation(shape, sizes, seed, **kw), "cpu")
    model = make_model(name, shape, 10, generator=torch.Generator().manual_seed(seed))
    return model, data, get_params(model)


def max_diff(a, b):
    return max((a[k] - b[k]).abs().max().item() for k in a)


SIZES = (40, 7, 90, 23)  # unequal; client 1 smaller than a batch
