"""The ClientApp: node i holds client i of the synthetic federation and trains with fedgs_lite."""

from flwr.app import Context
from flwr.clientapp import ClientApp

from fedgs_flower_example.task import cached_federation, experiment_config
from fedgs_lite.flower import NodeData, add_fedgs_handlers
from fedgs_lite.models import make_model


def load_data(context: Context) -> NodeData:
    fed = cached_federation(experiment_config(context.run_config))
    pid = int(context.node_config["partition-id"])
    return NodeData(*fed.client_data(pid), num_classes=fed.dataset.num_classes, partition_id=pid)


def model(context: Context):
    ds = cached_federation(experiment_config(context.run_config)).dataset
    return make_model(ds.name, ds.input_shape, ds.num_classes)


app = add_fedgs_handlers(ClientApp(), load_data, model)
