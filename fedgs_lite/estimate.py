"""How long a `run` command will take here: each run's first rounds are timed, then it goes on from there.

On a CPU the image datasets are slow (a CNN on Fashion-MNIST: seconds a round, and Power-of-Choice
evaluates every candidate's data each round), so before training them in full `run` trains the first
PROBE_ROUNDS rounds of every run and prints what the whole command will take when that is at least
SAY_SECONDS. Those rounds are not extra work: they stop with a checkpoint and the full run resumes from
it, bit for bit the uninterrupted run (loop.run_experiment's stop_after; only wall_time counts the
resumed run's set-up twice).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fedgs_lite.config import ExperimentConfig
from fedgs_lite.history import History
from fedgs_lite.rundir import HISTORY_FILE

PROBE_ROUNDS = 2
SAY_SECONDS = 60.0


def seconds_left(h: History, c: ExperimentConfig) -> float:
    """A run's whole time from its first rounds: rounds (the first one, which warms up, left out when
    there are more) and evaluations, each evaluation counted with the set-up (an overestimate)."""
    rounds = h.round_seconds[1:] or h.round_seconds
    per_eval = max(h.wall_time - sum(h.round_seconds), 0.0) / max(len(h.eval_rounds), 1)
    evals = c.rounds // c.eval_every + (c.rounds % c.eval_every != 0) + 1
    return c.rounds * sum(rounds) / len(rounds) + evals * per_eval


def can_probe(configs: Sequence[ExperimentConfig], run_dirs: Sequence[Path]) -> bool:
    """No run has started yet (there would be nothing fair to measure) and every run is long enough."""
    started = any((Path(d) / HISTORY_FILE).exists() for d in run_dirs)
    return not started and min(c.rounds for c in configs) > PROBE_ROUNDS


def probe(configs: Sequence[ExperimentConfig], run_dirs: Sequence[Path], progress: bool) -> float | None:
    """Train the first PROBE_ROUNDS rounds of each run in its folder; the estimated seconds of all the
    runs, or None when `can_probe` says no."""
    from fedgs_lite.loop import run_experiment

    if not can_probe(configs, run_dirs):
        return None
    total = 0.0
    for c, d in zip(configs, run_dirs, strict=True):
        h = run_experiment(c, d, progress=progress, stop_after=PROBE_ROUNDS)
        total += 0.0 if h.stopped_reason else seconds_left(h, c)
    return total


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def say_estimate(configs: Sequence[ExperimentConfig], run_dirs: Sequence[Path], progress: bool) -> None:
    """Print about how long the runs will take, when that is at least SAY_SECONDS."""
    if can_probe(configs, run_dirs):
        print(f"timing the first {PROBE_ROUNDS} rounds of each run for an estimate (they count: the runs go "
              "on from there)", flush=True)
    seconds = probe(configs, run_dirs, progress)
    if seconds is not None and seconds >= SAY_SECONDS:
        print(f"estimated time: about {duration(seconds)} for the {len(configs)} runs on this machine (from "
              f"their first {PROBE_ROUNDS} rounds; --device auto uses a GPU when there is one)", flush=True)
