"""A run directory: the one owner of its layout, its checkpoints (plain dicts) and its final model.

    config.json     the run's ExperimentConfig (written first; a directory holds one run)
    history.json    the History so far (atomic), and metrics.csv, the same as one row per round
    checkpoint.pt   where an interrupted run resumes: a plain dict (params, rng states, sampler state,
                    history), removed once the run has finished
    final_model.pt  the finished run's global parameters
    .lock           held (flock) by the process writing the run (files.lock_folder)

Every write is atomic, so an interrupted run never leaves half a file; a finished run is read back
instead of recomputed. Nothing is loaded before config.json says the folder holds this very run, and
then only tensors and plain data (`torch.load(weights_only=True)`): a file that holds code is never run.
A config.json that cannot be read, or is another run's, stops with a `RunFolderError` naming the file;
a damaged history, checkpoint or model of this run is moved aside to `<name>.damaged` with a warning,
and what it held is computed again.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import torch

from fedgs_lite.config import RESULT_NEUTRAL, ExperimentConfig
from fedgs_lite.files import atomic_write, atomic_write_text, remove_orphaned_temps
from fedgs_lite.history import CSV_COLUMNS, History
from fedgs_lite.models import Params
from fedgs_lite.tables import csv_text

CONFIG_FILE, HISTORY_FILE, METRICS_FILE, CHECKPOINT_FILE, MODEL_FILE = (
    "config.json", "history.json", "metrics.csv", "checkpoint.pt", "final_model.pt")
RESULT_FILES = (CHECKPOINT_FILE, HISTORY_FILE, METRICS_FILE, MODEL_FILE)
CHECKPOINT_KEYS = ("run_id", "round", "params", "rng_avail", "rng_sampler", "torch_gen", "sampler", "history")


class RunFolderError(ValueError):
    """A run folder's file that cannot be used: unreadable, another run's, or not this kit's. The
    message names the file and what to do; `reason` is why, in a few words."""

    def __init__(self, message: str, reason: str = ""):
        super().__init__(f"{message} ({reason})" if reason else message)
        self.reason = reason or message


def unreadable(err: BaseException) -> str:
    """Why a file could not be read, in a few words (torch's refusal of code, in plain words)."""
    text = str(err).strip()
    if "Weights only load failed" in text:
        return "it holds objects other than tensors and plain data (code was refused, nothing was run)"
    first = text.splitlines()[0][:120] if text else ""
    return f"{type(err).__name__}: {first}" if first else type(err).__name__


def set_aside(path: Path, why: str, then: str) -> None:
    """Move a damaged file to `<name>.damaged` (kept for a look, never read again) and say so."""
    target = path.with_name(path.name + ".damaged")
    os.replace(path, target)
    warnings.warn(f"{path} {why}; moved to {target.name}, {then}", RuntimeWarning, stacklevel=3)


def stored_config(run_dir: Path) -> ExperimentConfig | None:
    """The ExperimentConfig in run_dir/config.json (None when there is none); RunFolderError when it
    cannot be read."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.exists():
        return None
    try:
        return ExperimentConfig.from_json(path.read_text())
    except (OSError, ValueError, TypeError, AttributeError) as err:
        error = RunFolderError(f"{path} cannot be read as a run config ({unreadable(err)}), so the run in "
                               f"{run_dir} cannot be identified; delete that folder or use another")
        error.reason = unreadable(err)
        raise error from None


def differences(stored: ExperimentConfig, config: ExperimentConfig, limit: int = 3) -> str:
    """The result-changing fields two configs differ in, e.g. "lr=0.1 there, 0.05 here"."""
    a, b = stored.to_dict(), config.to_dict()
    diff = [f"{k}={a[k]!r} there, {b[k]!r} here" for k in a if k not in RESULT_NEUTRAL and a[k] != b.get(k)]
    return "; ".join(diff[:limit]) + (f"; and {len(diff) - limit} more" if len(diff) > limit else "")


def prepare(run_dir: Path, config: ExperimentConfig, resume: bool) -> History | None:
    """Create run_dir for `config`; return the stored History when the same run already finished there
    (with its final parameters). Identity comes first: with resume=True, a folder whose config.json is
    unreadable or another run's raises RunFolderError, and results without a config.json are refused,
    all before any of them is opened. resume=False starts afresh, clearing the folder's results.
    Call it holding the folder's lock: it also clears temp files of interrupted writes."""
    run_dir.mkdir(parents=True, exist_ok=True)
    remove_orphaned_temps(run_dir)
    if resume:
        stored = stored_config(run_dir)
        found = [name for name in RESULT_FILES if (run_dir / name).exists()]
        if stored is None and found:
            raise RunFolderError(f"{run_dir} holds {', '.join(found)} but no {CONFIG_FILE}, so nothing shows "
                                 "they belong to this run and they were not opened; delete them or use "
                                 "another folder")
        if stored is not None and stored.run_id != config.run_id:
            raise RunFolderError(f"{run_dir} holds a different run ({differences(stored, config)}); use "
                                 "another folder, or delete this one to start afresh")
        if stored is not None and (done := finished_history(run_dir)) is not None:
            return done
    else:
        for name in RESULT_FILES:
            (run_dir / name).unlink(missing_ok=True)
    atomic_write_text(run_dir / CONFIG_FILE, config.to_json())
    return None


def finished_history(run_dir: Path) -> History | None:
    """The finished History in run_dir with its final parameters, or None (not finished, or a damaged
    history or model, moved aside so that the run computes them again)."""
    if not (run_dir / HISTORY_FILE).exists():
        return None
    try:
        history = load_history(run_dir)
    except RunFolderError as err:
        set_aside(run_dir / HISTORY_FILE, f"is damaged ({err.reason})",
                  "the run continues from its checkpoint (or round 0) and writes it again")
        return None
    if history.finished and (run_dir / MODEL_FILE).exists():
        try:
            history.final_params = final_params(run_dir)
        except RunFolderError as err:
            set_aside(run_dir / MODEL_FILE, f"cannot be loaded ({err.reason})",
                      "the run is trained again from round 0 (the same run, so the same history)")
            (run_dir / HISTORY_FILE).unlink()  # not finished any more until the model is written again
            return None
    return history if history.finished else None


def write_results(run_dir: Path, history: History) -> None:
    """history.json and metrics.csv, atomically."""
    atomic_write_text(run_dir / HISTORY_FILE, history.to_json())
    atomic_write_text(run_dir / METRICS_FILE, csv_text(history.to_csv_rows(), CSV_COLUMNS))


def load_history(run_dir: str | Path) -> History:
    """The History stored in a run directory (finished or partial); RunFolderError naming the file when
    it cannot be read."""
    path = Path(run_dir) / HISTORY_FILE
    try:
        return History.from_json(path.read_text())
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as err:
        raise RunFolderError(f"{path} cannot be read as a run history", unreadable(err)) from None


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
    """The checkpoint in run_dir (None when there is none); RunFolderError naming the file when it cannot
    be loaded (damaged, or holding more than tensors and plain data) or is another run's."""
    path = run_dir / CHECKPOINT_FILE
    if not path.exists():
        return None
    state = load_plain(path)
    if not isinstance(state, dict) or any(k not in state for k in CHECKPOINT_KEYS):
        raise RunFolderError(f"{path} is not a checkpoint", "it lacks a checkpoint's entries")
    if state["run_id"] != run_id:
        raise RunFolderError(f"{path} is another run's checkpoint", f"it belongs to run {state['run_id']}")
    return state


def resume_state(run_dir: Path, run_id: str) -> dict[str, Any] | None:
    """The checkpoint to resume from, or None: a checkpoint that cannot be used is moved aside, with a
    warning, and the run starts from round 0."""
    try:
        return load_checkpoint(run_dir, run_id)
    except RunFolderError as err:
        set_aside(run_dir / CHECKPOINT_FILE, f"cannot be used ({err.reason})",
                  "the run starts again from round 0")
        return None


def load_plain(path: Path) -> Any:
    """A torch file holding tensors and plain data only: anything else is refused, never run."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - damaged files fail in many ways (zip, pickle, EOF...)
        raise RunFolderError(f"{path} cannot be loaded", unreadable(err)) from None


def remove_checkpoint(run_dir: Path) -> None:
    (run_dir / CHECKPOINT_FILE).unlink(missing_ok=True)


def save_model(run_dir: Path, params: Params) -> None:
    """The finished run's global parameters (CPU tensors), final_model.pt."""
    cpu = {k: v.detach().cpu() for k, v in params.items()}
    atomic_write(run_dir / MODEL_FILE, lambda f: torch.save(cpu, f), binary=True)


def final_params(run_dir: str | Path) -> Params:
    """The final global parameters a finished run saved in run_dir (CPU tensors; tensors only are
    loaded: RunFolderError when the file holds anything else or is damaged)."""
    params = load_plain(Path(run_dir) / MODEL_FILE)
    if not isinstance(params, dict) or not all(isinstance(v, torch.Tensor) for v in params.values()):
        raise RunFolderError(f"{Path(run_dir) / MODEL_FILE} is not a model", "it holds no named tensors")
    return params
