"""Learned client features for the 3DG: round-0 model updates and round-0 logits.

Each is an (N, P) float array with one row per client, for `graph.build_3dg`; both come from one round
of local training of every client from the initial model. `client_features(kind, ...)` picks the
features a config names (`graph_features`): these two, the label distributions
(`graph.label_features`) or the authors' oracle (`graph.oracle_features`: the generating models on
synthetic data, label distributions otherwise).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, vmap

from fedgs_lite.config import GRAPH_FEATURES, LocalTraining
from fedgs_lite.graph import label_features, oracle_features
from fedgs_lite.models import Params, flatten_params, get_params, init_params, make_model
from fedgs_lite.training import DeviceData, local_train


def update_features(model: nn.Module, global_params: Params, data: DeviceData, cfg: LocalTraining,
                    generator: torch.Generator, engine: str = "batched", *,
                    chunk_size: int | None = 25) -> np.ndarray:
    """Every client trains once from `global_params`; (N, P) float64 flattened updates local - global.

    Clients train `chunk_size` at a time (memory; the result does not depend on it)."""
    clients = list(range(data.num_clients))
    local, _ = local_train(model, global_params, data, clients, cfg, 0, generator, engine,
                           chunk_size=chunk_size)
    delta = flatten_params(local, stacked=True) - flatten_params(global_params).unsqueeze(0)
    return delta.double().cpu().numpy()


@torch.no_grad()
def logit_features(model: nn.Module, global_params: Params, data: DeviceData, cfg: LocalTraining,
                   generator: torch.Generator, engine: str = "batched", *, chunk_size: int | None = 25,
                   noise_batch: int | None = None) -> np.ndarray:
    """Every client trains once; (N, C) float64 mean output of each local model on the same Gaussian
    noise, shaped like a test batch and matched to that batch's mean and std."""
    clients = list(range(data.num_clients))
    with torch.enable_grad():
        local, _ = local_train(model, global_params, data, clients, cfg, 0, generator, engine,
                               chunk_size=chunk_size)
    nb = min(noise_batch or cfg.batch_size, data.x_test.shape[0])
    ref = data.x_test[:nb]
    noise = torch.randn(ref.shape, generator=generator, device=generator.device).to(data.device)
    noise = noise * ref.std() + ref.mean()
    outs = vmap(lambda p: functional_call(model, p, (noise,)).mean(dim=0))(local)
    return outs.double().cpu().numpy()


def client_features(kind: str, fed, model: nn.Module, params: Params, data: DeviceData, cfg: LocalTraining,
                    generator: torch.Generator, engine: str = "auto") -> np.ndarray:
    """The 3DG features named `kind` (GRAPH_FEATURES): label distributions, the authors' oracle, or a
    round-0 pass of every client from `params` (it draws from `generator`)."""
    if kind == "label":
        return label_features(fed)
    if kind == "oracle":
        return oracle_features(fed)
    if kind not in GRAPH_FEATURES:
        raise ValueError(f"graph features must be one of {', '.join(GRAPH_FEATURES)}, got {kind!r}")
    extract = update_features if kind == "update" else logit_features
    return extract(model, params, data, cfg, generator, engine=engine)


@lru_cache(maxsize=4)
def cached_update_features(fed, seed: int, epochs: int) -> np.ndarray:
    return update_feature_matrix(fed, seed=seed, epochs=epochs)


def update_feature_matrix(fed, *, seed: int = 0, epochs: int = 1, device=None) -> np.ndarray:
    """Round-0 model updates (every client trains once from the same initial model), flattened (N, P)."""
    device = torch.device("cpu") if device is None else device
    ds = fed.dataset
    gen = torch.Generator().manual_seed(seed)
    model = init_params(make_model(ds.name, ds.input_shape, ds.num_classes), gen).to(device)
    data = DeviceData.from_federated(fed, device)
    cfg = LocalTraining(epochs=epochs, steps=None, batch_size=64)
    feats = update_features(model, get_params(model), data, cfg, gen)
    return np.asarray(feats, dtype=float)
