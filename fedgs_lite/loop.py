"""The federated round loop: one run, or several in lockstep, from the first round to the last.

Each round every due run draws who is available and its sampler selects (`pick_clients`); then the
selected clients of all those runs train in one batched computation (`local_train_many`); then each
run aggregates, updates its sampler, records the round, evaluates and saves what is due
(`finish_round`). `run_experiment` is the one-run case of `train`, `run_cohort` the many-run case.
Runs in one call must share data, model and local training (`ExperimentConfig.cohort_key`); each keeps
its own random streams and every client's arithmetic does not depend on who trains beside it, so a
run in a cohort gives the separate run's History and model bit for bit on a CPU (tested). Timing is
shared: a cohort run's `wall_time` and `round_seconds` count the whole cohort's time.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from fedgs_lite.config import ExperimentConfig
from fedgs_lite.history import History
from fedgs_lite.models import Params
from fedgs_lite.runs import Run, close, diverged, interrupted, open_runs, pause, release, save_if_due
from fedgs_lite.server import aggregate, aggregation_weights, evaluate, validation_loss
from fedgs_lite.training import DivergenceError, check_finite, local_train_many


def train(configs: Sequence[ExperimentConfig], run_dirs: Sequence[str | Path | None] | None = None, *,
          progress: bool = True, resume: bool = True, stop_after: int | None = None,
          chunk_size: int | None = None, deadline: float | None = None) -> list[History]:
    """Train `configs` round by round in lockstep; one History per config, in order (see run_cohort)."""
    opened = open_runs(configs, run_dirs, resume, stop_after)
    runs = [r for r in opened if isinstance(r, Run)]
    total = sum(r.last_round - r.history.rounds_done for r in runs)
    desc = runs[0].config.label if len(opened) == 1 and runs else f"cohort of {len(runs)}"
    bar = tqdm(total=total, disable=not progress or not runs, desc=desc, leave=False, dynamic_ncols=True)
    try:
        for run in runs:
            guarded(run, start)
        while due := due_runs(runs):
            t, lead = due[0].history.rounds_done, runs[0]
            picks = [pick_clients(run, t) for run in due]
            trained = local_train_many(lead.parts.model, [run.params for run in due], lead.parts.data,
                                       [p.clients.tolist() for p in picks], lead.parts.local, t,
                                       [run.parts.torch_gen for run in due], lead.config.engine,
                                       chunk_size=chunk_size)
            for run, pick, (params, losses) in zip(due, picks, trained, strict=True):
                guarded(run, finish_round, t, pick, params, losses)
            bar.update(len(due))
            bar.set_postfix(round=t + 1, acc=f"{max(r.history.test_accuracy[-1] for r in runs):.3f}")
            if deadline is not None and time.monotonic() >= deadline:
                for run in runs:
                    pause(run)
        return [close(r) if isinstance(r, Run) else r for r in opened]
    except KeyboardInterrupt:
        for run in runs:
            interrupted(run)
        raise
    finally:
        bar.close()
        for run in runs:
            release(run)  # the run folders' locks, also when a run failed


def run_experiment(config: ExperimentConfig, run_dir: str | Path | None = None, *, progress: bool = True,
                   resume: bool = True, stop_after: int | None = None,
                   deadline: float | None = None) -> History:
    """Train `config.rounds` rounds of federated learning; return the History.

    run_dir: where config/history/metrics, checkpoints and the final model go. With resume=True a
    finished run there is returned without recomputation and an interrupted one continues from its
    last checkpoint, giving the same result as an uninterrupted run. stop_after: stop (with a
    checkpoint) once that many rounds are done in total, e.g. to split a long run over several calls.
    deadline: a time.monotonic() value; the run stops (with a checkpoint) after the round in which it
    passes, e.g. to end cleanly before a machine's time limit.
    A diverging run (non-finite loss) stops early with `history.stopped_reason` set and a warning.
    """
    return train([config], [run_dir], progress=progress, resume=resume, stop_after=stop_after,
                 deadline=deadline)[0]


def run_cohort(configs: Sequence[ExperimentConfig], run_dirs: Sequence[str | Path | None] | None = None, *,
               progress: bool = True, resume: bool = True, chunk_size: int | None = None,
               deadline: float | None = None) -> list[History]:
    """Train `configs` together; returns one History per config, in order.

    They must share data, model and local training (equal `cohort_key`; `group_cohorts` sorts a list
    into such groups). run_dirs: one run directory (or None) per config, with run_experiment's
    semantics. chunk_size bounds how many clients train at once (GPU memory); it does not change
    results. deadline: a time.monotonic() value after which every run stops with a checkpoint at the
    end of the current round. Interrupting, resuming and divergence act per run.
    """
    return train(configs, run_dirs, progress=progress, resume=resume, chunk_size=chunk_size,
                 deadline=deadline)


def group_cohorts(configs: Sequence[ExperimentConfig]) -> list[list[int]]:
    """Indices of `configs` grouped by cohort_key, groups and members in first-seen order."""
    groups: dict[tuple, list[int]] = {}
    for i, c in enumerate(configs):
        groups.setdefault(c.cohort_key(), []).append(i)
    return list(groups.values())


# --------------------------------------------------------------------------- one round

@dataclass(frozen=True, eq=False)
class Pick:
    """One run's round t before training: who was available and whom its sampler selected."""

    available: np.ndarray          # bool (N,)
    selected: np.ndarray           # ids as the sampler returned them (MD may repeat one)
    clients: np.ndarray            # the distinct selected ids: each trains once...
    multiplicity: np.ndarray       # ...and weighs as often as it was selected
    started: float


def due_runs(runs: list[Run]) -> list[Run]:
    """The runs whose next round is the earliest; runs resumed further along wait for the rest."""
    t = min((r.next_round for r in runs if r.next_round is not None), default=None)
    return [] if t is None else [r for r in runs if r.next_round == t]


def guarded(run: Run, step, *args) -> None:
    """Do one step of a run; a diverging run stops on its own (results kept), the others go on."""
    try:
        step(run, *args)
    except DivergenceError as err:
        diverged(run, err)


def start(run: Run) -> None:
    if not run.history.eval_rounds:
        evaluate_model(run, 0)


def pick_clients(run: Run, t: int) -> Pick:
    """Round t's availability draw and the sampler's selection."""
    started = time.perf_counter()
    available = np.asarray(run.parts.availability.draw(t, run.parts.rng_avail), dtype=bool)
    selected = run.sampler.select(available, run.config.m, t, run.parts.rng_sampler)
    selected = np.asarray(selected, dtype=np.int64)
    clients, multiplicity = np.unique(selected, return_counts=True)
    return Pick(available, selected, clients, multiplicity, started)


def finish_round(run: Run, t: int, pick: Pick, client_params: Params, losses: np.ndarray) -> None:
    """Aggregate round t's local models, update the sampler, record the round, evaluate, save."""
    check_finite(losses, client_params, pick.clients, t)
    c, h = run.config, run.history
    weights = aggregation_weights(c.aggregation_rule, run.parts.fed.sizes, pick.clients, pick.multiplicity)
    run.params = aggregate(client_params, weights)
    if hasattr(run.sampler, "update"):
        run.sampler.update(pick.selected, t)
    train_loss = np.dot(weights, np.asarray(losses, dtype=np.float64)) / weights.sum()
    h.record_round(pick.available, pick.selected, train_loss, run.parts.local.lr_at(t),
                   time.perf_counter() - pick.started)
    evaluated = (t + 1) % c.eval_every == 0 or t + 1 == c.rounds
    if evaluated:
        evaluate_model(run, t + 1)
    h.finished = t + 1 == c.rounds
    run.model_saved = not h.finished
    save_if_due(run, evaluated)


def evaluate_model(run: Run, rounds_done: int) -> None:
    """The global model on the test set and, with a hold-out, on every client's validation part."""
    p = run.parts
    loss, acc = evaluate(p.model, run.params, p.data.x_test, p.data.y_test)
    valid = None if p.valid_parts is None else validation_loss(p.model, run.params, p.data, p.valid_parts)
    run.history.record_eval(rounds_done, loss, acc, valid)
    if not math.isfinite(loss):
        raise DivergenceError(max(rounds_done - 1, 0), what=f"the test loss is {loss} after it")
