"""Sampling-only simulation: run a sampler against an availability mode for T rounds, no training.

This isolates what FedGS changes, who gets picked, and measures it: sampling counts and their variance
over time, Jain's fairness index, label coverage and 3DG spread of each round's selection, and for
FedGS the solver's status and gap. `compare_samplers` runs several samplers on one shared
availability trace; `python -m fedgs_lite simulate` prints the comparison as a table.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fedgs_lite._plot import figure_and_axes
from fedgs_lite.metrics import (
    count_variance,
    jain_index,
    label_coverage_rounds,
    mean_pairwise_distance_rounds,
    per_round_counts,
)
from fedgs_lite.samplers import SAMPLERS, Sampler, _check_m, fresh_sampler, make_sampler


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
    if isinstance(rounds, bool) or int(rounds) != rounds or rounds < 1:
        raise ValueError(f"rounds must be an integer >= 1, got {rounds!r}")
    m = _check_m(m)
    if not callable(getattr(sampler, "select", None)):
        raise ValueError(f"sampler must have a select(available, m, round_idx, rng) method, got {sampler!r}")
    rounds = int(rounds)
    trace = _trace(availability, rounds, rng)
    n = trace.shape[1]
    sampler = fresh_sampler(sampler)
    if distances is None:
        distances = getattr(sampler, "distances", None)
    update = getattr(sampler, "update", None)
    track_solver = hasattr(sampler, "last_result")

    selected: list[np.ndarray] = []
    statuses: list[str] = []
    gaps = np.full(rounds, np.nan)
    steps: Iterable[int] = range(rounds)
    if progress:
        from tqdm.auto import tqdm
        steps = tqdm(steps, desc=name or getattr(sampler, "name", "sampler"), leave=False)
    start = time.perf_counter()
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
    seconds = time.perf_counter() - start

    # Metrics, vectorised over rounds: one scatter-add builds the (T, N) selection matrix.
    selection = per_round_counts(selected, n)
    cumulative = np.cumsum(selection, axis=0)
    return SimulationResult(
        name=name or str(getattr(sampler, "name", type(sampler).__name__)),
        m=m,
        available=trace,
        selected=selected,
        selection=selection,
        counts=cumulative[-1].copy(),
        variance=np.asarray(count_variance(cumulative)),
        jain_over_time=np.asarray(jain_index(cumulative)),
        coverage=None if label_histograms is None else label_coverage_rounds(selection, label_histograms),
        pairwise=None if distances is None else mean_pairwise_distance_rounds(selection, distances),
        solver_status=statuses if track_solver else None,
        solver_gap=gaps if track_solver else None,
        seconds=seconds,
        sampler=sampler,
    )


def label_prior_losses(label_histograms: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """A stand-in loss for Power-of-Choice when nothing is trained: the cross-entropy, on each client's
    labels, of a model that predicts the federation's label distribution. Clients whose labels differ
    most from the global mix have the largest loss, as they do for an early global model."""
    h = np.asarray(label_histograms, dtype=float)
    if h.ndim != 2:
        raise ValueError(f"label_histograms must be (N, C), got shape {h.shape}")
    q = h.sum(axis=0) / max(h.sum(), 1.0)
    logq = np.log(np.clip(q, 1e-12, None))
    rows = h.sum(axis=1, keepdims=True)
    p = np.divide(h, rows, out=np.zeros_like(h), where=rows > 0)
    losses = -(p * logq).sum(axis=1)

    def loss_fn(ids: np.ndarray) -> np.ndarray:
        return losses[np.asarray(ids, dtype=np.int64)]

    return loss_fn


def compare_samplers(names: Sequence[str | Sampler], availability_spec: str, stats,
                     distances: np.ndarray | None, rounds: int, m: int, seed: int = 0, *,
                     alpha: float = 0.1, solver: str = "fast",
                     loss_fn: Callable[[np.ndarray], np.ndarray] | None = None,
                     progress: bool = False) -> dict[str, SimulationResult]:
    """Simulate several samplers on the same availability trace; returns {name: SimulationResult}.

    `names` are entries of SAMPLERS or ready sampler objects (user samplers). `stats` is a ClientStats
    (sizes, label_histograms). One rng (from `seed`) builds the mode and draws the trace once; each
    sampler then selects with its own rng started from the same second seed. Power-of-Choice uses
    `loss_fn`, by default `label_prior_losses(stats.label_histograms)`.
    """
    from fedgs_lite.availability import make_availability

    if not names:
        raise ValueError(f"names must list at least one sampler (from {', '.join(SAMPLERS)})")
    mode_seed, select_seed = np.random.SeedSequence(seed).spawn(2)
    mode_rng = np.random.default_rng(mode_seed)
    availability = make_availability(availability_spec, stats, mode_rng)
    trace = _trace(availability, rounds, mode_rng)
    hist = np.asarray(stats.label_histograms)
    if loss_fn is None:
        loss_fn = label_prior_losses(hist)
    results: dict[str, SimulationResult] = {}
    for entry in names:
        if isinstance(entry, str):
            kw = {"alpha": alpha, "solver": solver} if entry.lower() == "fedgs" else {}
            sampler = make_sampler(entry, sizes=stats.sizes, distances=distances, loss_fn=loss_fn, **kw)
            key = entry
        else:
            sampler, key = entry, str(getattr(entry, "name", type(entry).__name__))
        if key in results:
            raise ValueError(f"sampler {key!r} is listed twice")
        results[key] = simulate_sampling(sampler, trace, rounds, m, np.random.default_rng(select_seed),
                                         label_histograms=hist, distances=distances, progress=progress,
                                         name=key)
    return results


# --------------------------------------------------------------------------- plots

def plot_counts(result: SimulationResult, *, sort: bool = True, show_availability: bool = True, ax=None):
    """Bars of sampling counts per client; beside them (right axis) how often each was available."""
    fig, ax = figure_and_axes(ax, (8, 3.5))
    counts = result.counts
    freq = result.availability_frequency
    order = np.argsort(-freq, kind="stable") if sort else np.arange(counts.size)
    x = np.arange(counts.size)
    width = 0.45 if show_availability else 0.9
    shift = width / 2 if show_availability else 0.0
    ax.bar(x - shift, counts[order], width, color="C0", label="times picked")
    ax.set_ylabel("times picked")
    ax.set_xlabel("client (sorted by availability)" if sort else "client")
    ax.set_title(f"{result.name}: count variance {result.final_variance:.2f}, Jain {result.jain:.3f}")
    if show_availability:
        ax2 = ax.twinx()
        ax2.bar(x + width / 2, freq[order], width, color="C1", alpha=0.6, label="availability")
        ax2.set_ylabel("fraction of rounds available")
        ax2.set_ylim(0, 1.05)
        handles = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
        ax.legend(handles=handles, loc="upper right", fontsize="small")
    if counts.size <= 30:
        ax.set_xticks(x, [str(i) for i in order])
    return fig


def plot_variance(results: Mapping[str, SimulationResult] | Sequence[SimulationResult], *, ax=None):
    """Count variance over rounds for several results (one line per sampler)."""
    fig, ax = figure_and_axes(ax, (8, 3.5))
    items = results.items() if isinstance(results, Mapping) else ((r.name, r) for r in results)
    for label, r in items:
        ax.plot(np.arange(1, r.rounds + 1), r.variance, label=label)
    ax.set_xlabel("round")
    ax.set_ylabel("variance of sampling counts")
    ax.legend(fontsize="small")
    return fig


def plot_selection_heatmap(result: SimulationResult, *, max_rounds: int | None = 200, ax=None):
    """Who was picked: rows = clients, columns = rounds; grey = unavailable, light = available, dark =
    picked (darker when MD picked a client more than once)."""
    from matplotlib.colors import ListedColormap

    fig, ax = figure_and_axes(ax, (9, 4))
    t = result.rounds if max_rounds is None else min(result.rounds, max_rounds)
    img = np.where(result.available[:t], 1, 0) + np.minimum(result.selection[:t], 2)
    cmap = ListedColormap(["#d9d9d9", "#f7fbff", "#4292c6", "#08306b"])
    ax.imshow(img.T, aspect="auto", interpolation="nearest", cmap=cmap, vmin=-0.5, vmax=3.5)
    ax.set_xlabel("round")
    ax.set_ylabel("client")
    ax.set_title(f"{result.name}: grey unavailable, light available, blue picked")
    return fig


# --------------------------------------------------------------------------- CLI

def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--dataset", default="synthetic", help="dataset name (default synthetic)")
    parser.add_argument("--clients", type=int, default=100, help="number of clients N (default 100)")
    parser.add_argument("--partition", default=None,
                        help="partition scheme (default: natural for synthetic, label_skew otherwise)")
    parser.add_argument("--mode", default="LN-0.5", help="availability mode, e.g. IDL, LN-0.5, MDF-1e-4")
    parser.add_argument("--samplers", default=",".join(SAMPLERS),
                        help=f"comma-separated samplers (default {','.join(SAMPLERS)})")
    parser.add_argument("--rounds", type=int, default=500, help="rounds to simulate (default 500)")
    parser.add_argument("--m", type=int, default=10, help="clients per round M (default 10)")
    parser.add_argument("--alpha", type=float, default=0.1, help="FedGS alpha (default 0.1)")
    parser.add_argument("--solver", default="fast", help="FedGS per-round solver: fast, exact, brute")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-root", default=None, help="folder holding the datasets (offline)")
    parser.add_argument("--plot", default=None, metavar="PATH", help="save a comparison figure here")
    return parser


def build_setup(dataset: str, clients: int, scheme: str | None, seed: int, data_root=None):
    """(ClientStats, 3DG distances) for a dataset partitioned among `clients` clients (label 3DG)."""
    from fedgs_lite.availability import ClientStats
    from fedgs_lite.data import load_dataset
    from fedgs_lite.graph import build_3dg, label_features
    from fedgs_lite.partition import partition

    key = dataset.lower().replace("-", "_")
    options = {"num_clients": clients} if key == "synthetic" else {}
    ds = load_dataset(dataset, data_root, download=False, seed=seed, **options)
    scheme = scheme or ("natural" if key == "synthetic" else "label_skew")
    fed = partition(ds, clients, scheme, rng=np.random.default_rng(seed))
    return ClientStats.from_federated(fed), build_3dg(label_features(fed)).distances


def _figure(results: Mapping[str, SimulationResult]):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 3.2 * (1 + len(results))), layout="constrained")
    axes = fig.subplots(1 + len(results), 1)
    plot_variance(results, ax=axes[0])
    for ax, r in zip(axes[1:], results.values(), strict=True):
        plot_counts(r, ax=ax)
    return fig


def main(args: argparse.Namespace) -> int:
    names = [s.strip() for s in str(args.samplers).split(",") if s.strip()]
    unknown = [s for s in names if s.lower() not in SAMPLERS]
    if unknown or not names:
        print(f"error: unknown sampler(s) {unknown or names}; choose from {', '.join(SAMPLERS)}",
              file=sys.stderr)
        return 2
    stats, distances = build_setup(args.dataset, args.clients, args.partition, args.seed, args.data_root)
    results = compare_samplers(names, args.mode, stats, distances, args.rounds, args.m, args.seed,
                               alpha=args.alpha, solver=args.solver)
    print(f"{args.dataset}, {len(stats.sizes)} clients, mode {args.mode}, M={args.m}, "
          f"{args.rounds} rounds, seed {args.seed}")
    header = (f"{'sampler':<10} {'count var':>10} {'Jain':>7} {'label cov':>10} {'pairwise D':>11} "
              f"{'seconds':>8}")
    print(header)
    print("-" * len(header))
    for r in results.values():
        s = r.summary()
        print(f"{s['sampler']:<10} {s['count_variance']:>10.2f} {s['jain']:>7.3f} "
              f"{s['label_coverage']:>10.3f} {s['pairwise_distance']:>11.3f} {s['seconds']:>8.2f}")
    if args.plot:
        _figure(results).savefig(args.plot, dpi=120)
        print(f"figure saved to {args.plot}")
    return 0
