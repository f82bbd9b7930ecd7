"""A run directory: the one owner of its layout, its checkpoints (plain dicts) and its final model.

    config.json     the run's ExperimentConfig (written first; a directory holds one run)
    history.json    the History so far (atomic), and metrics.csv, the same as one row per round
    checkpoint.pt   where an interrupted run resumes: a plain dict (params, rng states, sampler state,
                    history), removed once the run has finished
    final_model.pt  the finished run's global parameters

Every write is atomic, so an interrupted run never leaves half a file; a finished run is read back
instead of recomputed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from fedgs_lite.config import ExperimentConfig
from fedgs_lite.files import atomic_write, atomic_write_text
from fedgs_lite.history import CSV_COLUMNS, History
from fedgs_lite.models import Params
from fedgs_lite.tables import csv_text

CONFIG_FILE, HISTORY_FILE, METRICS_FILE, CHECKPOINT_FILE, MODEL_FILE = (
    "config.json", "history.json", "metrics.csv", "checkpoint.pt", "final_model.pt")


def prepare(run_dir: Path, config: ExperimentConfig, resume: bool) -> History | None:
    """Create run_dir for `config`; return the stored History when the same run already finished there
    (with its final parameters). A directory of another run is refused unless resume=False, which
    starts afresh: results of an earlier run there must not be read back as this run's."""
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg_path = run_dir / CONFIG_FILE
    if cfg_path.exists() and resume:
        stored = ExperimentConfig.from_json(cfg_path.read_text())
        if stored.run_id != config.run_id:
            raise ValueError(f"{run_dir} holds a different run ({stored.run_id}, this config is "
                             f"{config.run_id}); use another run_dir or resume=False to overwrite")
        if (run_dir / HISTORY_FILE).exists():
            history = load_history(run_dir)
            if history.finished:
                if (run_dir / MODEL_FILE).exists():
                    history.final_params = final_params(run_dir)
                return history
    if not resume:
        for name in (CHECKPOINT_FILE, HISTORY_FILE, METRICS_FILE, MODEL_FILE):
            (run_dir / name).unlink(missing_ok=True)
    atomic_write_text(cfg_path, config.to_json())
    return None


def write_results(run_dir: Path, history: History) -> None:
    """history.json and metrics.csv, atomically."""
    atomic_write_text(run_dir / HISTORY_FILE, history.to_json())
    atomic_write_text(run_dir / METRICS_FILE, csv_text(history.to_csv_rows(), CSV_COLUMNS))


def load_history(run_dir: str | Path) -> History:
    """The History stored in a run directory (finished or partial)."""
    return History.from_json((Path(run_dir) / HISTORY_FILE).read_text())


def is_done(run_dir: Path) -> bool:
    """A finished run: run_experiment would read it back without training."""
    path = Path(run_dir) / HISTORY_FILE
    if not path.exists():
        return False
    try:
        return bool(json.loads(path.read_text()).get("finished"))
    except (OSError, ValueError):
        return False


def save_checkpoint(run_dir: Path, state: dict[str, Any]) -> None:
    """Write a checkpoint: a plain dict of tensors, numbers, strings, lists and dicts."""
    atomic_write(run_dir / CHECKPOINT_FILE, lambda f: torch.save(state, f), binary=True)


def load_checkpoint(run_dir: Path, run_id: str) -> dict[str, Any] | None:
    """The checkpoint in run_dir (None when there is none); a ValueError when it is another run's."""
    path = run_dir / CHECKPOINT_FILE
    if not path.exists():
        return None
    state = torch.load(path, map_location="cpu", weights_only=True)  # plain values only
    if state.get("run_id") != run_id:
        raise ValueError(f"{path} belongs to run {state.get('run_id')}, not {run_id}")
    return state


def remove_checkpoint(run_dir: Path) -> None:
    (run_dir / CHECKPOINT_FILE).unlink(missing_ok=True)


def save_model(run_dir: Path, params: Params) -> None:
    """The finished run's global parameters (CPU tensors), final_model.pt."""
    cpu = {k: v.detach().cpu() for k, v in params.items()}
    atomic_write(run_dir / MODEL_FILE, lambda f: torch.save(cpu, f), binary=True)


def final_params(run_dir: str | Path) -> Params:
    """The final global parameters a finished run saved in run_dir (CPU tensors)."""
    return torch.load(Path(run_dir) / MODEL_FILE, map_location="cpu", weights_only=True)
