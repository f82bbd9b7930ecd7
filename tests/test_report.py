"""Runs side by side: the comparison table and rows, the learning-curve figure."""

import numpy as np
import pytest

from fedgs_lite.config import ExperimentConfig
from fedgs_lite.report import compare, comparison_rows, comparison_table, plot_learning_curves
from fedgs_lite.tables import csv_text, format_table


@pytest.fixture(autouse=True)
def _tiny_runs_use_one_thread(one_torch_thread):
    yield


def tiny(**kw) -> ExperimentConfig:
    base = dict(num_clients=10, clients_per_round=3, rounds=4, epochs=None, steps=2, batch_size=8,
                mode="LN-0.5", device="cpu", checkpoint_every=0)
    return ExperimentConfig(**{**base, **kw})


def test_compare_table_and_figure(tmp_path):
    cfgs = [tiny(sampler=s, rounds=3) for s in ("uniform", "fedgs")]
    hs = compare(cfgs, tmp_path, progress=False)
    assert list(hs) == ["uniform", "fedgs"]
    assert (tmp_path / "uniform" / "history.json").exists() and (tmp_path / "fedgs" / "history.json").exists()
    table = comparison_table(hs)
    lines = table.splitlines()
    assert len(lines) == 4 and "final acc" in lines[0] and "Jain" in lines[0]
    assert lines[2].startswith("uniform") and f"{hs['uniform'].final_accuracy():.4f}" in lines[2]
    fig = plot_learning_curves(hs, title="t")
    acc_ax, var_ax = fig.axes
    assert len(acc_ax.lines) == 2 and len(var_ax.lines) == 2
    assert list(acc_ax.lines[1].get_ydata()) == hs["fedgs"].test_accuracy
    assert np.allclose(var_ax.lines[0].get_ydata(), hs["uniform"].count_variance_curve())


def test_compare_runs_each_config_and_labels_repeats_by_run_id():
    cfgs = [tiny(sampler="uniform", rounds=2), tiny(sampler="uniform", rounds=2, seed=1)]
    hs = compare(cfgs, progress=False)
    assert list(hs) == ["uniform", f"uniform-{cfgs[1].run_id}"]
    rows = comparison_rows(hs)
    assert [r["status"] for r in rows] == ["done", "done"] and rows[0]["rounds"] == 2


def test_format_table_aligns_and_csv_text_keeps_column_order():
    text = format_table(["name", "value"], [["a", "1.5"], ["longer", "10.25"]])
    assert text.splitlines() == ["name    value", "------  -----", "a         1.5", "longer  10.25"]
    assert csv_text([{"b": 1, "a": 2}], ["a", "b"]) == "a,b\n2,1\n"
