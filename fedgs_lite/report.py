"""Runs side by side: train several configs (`compare`), their numbers as rows, a text table, a figure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from fedgs_lite.config import ExperimentConfig
from fedgs_lite.history import History
from fedgs_lite.loop import run_experiment
from fedgs_lite.plots import plot_curves
from fedgs_lite.tables import format_table


def compare(configs: Iterable[ExperimentConfig], out_dir: str | Path | None = None, *,
            progress: bool = True, resume: bool = True) -> dict[str, History]:
    """Run each config on its own (in out_dir/<label> when out_dir is given); return {label: History}.
    Separate runs, so each run's seconds are its own (the `seconds` column compares the samplers' cost)."""
    configs = list(configs)
    histories: dict[str, History] = {}
    for cfg, label in zip(configs, run_labels(configs), strict=True):
        rd = Path(out_dir) / label if out_dir is not None else None
        histories[label] = run_experiment(cfg, rd, progress=progress, resume=resume)
    return histories


def run_labels(configs: Iterable[ExperimentConfig]) -> list[str]:
    """Each config's label in `compare` (and its folder name there): the label, with the run_id added
    when an earlier config has the same label."""
    labels: list[str] = []
    for cfg in configs:
        labels.append(cfg.label if cfg.label not in labels else f"{cfg.label}-{cfg.run_id}")
    return labels


def comparison_rows(histories: Mapping[str, History]) -> list[dict[str, Any]]:
    """One row per run: final accuracy, the test accuracy at the lowest validation loss (the authors'
    metric; NaN without a hold-out), final test loss, count variance, Jain, seconds, status."""
    rows = []
    for label, h in histories.items():
        rows.append({"sampler": label, "final_acc": h.final_accuracy(),
                     "best_valid_acc": h.best_valid_accuracy(),
                     "final_loss": h.final_loss(), "count_var": h.count_variance(), "jain": h.jain_index(),
                     "seconds": h.wall_time, "rounds": h.rounds_done,
                     "status": "diverged" if h.stopped_reason else ("done" if h.finished else "partial")})
    return rows


def comparison_table(histories: Mapping[str, History]) -> str:
    """A plain-text table: final accuracy, accuracy at the best validation loss ("-" without a hold-out),
    final test loss, count variance, Jain index, seconds."""
    head = ["sampler", "final acc", "best-valid acc", "final loss", "count var", "Jain", "seconds", "rounds",
            "status"]
    body = [[r["sampler"], f"{r['final_acc']:.4f}",
             f"{r['best_valid_acc']:.4f}" if np.isfinite(r["best_valid_acc"]) else "-",
             f"{r['final_loss']:.4f}",
             f"{r['count_var']:.2f}", f"{r['jain']:.3f}", f"{r['seconds']:.1f}", str(r["rounds"]),
             r["status"]] for r in comparison_rows(histories)]
    return format_table(head, body)


def plot_learning_curves(histories: Mapping[str, History], title: str | None = None):
    """Test accuracy vs round and sampling-count variance vs round, one line per run."""
    accuracy = {label: [(h.eval_rounds, h.test_accuracy)] for label, h in histories.items()}
    fairness = {label: [(np.arange(1, h.rounds_done + 1), h.count_variance_curve())]
                for label, h in histories.items()}
    ylabel = {"accuracy": "test accuracy", "sampling fairness": "variance of selection counts"}
    return plot_curves({"accuracy": accuracy, "sampling fairness": fairness}, ylabel=ylabel, title=title)
