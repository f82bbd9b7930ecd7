"""The ClientApp: node i holds client i of the synthetic federation and trains with fedgs_lite."""

from flwr.app import Context
from flwr.clientapp import ClientApp

from fedgs_flower_example.task import cached_parts, experiment_config
from fedgs_lite.flower import NodeData, add_fedgs_handlers
from fedgs_lite.models import make_model


def load_data(context: Context) -> NodeData:
    fed = cached_parts(experiment_config(context.run_config)).fed
    return NodeData.of_client(fed, int(context.node_config["partition-id"]))


def model(context: Context):
    config = experiment_config(context.run_config)
    ds = cached_parts(config).fed.dataset
    return make_model(config.dataset, ds.input_shape, ds.num_classes)  # the weights come from the server


app = add_fedgs_handlers(ClientApp(), load_data, model)
