"""The Flower adapter's seams into fedgs_lite's run machinery: every call it makes into the kit's run
setup, sampler registry, local training, aggregation and evaluation, each in one small function.

flower.py (the strategy) and flower_node.py (the ClientApp handlers) reach the run machinery only
through this file and the public `History` (whose `record_round` / `record_eval` are the kit's own
recording), so when the way runs are assembled changes, the adapter is re-pointed here and nowhere
else. Each function says which part of a kit run it mirrors. No Flower import here.

Importing this module (flower.py and flower_node.py import it before Flower) switches Flower's
telemetry off unless FLWR_TELEMETRY_ENABLED is set: the kit runs offline and never phones home.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from fedgs_lite.assemble import RunParts, assemble
from fedgs_lite.availability import make_availability, parse_mode
from fedgs_lite.checks import positive_int
from fedgs_lite.config import GRAPH_FEATURES, ExperimentConfig, LocalTraining
from fedgs_lite.graph import build_3dg, label_features
from fedgs_lite.masks import Availability, ClientStats
from fedgs_lite.models import Params, flatten_params, set_params
from fedgs_lite.samplers import (
    AGGREGATIONS,
    Sampler,
    SamplerContext,
    available_samplers,
    config_options,
    default_aggregation,
    make_sampler,
)
from fedgs_lite.seeds import RunSeeds, run_seeds, seed_int
from fedgs_lite.server import aggregate, aggregation_weights, client_losses, evaluate
from fedgs_lite.training import DeviceData, default_device, local_train

__all__ = ["RunSeeds", "run_seeds", "seed_int", "label_features", "aggregation_weights"]  # re-exported

os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")  # flwr reads it when imported

MISSING_FLOWER = "fedgs_lite.flower needs Flower: pip install 'fedgs_lite[flower]'"


def missing_flower(err: ImportError) -> ImportError:
    """The one-line error for a missing Flower; any other import error is passed on unchanged."""
    if (err.name or "").split(".")[0] != "flwr":
        return err
    return ImportError(MISSING_FLOWER)


# --------------------------------------------------------------------------- run setup

def kit_parts(config: ExperimentConfig) -> RunParts:
    """What `run_experiment(config)` trains with (`assemble.assemble`): its federation (`.fed`), its
    model with the initial weights (`.model`, `.params`) and its local training (`.local`)."""
    return assemble(config)


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

def emulated_availability(mode: str, sizes: np.ndarray, histograms: np.ndarray,
                          seeds: RunSeeds) -> Availability:
    """The availability mode bound to these clients, built from the run's stream (as `assemble` does)."""
    stats = ClientStats(sizes=np.asarray(sizes), label_histograms=np.asarray(histograms))
    return make_availability(mode, stats, np.random.default_rng(seeds.availability_build))


def make_run_sampler(name: str, *, sizes: np.ndarray, features: np.ndarray, loss_fn: Callable | None,
                     settings: Mapping[str, Any], epsilon: float, sigma: float,
                     options: Mapping[str, Any]) -> Sampler:
    """The sampler a kit run builds for `name` (`assemble.build_sampler`): through the registry, from a
    SamplerContext of the profiled sizes, the loss query and the 3DG of `features` (built only when the
    sampler asks for it), with the options its registration reads from `settings` (config field names,
    e.g. fedgs_alpha, solver, poc_d) and then `options`."""

    def distances() -> np.ndarray:
        return build_3dg(np.asarray(features, dtype=float), epsilon=epsilon, sigma=sigma).distances

    context = SamplerContext(sizes=np.asarray(sizes, dtype=float), loss_fn=loss_fn, distances_fn=distances)
    return make_sampler(name, context, **{**config_options(name, settings), **options})


def aggregation_rule(sampler: str, aggregation: str) -> str:
    """"size" or "uniform": `aggregation`, or for "auto" the one the sampler was registered with (MD:
    uniform), as `ExperimentConfig.aggregation_rule`."""
    return default_aggregation(sampler) if aggregation == "auto" else aggregation


def carry_sampler_state(old: Sampler, new: Sampler, num_old: int) -> None:
    """After late joiners: keep the old sampler's per-client state (1-D arrays over the old clients,
    e.g. FedGS's counts) in the new one, whose arrays start at zero for the new clients."""
    for key, value in vars(old).items():
        target = getattr(new, key, None)
        if (isinstance(value, np.ndarray) and value.ndim == 1 and value.shape[0] == num_old
                and isinstance(target, np.ndarray) and target.ndim == 1 and target.shape[0] > num_old):
            target[:num_old] = value


def check_settings(sampler: str, mode: str | None, graph_features: str, aggregation: str, m: int) -> None:
    """The kit's rules for these settings (as ExperimentConfig checks them), one-line ValueErrors."""
    if sampler not in available_samplers():
        raise ValueError(f"unknown sampler {sampler!r}; choose one of {', '.join(available_samplers())}")
    if mode is not None:
        try:
            parse_mode(mode)
        except (ValueError, TypeError) as err:
            raise ValueError(f"bad availability mode {mode!r}: {err}") from None
    if graph_features not in GRAPH_FEATURES:
        raise ValueError(f"graph_features must be one of {', '.join(GRAPH_FEATURES)}, got {graph_features!r}")
    if aggregation not in ("auto", *AGGREGATIONS):
        raise ValueError(f"aggregation must be one of auto, {', '.join(AGGREGATIONS)}, got {aggregation!r}")
    positive_int(m, "clients_per_round")


# --------------------------------------------------------------------------- training on one node

def node_device_data(x: np.ndarray, y: np.ndarray) -> DeviceData:
    """One node's data as a one-client DeviceData (no test set), on the node's default device."""
    device = default_device()
    xt = torch.as_tensor(np.ascontiguousarray(x), dtype=torch.float32, device=device)
    yt = torch.as_tensor(np.ascontiguousarray(y), dtype=torch.int64, device=device)
    return DeviceData(x=xt, y=yt, client_indices=[torch.arange(len(yt), device=device)], x_test=xt[:0],
                      y_test=yt[:0], sizes=np.array([len(yt)], dtype=np.int64))


def train_on_node(model: torch.nn.Module, params: Params, x: np.ndarray, y: np.ndarray,
                  settings: LocalTraining, round_idx: int, seed: int) -> tuple[Params, float]:
    """One client's local training with the kit's engine (`training.local_train`): (params, mean loss)."""
    data = node_device_data(x, y)
    generator = torch.Generator(device="cpu")
    generator.manual_seed(seed)
    params = {k: v.to(data.x.device) for k, v in params.items()}
    stacked, losses = local_train(model.to(data.x.device), params, data, [0], settings, round_idx, generator,
                                  engine="auto")
    return {k: v[0].cpu() for k, v in stacked.items()}, float(losses[0])


def node_loss(model: torch.nn.Module, params: Params, x: np.ndarray, y: np.ndarray) -> float:
    """The global model's mean loss on a node's data (Power-of-Choice's query; `server.client_losses`)."""
    data = node_device_data(x, y)
    device = data.x.device
    return float(client_losses(model.to(device), {k: v.to(device) for k, v in params.items()}, data, [0])[0])


def node_features(kind: str, model: torch.nn.Module, params: Params, x: np.ndarray, y: np.ndarray,
                  settings: LocalTraining, seed: int, noise: np.ndarray | None = None) -> np.ndarray:
    """A node's round-0 3DG feature: its flattened update (local - global) after one local training
    from `params`, or its local model's mean output on the shared `noise` batch (as the kit's
    update_features / logit_features compute for every client)."""
    local, _ = train_on_node(model, params, x, y, settings, 0, seed)
    if kind == "update":
        return (flatten_params(local) - flatten_params(params)).double().numpy()
    with torch.no_grad():
        out = set_params(model.cpu(), local)(torch.as_tensor(noise, dtype=torch.float32)).mean(dim=0)
    return out.double().numpy()


# --------------------------------------------------------------------------- server side

def aggregate_params(client_params: list[Params], weights: np.ndarray) -> Params:
    """The kit's weighted average of client models (`server.aggregate`; weights renormalised)."""
    stacked = {k: torch.stack([p[k] for p in client_params]) for k in client_params[0]}
    return aggregate(stacked, weights)


def evaluate_params(model: torch.nn.Module, params: Params, x: np.ndarray,
                    y: np.ndarray) -> tuple[float, float]:
    """(loss, accuracy) of params on a test set, as a kit run evaluates (`server.evaluate`)."""
    x, y = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.int64)
    return evaluate(model, params, x, y)
