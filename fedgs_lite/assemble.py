"""Wiring: a config's data, model, availability, random streams and sampler, built once per run.

`assemble(config)` gives the `RunParts` a run trains with; `build_sampler(config, parts, loss_fn)`
builds its sampler through the sampler registry from a `SamplerContext`. Each concern draws from its
own random stream (`np.random.SeedSequence(seed).spawn(5)`), so e.g. every sampler sees the same
availability trace for one seed, and the runs of a cohort can share one federation. A mode that is
degenerate on the federation (every client the same p) is warned about here, once the data exist.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from fedgs_lite.availability import make_availability
from fedgs_lite.config import ExperimentConfig, LocalTraining
from fedgs_lite.degenerate import DegenerateModeWarning, degenerate_reason
from fedgs_lite.features import client_features
from fedgs_lite.graph import build_3dg
from fedgs_lite.masks import Availability, ClientStats
from fedgs_lite.models import Params, get_params, make_model
from fedgs_lite.partitions import FederatedDataset, federate
from fedgs_lite.samplers import Sampler, SamplerContext, config_options, make_sampler
from fedgs_lite.seeds import run_seeds, seed_int
from fedgs_lite.server import resolve_device
from fedgs_lite.training import DeviceData


@dataclass(eq=False)
class RunParts:
    """What one run trains with. The generators are the run's random streams (they advance as it runs)."""

    fed: FederatedDataset
    data: DeviceData              # the federation's train and test data, on the run's device
    valid_parts: list[torch.Tensor] | None  # each client's validation indices into data.x (None: no hold-out)
    model: nn.Module
    params: Params                # the initial global model
    availability: Availability
    local: LocalTraining
    device: torch.device
    rng_avail: np.random.Generator    # draws each round's availability mask
    rng_sampler: np.random.Generator  # the sampler's randomness
    torch_gen: torch.Generator        # model init, round-0 features, every minibatch plan
    degenerate: str | None = None     # why the mode is degenerate on this federation (None: it is not)

    @property
    def loss_parts(self) -> list[torch.Tensor] | None:
        """What Power-of-Choice evaluates a client on: its validation part, as the authors (its training
        data when it holds no validation sample); None: the training data of every client."""
        if self.valid_parts is None:
            return None
        return [v if len(v) else t for v, t in zip(self.valid_parts, self.data.client_indices, strict=True)]


def assemble(config: ExperimentConfig, shared: RunParts | None = None) -> RunParts:
    """Everything a run needs but its sampler. `shared`: the parts of a run with the same data,
    partition and seed (a cohort's first run), whose federation and device data are reused."""
    s_data, s_avail_build, s_avail_draw, s_sampler, s_torch = run_seeds(config.seed)
    device = resolve_device(config.device)
    if shared is not None:
        fed, data, valid = shared.fed, shared.data, shared.valid_parts
    else:
        fed = federation(config, seed_int(s_data), np.random.default_rng(s_data))
        data = DeviceData.from_federated(fed, device)
        valid = None if fed.valid_indices is None else [
            torch.as_tensor(ix, dtype=torch.int64).to(device) for ix in fed.valid_indices]
    stats = ClientStats.from_federated(fed)
    availability = make_availability(config.mode, stats, np.random.default_rng(s_avail_build))
    why = degenerate_reason(config.mode, stats)
    if why is not None:
        warnings.warn(why, DegenerateModeWarning, stacklevel=2)
    torch_gen = torch.Generator(device="cpu")
    torch_gen.manual_seed(seed_int(s_torch))
    ds = fed.dataset
    model = make_model(config.model_name, ds.input_shape, ds.num_classes, generator=torch_gen).to(device)
    return RunParts(fed=fed, data=data, valid_parts=valid, model=model, params=get_params(model),
                    availability=availability, local=config.local_training(), device=device,
                    rng_avail=np.random.default_rng(s_avail_draw),
                    rng_sampler=np.random.default_rng(s_sampler), torch_gen=torch_gen, degenerate=why)


def federation(config: ExperimentConfig, seed: int, rng: np.random.Generator) -> FederatedDataset:
    """The config's data split among its clients (dataset draws from `seed`, the partition from `rng`)."""
    return federate(config.dataset, config.num_clients, config.partition, seed=seed, rng=rng,
                    root=config.data_root, synthetic_alpha=config.synthetic_alpha,
                    synthetic_beta=config.synthetic_beta, synthetic=config.synthetic_options,
                    classes_per_client=config.classes_per_client, dirichlet_alpha=config.dirichlet_alpha,
                    skew=config.skew, size_sigma=config.size_sigma, holdout=config.holdout)


def build_sampler(config: ExperimentConfig, parts: RunParts,
                  loss_fn: Callable[[np.ndarray], np.ndarray]) -> Sampler:
    """The run's sampler, by name from the registry, with the options its registration reads from the
    config. `loss_fn(ids)` gives the run's current global model's losses (Power-of-Choice). The 3DG is
    built only when the sampler asks for it, from `config.graph_features` (update and logit features
    train every client once from the initial model, drawing from the run's torch stream)."""

    def distances() -> np.ndarray:
        features = client_features(config.graph_features, parts.fed, parts.model, parts.params, parts.data,
                                   parts.local, parts.torch_gen, engine=config.engine)
        return build_3dg(np.asarray(features), epsilon=config.epsilon, sigma=config.sigma).distances

    context = SamplerContext(sizes=np.asarray(parts.fed.sizes), loss_fn=loss_fn, distances_fn=distances)
    return make_sampler(config.sampler, context, **config_options(config.sampler, config.to_dict()))
