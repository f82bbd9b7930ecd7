"""Wiring: a config's data, model, availability, random streams and sampler, built once per run.

`assemble(config)` gives the `RunParts` a run trains with; `build_sampler(config, parts, loss_fn)`
builds its sampler through the sampler registry from a `SamplerContext`. Each concern draws from its
own random stream (`np.random.SeedSequence(seed).spawn(5)`), so e.g. every sampler sees the same
availability trace for one seed, and the runs of a cohort can share one federation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from fedgs_lite.availability import make_availability
from fedgs_lite.config import ExperimentConfig, LocalTraining
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
    model: nn.Module
    params: Params                # the initial global model
    availability: Availability
    local: LocalTraining
    device: torch.device
    rng_avail: np.random.Generator    # draws each round's availability mask
    rng_sampler: np.random.Generator  # the sampler's randomness
    torch_gen: torch.Generator        # model init, round-0 features, every minibatch plan


def assemble(config: ExperimentConfig, shared: RunParts | None = None) -> RunParts:
    """Everything a run needs but its sampler. `shared`: the parts of a run with the same data,
    partition and seed (a cohort's first run), whose federation and device data are reused."""
    s_data, s_avail_build, s_avail_draw, s_sampler, s_torch = run_seeds(config.seed)
    device = resolve_device(config.device)
    if shared is not None:
        fed, data = shared.fed, shared.data
    else:
        fed = federate(config.dataset, config.num_clients, config.partition, seed=seed_int(s_data),
                       rng=np.random.default_rng(s_data), root=config.data_root,
                       synthetic_alpha=config.synthetic_alpha, synthetic_beta=config.synthetic_beta,
                       classes_per_client=config.classes_per_client, dirichlet_alpha=config.dirichlet_alpha,
                       size_sigma=config.size_sigma)
        data = DeviceData.from_federated(fed, device)
    availability = make_availability(config.mode, ClientStats.from_federated(fed),
                                     np.random.default_rng(s_avail_build))
    torch_gen = torch.Generator(device="cpu")
    torch_gen.manual_seed(seed_int(s_torch))
    ds = fed.dataset
    model = make_model(config.dataset, ds.input_shape, ds.num_classes, generator=torch_gen).to(device)
    return RunParts(fed=fed, data=data, model=model, params=get_params(model), availability=availability,
                    local=config.local_training(), device=device,
                    rng_avail=np.random.default_rng(s_avail_draw),
                    rng_sampler=np.random.default_rng(s_sampler), torch_gen=torch_gen)


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
