"""One run's life between rounds: opened fresh, resumed or read back finished; saved, paused, closed.

`Run` holds a run's parts and sampler, its current global model and its History. `open_runs` opens a
cohort's runs (the first one's federation shared by the others), each holding its directory's lock
(files.lock_folder) from before anything there is read until `close` or `release`; `save_if_due`
writes the run directory's files when they are due; `pause`, `diverged` and `interrupted` stop a run
with its results kept; `close` hands back its History. The round itself is in loop.py.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from fedgs_lite.assemble import RunParts, assemble, build_sampler
from fedgs_lite.checks import is_int
from fedgs_lite.config import COHORT_FIELDS, ExperimentConfig
from fedgs_lite.files import FolderLock, lock_folder
from fedgs_lite.history import History
from fedgs_lite.models import Params
from fedgs_lite.rundir import (
    prepare,
    remove_checkpoint,
    resume_state,
    save_checkpoint,
    save_model,
    write_results,
)
from fedgs_lite.samplers import Sampler
from fedgs_lite.server import client_losses
from fedgs_lite.training import DivergenceError

# Between checkpoints, history.json/metrics.csv are rewritten after an evaluation only when this many
# seconds have passed since the last write: each write is O(rounds), so writing every round would
# cost O(rounds^2) (about 13 ms a round at 1000 rounds x 100 clients, comparable to a GPU round).
# Checkpoints, stop_after, the end of the run, divergence and interrupts always write.
LIVE_SAVE_SECONDS = 2.0


@dataclass(eq=False)
class Run:
    """One run between rounds: its parts and sampler, its current global model, what it recorded."""

    config: ExperimentConfig
    parts: RunParts
    params: Params                 # the current global model
    history: History
    run_dir: Path | None
    last_round: int                # this call stops once this many rounds are done (stop_after)
    clock: float                   # when wall time not yet added to the history started
    sampler: Sampler | None = None
    last_write: float = field(default_factory=time.perf_counter)
    model_saved: bool = True       # False only while the final model is being written
    stopped: bool = False
    lock: FolderLock | None = None  # run_dir's lock, held while the run is open

    @property
    def next_round(self) -> int | None:
        """The round this run trains next, or None when it has nothing left to do in this call."""
        t = self.history.rounds_done
        return None if self.stopped or t >= self.last_round else t

    def client_losses(self, ids) -> np.ndarray:
        """The current global model's mean loss on each client's validation part, else its training
        data (Power-of-Choice, as the authors: `parts.loss_parts`)."""
        p = self.parts
        return np.asarray(client_losses(p.model, self.params, p.data, ids, parts=p.loss_parts))


def open_runs(configs, run_dirs, resume: bool, stop_after: int | None) -> list[Run | History]:
    """A Run per config, or the stored History when the same run already finished in its directory.
    The runs after the first reuse its federation and device data."""
    configs = list(configs)
    dirs = [None] * len(configs) if run_dirs is None else [None if d is None else Path(d) for d in run_dirs]
    check_cohort(configs, dirs, stop_after)
    opened: list[Run | History] = []
    try:
        for config, run_dir in zip(configs, dirs, strict=True):
            shared = next((r.parts for r in opened if isinstance(r, Run)), None)
            opened.append(open_run(config, run_dir, resume, stop_after, shared))
    except BaseException:
        for r in opened:
            release(r)
        raise
    return opened


def open_run(config: ExperimentConfig, run_dir: Path | None, resume: bool, stop_after: int | None,
             shared: RunParts | None) -> Run | History:
    clock = time.perf_counter()
    lock = None if run_dir is None else lock_folder(run_dir, "run folder")
    try:
        if run_dir is not None and (done := prepare(run_dir, config, resume)) is not None:
            lock.release()
            return done
        parts = assemble(config, shared)
        last = config.rounds if stop_after is None else min(config.rounds, stop_after)
        run = Run(config, parts, parts.params, History.start(config, degenerate=parts.degenerate),
                  run_dir, last, clock, lock=lock)
        run.sampler = build_sampler(config, parts, run.client_losses)
        if run_dir is not None:
            check_sampler_state(run.sampler, config.sampler)
        state = resume_state(run_dir, config.run_id) if run_dir is not None and resume else None
        if state is not None:
            restore(run, state)
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    return run


PLAIN = (str, int, float, bool, type(None), torch.Tensor)


def is_plain(value) -> bool:
    """Dicts (str keys), lists and tuples of numbers, strings, None and tensors: what a checkpoint can
    hold and load back without unpickling code (torch.load(weights_only=True))."""
    if isinstance(value, dict):
        return all(isinstance(k, str | int) and is_plain(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(is_plain(v) for v in value)
    return isinstance(value, PLAIN)


def check_sampler_state(sampler: Sampler, name: str) -> None:
    """A checkpointed run's sampler must keep its state as plain values; say so up front otherwise."""
    if hasattr(sampler, "update") and not hasattr(sampler, "state_dict"):
        warnings.warn(f"sampler {name!r} has update() but no state_dict(): a run resumed from a "
                      "checkpoint restarts its state (give it state_dict/load_state_dict)", RuntimeWarning,
                      stacklevel=6)
    elif hasattr(sampler, "state_dict") and not is_plain(sampler.state_dict()):
        raise TypeError(f"sampler {name!r}: state_dict() must return plain values (dicts, lists, numbers, "
                        "strings, tensors; e.g. array.tolist()), so that a checkpoint loads back without "
                        "unpickling objects")


def check_cohort(configs: list, dirs: list, stop_after: int | None) -> None:
    if not configs:
        raise ValueError("run_cohort needs at least one config")
    for c in configs:
        if not isinstance(c, ExperimentConfig):
            raise TypeError(f"config must be an ExperimentConfig, got {type(c).__name__}")
    keys = [c.cohort_key() for c in configs]
    if len(set(keys)) > 1:
        differ = [f for i, f in enumerate(COHORT_FIELDS) if len({k[i] for k in keys}) > 1]
        raise ValueError(f"these configs cannot train together: they differ in {', '.join(differ)} "
                         "(group them with group_cohorts)")
    if len(dirs) != len(configs):
        raise ValueError(f"{len(configs)} configs but {len(dirs)} run_dirs")
    if len({d.resolve() for d in dirs if d is not None}) != sum(d is not None for d in dirs):
        raise ValueError("two configs share a run directory")
    if stop_after is not None and not (is_int(stop_after) and stop_after >= 1):
        raise ValueError(f"stop_after must be a positive int or None, got {stop_after!r}")


def save_if_due(run: Run, evaluated: bool) -> None:
    """The final model at the end; history and a checkpoint every checkpoint_every rounds and at
    stop_after; otherwise the history after an evaluation, at most every LIVE_SAVE_SECONDS."""
    c, r = run.config, run.history.rounds_done
    if run.run_dir is None:
        return
    if run.history.finished:
        save_model(run.run_dir, run.params)
        run.model_saved = True
        write(run)
    elif r == run.last_round or (c.checkpoint_every and r % c.checkpoint_every == 0):
        write(run)
        save_checkpoint(run.run_dir, checkpoint_state(run))
    elif evaluated and time.perf_counter() - run.last_write >= LIVE_SAVE_SECONDS:
        write(run)


def write(run: Run) -> None:
    """Add the wall time since the last write to the history and write it (when there is a run_dir)."""
    now = time.perf_counter()
    run.history.wall_time += now - run.clock
    run.clock = now
    if run.run_dir is not None:
        write_results(run.run_dir, run.history)
    run.last_write = time.perf_counter()


def checkpoint_state(run: Run) -> dict:
    """Everything a resumed run needs, as plain values: params, random streams, sampler, history."""
    p = run.parts
    return {"run_id": run.config.run_id, "round": run.history.rounds_done,
            "params": {k: v.detach().cpu() for k, v in run.params.items()},
            "rng_avail": p.rng_avail.bit_generator.state, "rng_sampler": p.rng_sampler.bit_generator.state,
            "torch_gen": p.torch_gen.get_state(),
            "sampler": run.sampler.state_dict() if hasattr(run.sampler, "state_dict") else {},
            "history": run.history.to_dict()}


def restore(run: Run, state: dict) -> None:
    p = run.parts
    run.params = {k: v.to(p.device) for k, v in state["params"].items()}
    p.rng_avail.bit_generator.state = state["rng_avail"]
    p.rng_sampler.bit_generator.state = state["rng_sampler"]
    p.torch_gen.set_state(state["torch_gen"])
    if hasattr(run.sampler, "load_state_dict"):
        run.sampler.load_state_dict(state["sampler"])
    run.history = History.from_dict(state["history"])


def pause(run: Run) -> None:
    """Stop after the round just finished, with results and a checkpoint written to resume from."""
    if run.stopped or run.history.finished:
        return
    run.stopped = True
    if run.run_dir is not None:
        write(run)
        save_checkpoint(run.run_dir, checkpoint_state(run))


def diverged(run: Run, err: DivergenceError) -> None:
    c, h = run.config, run.history
    h.stopped_reason = (f"{err} (lr={c.lr:g}). The run stopped; results up to there are kept. "
                        "Try a smaller lr.")
    h.finished = True  # rerunning the same config would diverge the same way
    run.stopped = True
    warnings.warn(f"[{c.label}] {h.stopped_reason}", RuntimeWarning, stacklevel=4)
    write(run)


def interrupted(run: Run) -> None:
    if run.stopped:
        return
    if run.history.finished and not run.model_saved:
        run.history.finished = False  # the final model was not written: resume redoes the tail
    write(run)  # partial results; the last checkpoint stays the resume point


def close(run: Run) -> History:
    h = run.history
    if run.run_dir is None:
        h.wall_time += time.perf_counter() - run.clock
    elif h.finished:
        remove_checkpoint(run.run_dir)
    release(run)
    h.final_params = {k: v.detach().cpu() for k, v in run.params.items()}
    return h


def release(run: Run | History) -> None:
    """Free a run's directory lock (idempotent; a History read back holds none)."""
    lock = getattr(run, "lock", None)
    if lock is not None:
        lock.release()
