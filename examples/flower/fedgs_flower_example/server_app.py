"""The ServerApp: FedGSStrategy picks each round's nodes; the test set is evaluated on the server."""

from pathlib import Path

from flwr.app import ArrayRecord, Context
from flwr.serverapp import Grid, ServerApp

from fedgs_flower_example.task import cached_federation, experiment_config
from fedgs_lite.experiment import comparison_table
from fedgs_lite.flower import FedGSStrategy, central_evaluation, initial_model
from fedgs_lite.training import get_params

app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    config = experiment_config(context.run_config)
    ds = cached_federation(config).dataset  # the server emulates the federation's test set
    model = initial_model(config, ds.input_shape, ds.num_classes)  # run_experiment's initial weights
    mode = str(context.run_config["mode"]) or None
    strategy = FedGSStrategy.from_config(config, mode=mode)
    strategy.start(grid, ArrayRecord(torch_state_dict=get_params(model)), num_rounds=config.rounds,
                   timeout=600.0, evaluate_fn=central_evaluation(model, ds.x_test, ds.y_test))
    history = strategy.history()
    print(comparison_table({f"{config.label} (Flower)": history}))
    out = str(context.run_config["out-dir"])
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "config.json").write_text(config.to_json())
        (Path(out) / "history.json").write_text(history.to_json())
