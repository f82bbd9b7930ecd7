"""A kit run through Flower's simulation engine in one call: `run_flower_simulation(config) -> History`.

The server side is `FedGSStrategy.from_config(config)` with the kit's central evaluation, in a
ServerApp; node i of `config.num_clients` simulated nodes holds the kit's client i and answers with
the kit's handlers (`add_fedgs_handlers`), in ClientApp actors on a local Ray (one CPU per node at a
time). So the History's availability and selections equal `run_experiment(config)`'s (the models
differ after round 0: nodes draw their minibatches apart). Optional: `pip install 'fedgs_lite[flower]'`;
Flower is imported only when a simulation runs. Flower's telemetry stays off unless
FLWR_TELEMETRY_ENABLED says otherwise (flower_kit.py).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import warnings
from functools import lru_cache

from fedgs_lite.config import ExperimentConfig
from fedgs_lite.history import History


@lru_cache(maxsize=4)
def node_federation(config: ExperimentConfig):
    """The kit's federation of `config`, built once per process (a simulation actor serves many nodes)."""
    from fedgs_lite.flower_kit import kit_parts

    return kit_parts(config).fed


def client_app(config: ExperimentConfig):
    """A ClientApp whose node with partition id i holds client i of `config`'s federation."""
    from flwr.clientapp import ClientApp

    from fedgs_lite.flower_node import NodeData, add_fedgs_handlers
    from fedgs_lite.models import make_model

    def load_data(context) -> NodeData:
        return NodeData.of_client(node_federation(config), int(context.node_config["partition-id"]))

    def model(context):
        ds = node_federation(config).dataset
        return make_model(config.dataset, ds.input_shape, ds.num_classes)  # weights come from the server

    return add_fedgs_handlers(ClientApp(), load_data, model)


def server_app(config: ExperimentConfig, histories: list[History], timeout: float = 600.0):
    """A ServerApp that runs FedGSStrategy.from_config(config) from the kit's initial model, evaluates
    the kit's test set centrally and appends the run's History to `histories`."""
    from flwr.app import ArrayRecord
    from flwr.serverapp import ServerApp

    from fedgs_lite.flower import FedGSStrategy, central_evaluation, kit_parts

    app = ServerApp()

    @app.main()
    def main(grid, context) -> None:
        parts = kit_parts(config)
        ds = parts.fed.dataset
        strategy = FedGSStrategy.from_config(config)
        try:
            strategy.start(grid, ArrayRecord(torch_state_dict=parts.params), num_rounds=config.rounds,
                           timeout=timeout, evaluate_fn=central_evaluation(parts.model, ds.x_test, ds.y_test))
        finally:
            histories.append(strategy.history())

    return app


class Hush(logging.Filter):
    """Drops Flower's note that `run_simulation` is deprecated (docs/api.md says so, and what replaces
    it: `flwr run`, which needs an app on disk, as in examples/flower)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`run_simulation` function is deprecated" not in record.getMessage()


def run_flower_simulation(config: ExperimentConfig, *, num_cpus: int | None = None, quiet: bool = True,
                          timeout: float = 600.0) -> History:
    """Run `config` as a Flower simulation of `config.num_clients` nodes; returns the strategy's History.

    num_cpus: CPUs of the local Ray (default: all); each node's ClientApp takes one at a time. quiet:
    show only Flower's warnings and errors. timeout: seconds to wait for a round's replies.
    """
    from fedgs_lite import flower_kit  # noqa: F401 - first: it keeps Flower's telemetry off

    try:
        from flwr.simulation import run_simulation
    except ImportError as err:
        raise flower_kit.missing_flower(err) from None
    histories: list[History] = []
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths must stay < 108 bytes
    logger, level, hush = logging.getLogger("flwr"), logging.getLogger("flwr").level, Hush()
    if quiet:
        logger.setLevel(logging.WARNING)
        logger.addFilter(hush)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Tip: In future versions of Ray", FutureWarning)
            run_simulation(server_app(config, histories, timeout), client_app(config), config.num_clients,
                           backend_config={"init_args": {"num_cpus": num_cpus, "_temp_dir": temp,
                                                         "logging_level": "ERROR", "log_to_driver": False},
                                           "client_resources": {"num_cpus": 1, "num_gpus": 0.0}})
    finally:
        logger.setLevel(level)
        logger.removeFilter(hush)
        shutil.rmtree(temp, ignore_errors=True)
    if not histories:
        raise RuntimeError("the Flower simulation ended before its ServerApp ran (see Flower's log above)")
    return histories[0]
