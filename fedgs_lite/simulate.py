"""Sampling-only simulation: run a sampler against an availability mode for T rounds, no training.

This isolates what FedGS changes, who gets picked, and measures it: sampling counts and their variance
over time, Jain's fairness index, label coverage and 3DG spread of each round's selection, and for
FedGS the solver's status and gap. `compare_samplers` runs several samplers on one shared
availability trace (`python -m fedgs_lite simulate` prints the comparison as a table);
`round_problem` recovers one round's FedGS selection problem from a simulation.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fedgs_lite.availability import make_availability
from fedgs_lite.checks import positive_int
from fedgs_lite.metrics import (
    count_variance,
    jain_index,
    label_coverage_rounds,
    mean_pairwise_distance_rounds,
    per_round_counts,
)
from fedgs_lite.objective import count_penalty
from fedgs_lite.partitions import label_distributions
from fedgs_lite.samplers import SAMPLERS, Sampler, config_options, fresh_sampler, make_sampler


@dataclass
class SimulationResult:
    """What happened in a sampling-only run of `rounds` rounds over N clients."""

    name: str
    m: int
    available: np.ndarray              # (T, N) bool: who was available in each round
    selected: list[np.ndarray]         # per round, the ids the sampler returned (MD may repeat)
    selection: np.ndarray              # (T, N) int: times each client was picked in each round
    counts: np.ndarray                 # (N,) total picks per client
    variance: np.ndarray               # (T,) count variance of the cumulative counts after each round
    jain_over_time: np.ndarray         # (T,) Jain index of the cumulative counts after each round
    coverage: np.ndarray | None        # (T,) label coverage of each round's selection
    pairwise: np.ndarray | None        # (T,) mean pairwise 3DG distance of each round's selection
    solver_status: list[str] | None    # FedGS (any sampler with `last_result`): status per round
    solver_gap: np.ndarray | None      # (T,) relative gap per round, nan when unknown
    seconds: float                     # wall time of the selection loop
    sampler: Any = field(default=None, repr=False)  # the sampler object after the run (its state)

    @property
    def rounds(self) -> int:
        return self.available.shape[0]

    @property
    def num_clients(self) -> int:
        return self.available.shape[1]

    @property
    def final_variance(self) -> float:
        return float(self.variance[-1]) if self.variance.size else 0.0

    @property
    def jain(self) -> float:
        return float(jain_index(self.counts))

    @property
    def availability_frequency(self) -> np.ndarray:
        """Fraction of rounds each client was available."""
        return self.available.mean(axis=0)

    def summary(self) -> dict[str, float | str]:
        """One table row: the headline numbers of this run."""
        row: dict[str, float | str] = {
            "sampler": self.name,
            "count_variance": self.final_variance,
            "jain": self.jain,
            "label_coverage": float(np.mean(self.coverage)) if self.coverage is not None else float("nan"),
            "pairwise_distance": float(np.mean(self.pairwise)) if self.pairwise is not None else float("nan"),
            "seconds": self.seconds,
        }
        if self.solver_status is not None:
            gaps = self.solver_gap[np.isfinite(self.solver_gap)]
            row["max_gap"] = float(gaps.max()) if gaps.size else float("nan")
        return row



def _trace(availability, rounds: int, rng: np.random.Generator) -> np.ndarray:
    """(T, N) bool: a pre-drawn trace (T, N) array is used as given, an Availability is drawn."""
    if not isinstance(availability, np.ndarray | list) and callable(getattr(availability, "trace", None)):
        tr = np.asarray(availability.trace(rounds, rng)).T  # Availability.trace is (N, rounds)
    else:
        tr = np.asarray(availability)
        if tr.ndim != 2 or tr.dtype != bool:
            raise ValueError("availability must be an Availability (make_availability) or a (rounds, N) "
                             f"boolean trace, got {type(availability).__name__} {getattr(tr, 'shape', '')}")
        if tr.shape[0] < rounds:
            raise ValueError(f"the availability trace has {tr.shape[0]} rounds but rounds={rounds}; "
                             "a trace array is (rounds, N)")
        tr = tr[:rounds]
    if not tr.any(axis=1).all():
        raise ValueError("the availability trace has a round where no client is available")
    return tr


def _select_rounds(sampler, trace: np.ndarray, m: int, rng: np.random.Generator, progress: bool,
                   desc: str) -> tuple[list[np.ndarray], list[str] | None, np.ndarray | None]:
    """Each round's selection (checked against the trace), with the solver's status and gap per round
    when the sampler exposes a `last_result` (FedGS)."""
    rounds, n = trace.shape
    update = getattr(sampler, "update", None)
    track_solver = hasattr(sampler, "last_result")
    selected: list[np.ndarray] = []
    statuses: list[str] = []
    gaps = np.full(rounds, np.nan)
    steps = range(rounds)
    if progress:
        from tqdm.auto import tqdm
        steps = tqdm(steps, desc=desc, leave=False)
    for t in steps:
        ids = np.asarray(sampler.select(trace[t], m, t, rng), dtype=np.int64).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= n or not trace[t, ids].all()):
            raise ValueError(f"sampler {getattr(sampler, 'name', sampler)!r} picked unavailable or "
                             f"out-of-range clients in round {t}: {ids.tolist()}")
        selected.append(ids)
        if callable(update):
            update(ids, t)
        if track_solver:
            res = sampler.last_result
            statuses.append(getattr(res, "status", "none") if res is not None else "none")
            gap = getattr(res, "gap", None)
            gaps[t] = np.nan if gap is None else float(gap)
    return selected, (statuses if track_solver else None), (gaps if track_solver else None)


def simulate_sampling(sampler: Sampler, availability, rounds: int, m: int, rng: np.random.Generator, *,
                      label_histograms: np.ndarray | None = None, distances: np.ndarray | None = None,
                      progress: bool = False, name: str | None = None) -> SimulationResult:
    """Run `sampler` for `rounds` rounds against `availability`, with no training.

    `availability` is an Availability (its trace is drawn with `rng` first) or a pre-drawn (rounds, N)
    boolean trace. The sampler is copied with `fresh()` when it has one, so the same sampler object
    reruns identically; the used copy is `result.sampler`. `update(selected, round_idx)` is called after
    each round when the sampler has it. Label coverage needs `label_histograms` (N, C); the pairwise
    3DG distance needs `distances` (N, N) (taken from a FedGS sampler when not given).
    """
    rounds, m = positive_int(rounds, "rounds"), positive_int(m, "m (clients per round)")
    if not callable(getattr(sampler, "select", None)):
        raise ValueError(f"sampler must have a select(available, m, round_idx, rng) method, got {sampler!r}")
    trace = _trace(availability, rounds, rng)
    sampler = fresh_sampler(sampler)
    name = name or str(getattr(sampler, "name", type(sampler).__name__))
    distances = getattr(sampler, "distances", None) if distances is None else distances
    start = time.perf_counter()
    selected, statuses, gaps = _select_rounds(sampler, trace, m, rng, progress, name)
    seconds = time.perf_counter() - start
    # Metrics, vectorised over rounds: one scatter-add builds the (T, N) selection matrix.
    selection = per_round_counts(selected, trace.shape[1])
    cumulative = np.cumsum(selection, axis=0)
    return SimulationResult(
        name=name, m=m, available=trace, selected=selected, selection=selection,
        counts=cumulative[-1].copy(), variance=np.asarray(count_variance(cumulative)),
        jain_over_time=np.asarray(jain_index(cumulative)),
        coverage=None if label_histograms is None else label_coverage_rounds(selection, label_histograms),
        pairwise=None if distances is None else mean_pairwise_distance_rounds(selection, distances),
        solver_status=statuses, solver_gap=gaps, seconds=seconds, sampler=sampler)


def label_prior_losses(label_histograms: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """A stand-in loss for Power-of-Choice when nothing is trained: the cross-entropy, on each client's
    labels, of a model that predicts the federation's label distribution. Clients whose labels differ
    most from the global mix have the largest loss, as they do for an early global model."""
    h = np.asarray(label_histograms, dtype=float)
    if h.ndim != 2:
        raise ValueError(f"label_histograms must be (N, C), got shape {h.shape}")
    q = h.sum(axis=0) / max(h.sum(), 1.0)
    logq = np.log(np.clip(q, 1e-12, None))
    losses = -(label_distributions(h) * logq).sum(axis=1)

    def loss_fn(ids: np.ndarray) -> np.ndarray:
        return losses[np.asarray(ids, dtype=np.int64)]

    return loss_fn


def compare_samplers(names: Sequence[str | Sampler], availability_spec: str, stats,
                     distances: np.ndarray | None, rounds: int, m: int, seed: int = 0, *,
                     alpha: float = 0.1, solver: str = "fast",
                     loss_fn: Callable[[np.ndarray], np.ndarray] | None = None,
                     progress: bool = False) -> dict[str, SimulationResult]:
    """Simulate several samplers on the same availability trace; returns {name: SimulationResult}.

    `names` are registered sampler names or ready sampler objects. `stats` is a ClientStats
    (sizes, label_histograms). One rng (from `seed`) builds the mode and draws the trace once; each
    sampler then selects with its own rng started from the same second seed. FedGS uses `alpha` and
    `solver`; Power-of-Choice uses `loss_fn`, by default `label_prior_losses(stats.label_histograms)`.
    """
    if not names:
        raise ValueError(f"names must list at least one sampler (from {', '.join(SAMPLERS)})")
    mode_seed, select_seed = np.random.SeedSequence(seed).spawn(2)
    mode_rng = np.random.default_rng(mode_seed)
    trace = _trace(make_availability(availability_spec, stats, mode_rng), rounds, mode_rng)
    hist = np.asarray(stats.label_histograms)
    loss_fn = label_prior_losses(hist) if loss_fn is None else loss_fn
    settings = {"fedgs_alpha": alpha, "solver": solver, "poc_d": None}
    results: dict[str, SimulationResult] = {}
    for entry in names:
        if isinstance(entry, str):
            sampler = make_sampler(entry, sizes=stats.sizes, distances=distances, loss_fn=loss_fn,
                                   **config_options(entry, settings))
            key = entry
        else:
            sampler, key = entry, str(getattr(entry, "name", type(entry).__name__))
        if key in results:
            raise ValueError(f"sampler {key!r} is listed twice")
        results[key] = simulate_sampling(sampler, trace, rounds, m, np.random.default_rng(select_seed),
                                         label_histograms=hist, distances=distances, progress=progress,
                                         name=key)
    return results


def round_problem(result: SimulationResult, distances: np.ndarray,
                  t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """FedGS's selection problem in round `t` of a SimulationResult: (available ids, D[A, A], u, M)."""
    counts = result.selection[:t].sum(axis=0)
    ids = np.flatnonzero(result.available[t])
    m = min(result.m, ids.size)
    return ids, distances[np.ix_(ids, ids)], count_penalty(counts, ids, m), m
