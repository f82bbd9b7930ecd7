"""The Flower adapter's seams into fedgs_lite's run machinery: every call it makes into the kit's run
setup, sampler wiring, local training and History, each in one small function.

flower.py (the strategy) and flower_node.py (the ClientApp handlers) reach the run machinery only
through this file, so when the way runs are assembled changes, the adapter is re-pointed here and
nowhere else. Each function says which part of `run_experiment` it mirrors. No Flower import here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from fedgs_lite.experiment import ExperimentConfig, History
from fedgs_lite.seeds import RunSeeds, run_seeds, seed_int
from fedgs_lite.training import LocalTraining

__all__ = ["RunSeeds", "run_seeds", "seed_int"]  # re-exported: the adapter's seed streams come from here


MISSING_FLOWER = "fedgs_lite.flower needs Flower: pip install 'fedgs_lite[flower]'"


def missing_flower(err: ImportError) -> ImportError:
    """The one-line error for a missing Flower; any other import error is passed on unchanged."""
    if (err.name or "").split(".")[0] != "flwr":
        return err
    return ImportError(MISSING_FLOWER)


# --------------------------------------------------------------------------- run setup

def federation(config: ExperimentConfig):
    """The FederatedDataset `run_experiment(config)` trains on (same data, partition and seed)."""
    from fedgs_lite.data import load_dataset
    from fedgs_lite.partition import partition

    s_data = run_seeds(config.seed).data
    options = {}
    if config.dataset == "synthetic":
        options = dict(num_clients=config.num_clients, alpha=config.synthetic_alpha,
                       beta=config.synthetic_beta)
    dataset = load_dataset(config.dataset, config.data_root, seed=seed_int(s_data), **options)
    return partition(dataset, config.num_clients, config.partition_scheme, rng=np.random.default_rng(s_data),
                     classes_per_client=config.classes_per_client, dirichlet_alpha=config.dirichlet_alpha,
                     size_sigma=config.size_sigma)


def initial_model(config: ExperimentConfig, input_shape: tuple[int, ...], num_classes: int):
    """The model of `config`'s dataset with the initial weights `run_experiment(config)` starts from."""
    from fedgs_lite.models import make_model

    generator = torch.Generator(device="cpu")
    generator.manual_seed(seed_int(run_seeds(config.seed).torch))
    return make_model(config.dataset, input_shape, num_classes, generator=generator)


def local_settings(config: ExperimentConfig) -> LocalTraining:
    """The local-training settings of `config` (as run_experiment builds them)."""
    return LocalTraining(epochs=config.epochs, steps=config.steps, batch_size=config.batch_size, lr=config.lr,
                         lr_decay=config.lr_decay, momentum=config.momentum,
                         weight_decay=config.weight_decay, prox_mu=config.prox_mu)


def node_seed(seeds: RunSeeds, round_idx: int, client: int) -> int:
    """A node's seed for its minibatch plan in one round: the run's torch stream, forked per round and
    client (Flower nodes train apart, so they cannot share the kit's one generator)."""
    stream = seeds.torch
    return seed_int(np.random.SeedSequence(stream.entropy, spawn_key=(*stream.spawn_key, round_idx, client)))


def noise_seed(seeds: RunSeeds) -> int:
    """The seed of the noise batch all nodes share for logit features (a fork of the torch stream that
    no (round, client) pair uses)."""
    return node_seed(seeds, 0, 2**32) % 2**31


# --------------------------------------------------------------------------- availability and sampler

def label_features(histograms: np.ndarray) -> np.ndarray:
    """The oracle 3DG features (label distributions) from profiled label histograms."""
    from fedgs_lite.graph import label_features as from_histograms

    return from_histograms(histograms)


def emulated_availability(mode: str, sizes: np.ndarray, histograms: np.ndarray, seeds: RunSeeds):
    """The availability mode bound to these clients, built from the run's stream (as in run_experiment)."""
    from fedgs_lite.availability import ClientStats, make_availability

    stats = ClientStats(sizes=np.asarray(sizes), label_histograms=np.asarray(histograms))
    return make_availability(mode, stats, np.random.default_rng(seeds.availability_build))


def make_run_sampler(name: str, *, sizes: np.ndarray, features: np.ndarray, loss_fn, alpha: float,
                     solver: str, epsilon: float, sigma: float, poc_d: int | None,
                     options: dict[str, Any]):
    """The sampler run_experiment builds for `name`, from profiled sizes and 3DG features (label
    histograms, or round-0 updates/logits); a registered user sampler gets sizes, the 3DG distances
    and the loss callback."""
    from fedgs_lite.graph import build_3dg
    from fedgs_lite.samplers import SAMPLERS, make_sampler

    def distances() -> np.ndarray:
        return build_3dg(np.asarray(features, dtype=float), epsilon=epsilon, sigma=sigma).distances

    if name == "fedgs":
        return make_sampler("fedgs", sizes=sizes, distances=distances(), alpha=alpha, solver=solver,
                            num_clients=len(sizes), **options)
    if name == "poc":
        return make_sampler("poc", sizes=sizes, loss_fn=loss_fn, d=poc_d, **options)
    if name in SAMPLERS:
        return make_sampler(name, sizes=sizes, **options)
    return make_sampler(name, sizes=sizes, distances=distances(), loss_fn=loss_fn, **options)


def carry_sampler_state(old, new, num_old: int) -> None:
    """After late joiners: keep the old sampler's per-client state (1-D arrays over the old clients,
    e.g. FedGS's counts) in the new one, whose arrays start at zero for the new clients."""
    for key, value in vars(old).items():
        target = getattr(new, key, None)
        if (isinstance(value, np.ndarray) and value.ndim == 1 and value.shape[0] == num_old
                and isinstance(target, np.ndarray) and target.ndim == 1 and target.shape[0] > num_old):
            target[:num_old] = value


# --------------------------------------------------------------------------- training on one node

def _node_data(x: np.ndarray, y: np.ndarray):
    from fedgs_lite.training import DeviceData, default_device

    device = default_device()
    xt = torch.as_tensor(np.ascontiguousarray(x), dtype=torch.float32, device=device)
    yt = torch.as_tensor(np.ascontiguousarray(y), dtype=torch.int64, device=device)
    return DeviceData(x=xt, y=yt, client_indices=[torch.arange(len(yt), device=device)], x_test=xt[:0],
                      y_test=yt[:0], sizes=np.array([len(yt)], dtype=np.int64))


def train_on_node(model, params: dict, x: np.ndarray, y: np.ndarray, settings: LocalTraining, round_idx: int,
                  seed: int) -> tuple[dict, float]:
    """One client's local training with the kit's engine (`training.local_train`): (params, mean loss)."""
    from fedgs_lite.training import local_train

    data = _node_data(x, y)
    generator = torch.Generator(device="cpu")
    generator.manual_seed(seed)
    params = {k: v.to(data.device) for k, v in params.items()}
    stacked, losses = local_train(model.to(data.device), params, data, [0], settings, round_idx, generator,
                                  engine="auto")
    return {k: v[0].cpu() for k, v in stacked.items()}, float(losses[0])


def node_loss(model, params: dict, x: np.ndarray, y: np.ndarray) -> float:
    """The global model's mean loss on a node's data (Power-of-Choice's query; `client_losses`)."""
    from fedgs_lite.training import client_losses

    data = _node_data(x, y)
    return float(client_losses(model.to(data.device), {k: v.to(data.device) for k, v in params.items()},
                               data, [0])[0])


def node_features(kind: str, model, params: dict, x: np.ndarray, y: np.ndarray, settings: LocalTraining,
                  seed: int, noise: np.ndarray | None = None) -> np.ndarray:
    """A node's round-0 3DG feature: its flattened update (local - global) after one local training
    from `params`, or its local model's mean output on the shared `noise` batch (as the kit's
    update_features / logit_features compute for every client)."""
    from fedgs_lite.training import flatten_params, set_params

    local, _ = train_on_node(model, params, x, y, settings, 0, seed)
    if kind == "update":
        return (flatten_params(local) - flatten_params(params)).double().numpy()
    with torch.no_grad():
        out = set_params(model.cpu(), local)(torch.as_tensor(noise, dtype=torch.float32)).mean(dim=0)
    return out.double().numpy()


# --------------------------------------------------------------------------- server side

def aggregate_params(client_params: list[dict], weights: np.ndarray) -> dict:
    """The kit's weighted average of client models (`training.aggregate`; weights renormalised)."""
    from fedgs_lite.training import aggregate

    stacked = {k: torch.stack([p[k] for p in client_params]) for k in client_params[0]}
    return aggregate(stacked, weights)


def evaluate_params(model, params: dict, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(loss, accuracy) of params on a test set, as run_experiment evaluates (`training.evaluate`)."""
    from fedgs_lite.training import evaluate

    x, y = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.int64)
    return evaluate(model, params, x, y)


def new_history(config: dict[str, Any], num_clients: int) -> History:
    return History(config=dict(config), num_clients=int(num_clients))


def record_round(history: History, available: np.ndarray, selected: np.ndarray, train_loss: float,
                 lr: float, seconds: float) -> None:
    """Append one round the way run_experiment records it (available ids, selection with repeats)."""
    history.available.append(np.flatnonzero(available).tolist())
    history.selected.append(np.asarray(selected, dtype=np.int64).tolist())
    history.train_loss.append(float(train_loss))
    history.lr.append(float(lr))
    history.round_seconds.append(float(seconds))


def record_evaluation(history: History, round_done: int, loss: float, accuracy: float) -> None:
    history.eval_rounds.append(int(round_done))
    history.test_loss.append(float(loss))
    history.test_accuracy.append(float(accuracy))


def finish_history(history: History, num_clients: int, wall_time: float, finished: bool) -> History:
    history.num_clients = int(num_clients)
    history.wall_time = float(wall_time)
    history.finished = bool(finished)
    return history


def check_settings(sampler: str, mode: str | None, graph_features: str, aggregation: str, m: int) -> None:
    """The kit's rules for these settings (as ExperimentConfig checks them), one-line ValueErrors."""
    from fedgs_lite.availability import parse_mode
    from fedgs_lite.experiment import AGGREGATIONS, GRAPH_FEATURES
    from fedgs_lite.samplers import available_samplers

    if sampler not in available_samplers():
        raise ValueError(f"unknown sampler {sampler!r}; choose one of {', '.join(available_samplers())}")
    if mode is not None:
        try:
            parse_mode(mode)
        except (ValueError, TypeError) as err:
            raise ValueError(f"bad availability mode {mode!r}: {err}") from None
    if graph_features not in GRAPH_FEATURES:
        raise ValueError(f"graph_features must be one of {', '.join(GRAPH_FEATURES)}, got {graph_features!r}")
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {', '.join(AGGREGATIONS)}, got {aggregation!r}")
    if isinstance(m, bool) or not isinstance(m, int | np.integer) or m < 1:
        raise ValueError(f"clients_per_round must be a positive int, got {m!r}")
