"""The ServerApp: FedGSStrategy picks each round's nodes; the test set is evaluated on the server."""

from pathlib import Path

from flwr.app import ArrayRecord, Context
from flwr.serverapp import Grid, ServerApp

from fedgs_flower_example.task import cached_parts, experiment_config
from fedgs_lite import comparison_table
from fedgs_lite.flower import FedGSStrategy, central_evaluation

app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    config = experiment_config(context.run_config)
    parts = cached_parts(config)  # run_experiment's initial model; the server holds the test set
    ds, model = parts.fed.dataset, parts.model
    mode = str(context.run_config["mode"]) or None
    strategy = FedGSStrategy.from_config(config, mode=mode)
    strategy.start(grid, ArrayRecord(torch_state_dict=parts.params), num_rounds=config.rounds,
                   timeout=600.0, evaluate_fn=central_evaluation(model, ds.x_test, ds.y_test))
    history = strategy.history()
    print(comparison_table({f"{config.label} (Flower)": history}))
    out = str(context.run_config["out-dir"])
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "config.json").write_text(config.to_json())
        (Path(out) / "history.json").write_text(history.to_json())
