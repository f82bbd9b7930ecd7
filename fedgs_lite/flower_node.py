"""The node side of fedgs_lite's Flower adapter: ClientApp handlers that answer the strategy's queries
(profile, round-0 3DG features, Power-of-Choice losses) and train with the kit's own local training.

    app = add_fedgs_handlers(ClientApp(), load_data=lambda context: NodeData(x, y, num_classes=10),
                             make_model=lambda context: make_model("synthetic", (60,), 10))

The profile reply carries the node's data size and label histogram: the server sees every node's label
counts. That is the oracle 3DG of the paper (graph_features="label"); use "update" or "logit" features
where label counts must stay on the node.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from fedgs_lite.config import LocalTraining
from fedgs_lite.flower_kit import missing_flower, node_features, node_loss, train_on_node
from fedgs_lite.partitions import FederatedDataset

try:
    from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
    from flwr.clientapp import ClientApp
except ImportError as err:
    raise missing_flower(err) from None

# Message types the strategy sends; a ClientApp routes "query.<action>" to @app.query("<action>").
PROFILE, FEATURES, LOSS = "query.fedgs_profile", "query.fedgs_features", "query.fedgs_loss"
ARRAYS, CONFIG, METRICS = "arrays", "config", "metrics"  # record keys (FedAvg's names)


@dataclass(frozen=True, eq=False)
class NodeData:
    """What one node holds: its training inputs and labels, the number of classes, and (in simulation,
    where it equals the kit's client id) its partition id."""

    x: np.ndarray
    y: np.ndarray
    num_classes: int
    partition_id: int | None = None

    @classmethod
    def of_client(cls, fed: FederatedDataset, client: int) -> NodeData:
        """Client `client` of a kit federation as a node's data (its partition id is the client id)."""
        idx = fed.client_indices[client]
        ds = fed.dataset
        return cls(ds.x_train[idx], ds.y_train[idx], num_classes=ds.num_classes, partition_id=int(client))


def profile_record(data: NodeData) -> MetricRecord:
    """A node's profile: size, label histogram, input mean and mean square (for the shared logit noise)."""
    y = np.asarray(data.y, dtype=np.int64)
    x = np.asarray(data.x, dtype=np.float64)
    record = MetricRecord({"num-examples": int(y.size),
                           "label-histogram": np.bincount(y, minlength=data.num_classes).astype(int).tolist(),
                           "x-mean": float(x.mean()) if x.size else 0.0,
                           "x-sq-mean": float((x * x).mean()) if x.size else 0.0})
    if data.partition_id is not None:
        record["partition-id"] = int(data.partition_id)
    return record


def settings_record(settings: LocalTraining) -> dict[str, int | float]:
    """LocalTraining as ConfigRecord entries (None epochs/steps as 0)."""
    return {"epochs": settings.epochs or 0, "steps": settings.steps or 0, "batch-size": settings.batch_size,
            "lr": settings.lr, "lr-decay": settings.lr_decay, "momentum": settings.momentum,
            "weight-decay": settings.weight_decay, "prox-mu": settings.prox_mu}


def settings_from(config: ConfigRecord) -> LocalTraining:
    return LocalTraining(epochs=int(config["epochs"]) or None, steps=int(config["steps"]) or None,
                         batch_size=int(config["batch-size"]), lr=float(config["lr"]),
                         lr_decay=float(config["lr-decay"]), momentum=float(config["momentum"]),
                         weight_decay=float(config["weight-decay"]), prox_mu=float(config["prox-mu"]))


def shared_noise(config: ConfigRecord, input_shape: tuple[int, ...]) -> np.ndarray:
    """The noise batch every node feeds its local model for logit features: the same seed and shape on
    every node, scaled to the federation's pooled input mean and std (which the server sends)."""
    generator = torch.Generator().manual_seed(int(config["noise-seed"]))
    noise = torch.randn((int(config["noise-batch"]), *input_shape), generator=generator)
    return (noise * float(config["noise-std"]) + float(config["noise-mean"])).numpy()


def add_fedgs_handlers(app: ClientApp, load_data: Callable[[Context], NodeData],
                       make_model: Callable[[Context], torch.nn.Module] | None = None) -> ClientApp:
    """Register fedgs_lite's handlers on a ClientApp and return it.

    Always the profile query; with `make_model` (the model architecture; the weights come from the
    server) also the 3DG-feature and Power-of-Choice loss queries and a `train` handler that runs the
    kit's local training on the node's data with the settings the strategy sends.
    """
    app.query("fedgs_profile")(profile_handler(load_data))
    if make_model is not None:
        app.query("fedgs_loss")(loss_handler(load_data, make_model))
        app.query("fedgs_features")(features_handler(load_data, make_model))
        app.train()(train_handler(load_data, make_model))
    return app


Handler = Callable[[Message, Context], Message]
DataFn = Callable[[Context], NodeData]                # a node's data
ModelFn = Callable[[Context], torch.nn.Module]       # the model architecture


def profile_handler(load_data: DataFn) -> Handler:
    """Answers `PROFILE`: the node's `profile_record`."""

    def profile(msg: Message, context: Context) -> Message:
        return Message(RecordDict({METRICS: profile_record(load_data(context))}), reply_to=msg)

    return profile


def loss_handler(load_data: DataFn, make_model: ModelFn) -> Handler:
    """Answers `LOSS`: the received global model's mean loss on the node's data (Power-of-Choice)."""

    def loss(msg: Message, context: Context) -> Message:
        data = load_data(context)
        value = node_loss(make_model(context), msg.content[ARRAYS].to_torch_state_dict(), data.x, data.y)
        return Message(RecordDict({METRICS: MetricRecord({"loss": value})}), reply_to=msg)

    return loss


def features_handler(load_data: DataFn, make_model: ModelFn) -> Handler:
    """Answers `FEATURES`: the node's round-0 update or logit feature, trained from the received model."""

    def features(msg: Message, context: Context) -> Message:
        data, config = load_data(context), msg.content[CONFIG]
        kind = str(config["kind"])
        noise = shared_noise(config, tuple(np.asarray(data.x).shape[1:])) if kind == "logit" else None
        feature = node_features(kind, make_model(context), msg.content[ARRAYS].to_torch_state_dict(), data.x,
                                data.y, settings_from(config), int(config["seed"]), noise)
        return Message(RecordDict({ARRAYS: ArrayRecord(numpy_ndarrays=[feature])}), reply_to=msg)

    return features


def train_handler(load_data: DataFn, make_model: ModelFn) -> Handler:
    """Answers a train message: the kit's local training from the received model, with its settings."""

    def train(msg: Message, context: Context) -> Message:
        data, config = load_data(context), msg.content[CONFIG]
        local, mean_loss = train_on_node(make_model(context), msg.content[ARRAYS].to_torch_state_dict(),
                                         data.x, data.y, settings_from(config), int(config["round-index"]),
                                         int(config["seed"]))
        metrics = MetricRecord({"num-examples": int(len(data.y)), "train-loss": mean_loss})
        reply = RecordDict({ARRAYS: ArrayRecord(torch_state_dict=local), METRICS: metrics})
        return Message(reply, reply_to=msg)

    return train
