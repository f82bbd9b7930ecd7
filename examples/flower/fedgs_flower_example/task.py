"""What the ServerApp and the ClientApp share: the run's ExperimentConfig, its federation and model."""

from __future__ import annotations

from functools import lru_cache

from fedgs_lite import ExperimentConfig
from fedgs_lite.flower import kit_parts


def experiment_config(run_config: dict) -> ExperimentConfig:
    """The fedgs_lite config that `run_experiment` would run for this Flower run config."""
    return ExperimentConfig(
        dataset="synthetic", num_clients=int(run_config["num-nodes"]),
        clients_per_round=int(run_config["clients-per-round"]), rounds=int(run_config["rounds"]),
        sampler=str(run_config["sampler"]), mode=str(run_config["mode"]) or "IDL",
        graph_features=str(run_config["graph-features"]), seed=int(run_config["seed"]), epochs=None,
        steps=int(run_config["steps"]), batch_size=int(run_config["batch-size"]), lr=float(run_config["lr"]),
        device="cpu", checkpoint_every=0)


@lru_cache(maxsize=4)
def cached_parts(config: ExperimentConfig):
    """What run_experiment(config) trains with: `.fed` (the federation), `.model` and `.params` (its
    initial weights). Built once per process (a simulation worker serves many nodes)."""
    return kit_parts(config)
