"""Pure compute behind the notebooks' interactive explorers.

Each explorer is a function of plain parameters returning a small frozen dataclass with the numbers
and a matplotlib Figure (composed from pieces in plots.py); `widgets.py` wraps them in ipywidgets.
Keeping the computation here lets the tests check it without a browser or a kernel. Defaults are
cheap (well under a second each).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from fedgs_lite.availability import canonical_spec, describe_mode, make_availability, parse_mode
from fedgs_lite.graph import build_3dg, edge_scores, label_3dg, label_features
from fedgs_lite.masks import ClientStats
from fedgs_lite.metrics import count_variance, jain_index
from fedgs_lite.partitions import federate
from fedgs_lite.plots import new_figure, plot_3dg, plot_selection_heatmap
from fedgs_lite.samplers import SAMPLERS
from fedgs_lite.simulate import compare_samplers, round_problem
from fedgs_lite.solvers import SolverComparison, compare_solvers

EPSILONS = (0.0, 0.01, 0.05, 0.1, 0.2, 0.5)  # the authors' sweep in 3DG_builder.py
FEATURES = ("label", "update")


@lru_cache(maxsize=8)
def demo_federation(num_clients: int = 30, seed: int = 0):
    """The explorers' default data: FedProx Synthetic(0.5, 0.5) with its natural clients (cached).

    Its clients differ in size and in the labels they hold, so every availability mode shows a pattern.
    """
    return federate("synthetic", num_clients, seed=seed)


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Rank correlation; 0 when either side is constant (no preference to report)."""
    from scipy.stats import spearmanr

    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(spearmanr(a, b).statistic)


def client_traits(label_histograms: np.ndarray, sizes: np.ndarray) -> dict[str, np.ndarray]:
    """Per-client traits availability modes can depend on."""
    h = np.asarray(label_histograms)
    present = h > 0
    smallest = np.where(present.any(axis=1), present.argmax(axis=1), 0)
    return {"data size": np.asarray(sizes, dtype=float),
            "number of labels": present.sum(axis=1).astype(float),
            "smallest label": smallest.astype(float)}


# ----------------------------------------------------------------------------- availability

@dataclass(frozen=True, eq=False)
class AvailabilityView:
    """One availability mode simulated for a few rounds."""

    spec: str
    probs: np.ndarray          # (N, rounds) availability probability per client and round
    trace: np.ndarray          # (N, rounds) bool, drawn availability
    mean_probs: np.ndarray     # (N,) probability averaged over the rounds
    rates: np.ndarray          # (N,) measured fraction of rounds each client was available
    available_per_round: np.ndarray  # (rounds,) number of available clients
    correlations: dict[str, float]   # Spearman correlation of mean_probs with each client trait
    time_varying: bool
    favours: str               # one line: what the mode favours, from the numbers
    description: str           # the mode's documented rule (availability.describe_mode)
    figure: Any = field(repr=False)


def availability_spec(mode: str, beta: float | None = None) -> str:
    """`("LN", 0.3)` -> `"LN-0.3"`. A spec that already carries a beta (`"LN-0.1"`) and a mode that
    takes none (`"IDL"`) ignore `beta`, so one explorer slider serves every mode."""
    key, default_beta = parse_mode(mode)
    if "-" in mode.strip() or default_beta is None or beta is None:
        return canonical_spec(key, default_beta)
    spec = canonical_spec(key, float(beta))
    parse_mode(spec)  # range check with the mode's own message
    return spec


def _favours(mean_probs: np.ndarray, corr: dict[str, float], time_varying: bool) -> str:
    if np.ptp(mean_probs) < 1e-9 and not time_varying:
        return f"no preference: every client has p = {mean_probs[0]:.2f}"
    name, value = max(corr.items(), key=lambda kv: abs(kv[1]))
    if abs(value) < 0.3:
        text = "no client trait it clearly prefers"
    else:
        text = f"clients with {'larger' if value > 0 else 'smaller'} {name} (Spearman {value:+.2f})"
    return text + ("; probabilities change over rounds" if time_varying else "")


def explore_availability(mode: str = "LN", beta: float | None = 0.1, rounds: int = 48, seed: int = 0,
                         *, fed=None) -> AvailabilityView:
    """Simulate availability mode `mode` (with `beta`, when the mode takes one) for `rounds` rounds.

    `fed` defaults to `demo_federation()`. Clients are drawn sorted by data size so that size-driven
    modes (MDF, LDF) show as a gradient.
    """
    if int(rounds) != rounds or rounds < 1:
        raise ValueError(f"rounds must be a positive integer, got {rounds!r}")
    rounds = int(rounds)
    fed = demo_federation() if fed is None else fed
    spec = availability_spec(mode, beta)
    stats = ClientStats.from_federated(fed)
    mode_rng, draw_rng = np.random.default_rng(seed).spawn(2)
    avail = make_availability(spec, stats, mode_rng)
    probs = np.stack([np.asarray(avail.probs(t), dtype=float) for t in range(rounds)], axis=1)
    trace = np.asarray(avail.trace(rounds, draw_rng), dtype=bool)
    mean_probs = probs.mean(axis=1)
    traits = client_traits(stats.label_histograms, stats.sizes)
    corr = {k: _spearman(mean_probs, v) for k, v in traits.items()}
    time_varying = bool(np.ptp(probs, axis=1).max() > 1e-9)
    view = dict(spec=avail.spec, probs=probs, trace=trace, mean_probs=mean_probs, rates=trace.mean(axis=1),
                available_per_round=trace.sum(axis=0), correlations=corr, time_varying=time_varying,
                favours=_favours(mean_probs, corr, time_varying), description=describe_mode(avail.spec))
    return AvailabilityView(figure=_availability_figure(view, traits), **view)


def _availability_figure(v: dict, traits: dict[str, np.ndarray]):
    fig = new_figure(13, 3.8)
    ax_heat, ax_p, ax_t = fig.subplots(1, 3, width_ratios=[1.4, 1, 1])
    order = np.argsort(traits["data size"], kind="stable")
    n, rounds = v["trace"].shape
    ax_heat.imshow(v["trace"][order], aspect="auto", interpolation="nearest", cmap="Greens", vmin=0, vmax=1)
    ax_heat.set(title=f"{v['spec']}: who is available", xlabel="round",
                ylabel="client (sorted by data size)", yticks=[])
    labels = traits["number of labels"][order]
    bars = ax_p.bar(np.arange(n), v["mean_probs"][order], color="tab:green", alpha=0.8)
    ax_p.scatter(np.arange(n), v["rates"][order], color="black", s=10, label="measured rate", zorder=3)
    for b, k in zip(bars, labels, strict=True):
        b.set_alpha(0.35 + 0.65 * k / max(labels.max(), 1))  # darker: more labels
    ax_p.set(title="availability probability", xlabel="client (sorted by data size)", ylim=(0, 1.05),
             xticks=[])
    ax_p.legend(loc="lower right", fontsize="small")
    ax_t.plot(np.arange(rounds), v["available_per_round"], color="tab:green")
    ax_t.plot(np.arange(rounds), v["probs"].sum(axis=0), color="black", lw=1, ls="--", label="expected")
    ax_t.set(title="available clients per round", xlabel="round", ylim=(0, n + 0.5))
    ax_t.legend(loc="lower right", fontsize="small")
    fig.suptitle(v["favours"], fontsize="medium")
    return fig


# ----------------------------------------------------------------------------- the 3DG


@dataclass(frozen=True, eq=False)
class GraphView:
    """A 3DG built from one kind of client feature, scored against the label oracle."""

    graph: Any                   # Graph3DG
    features: str
    num_edges: int
    density: float
    scores: dict[str, float]     # precision, recall, f1 against the oracle graph at the same epsilon
    sweep: dict[float, dict[str, float]]  # the same scores over EPSILONS
    figure: Any = field(repr=False)


def explore_graph(epsilon: float = 0.01, sigma: float = 0.1, features: str = "label", *, fed=None,
                  feature_matrix: np.ndarray | None = None, seed: int = 0) -> GraphView:
    """Build the 3DG from `features` ("label": the oracle label distributions; "update": round-0
    model updates, or pass `feature_matrix` directly) and compare its edges with the oracle graph."""
    if features not in FEATURES:
        raise ValueError(f"unknown features {features!r}; choose one of {', '.join(FEATURES)}")
    fed = demo_federation() if fed is None else fed
    oracle_x = label_features(fed)
    if feature_matrix is not None:
        x = np.asarray(feature_matrix, dtype=float)
    elif features == "label":
        x = oracle_x
    else:
        from fedgs_lite.features import cached_update_features  # the training stack (torch), only here

        x = cached_update_features(fed, seed, 1)
    g = build_3dg(x, epsilon=epsilon, sigma=sigma)
    sweep = {}
    for eps in EPSILONS:
        # Graph3DG objects, not their nx graphs: edge_scores unwraps `.graph` (an nx.Graph's is a dict)
        sweep[eps] = edge_scores(build_3dg(x, eps, sigma), build_3dg(oracle_x, eps, sigma))
    scores = edge_scores(g, build_3dg(oracle_x, epsilon, sigma))
    n = g.graph.number_of_nodes()
    num_edges = g.graph.number_of_edges()
    density = 2 * num_edges / (n * (n - 1)) if n > 1 else 0.0
    fig = _graph_figure(g, fed.label_distributions, sweep, epsilon, features, seed)
    return GraphView(graph=g, features=features, num_edges=num_edges, density=density,
                     scores={k: float(v) for k, v in scores.items()}, sweep=sweep, figure=fig)


def _graph_figure(g, label_distributions, sweep, epsilon, features, seed):
    fig = new_figure(14, 4.6)
    ax_g, ax_d, ax_s = fig.subplots(1, 3, width_ratios=[1.3, 1, 1])
    plot_3dg(g, label_distributions=label_distributions, ax=ax_g, seed=seed)
    ax_g.set_title(f"3DG from {features} features: {g.graph.number_of_edges()} edges")
    im = ax_d.imshow(g.distances, cmap="viridis", vmin=0, vmax=1)
    fig.colorbar(im, ax=ax_d, shrink=0.8)
    ax_d.set(title=f"distances D (sigma={g.sigma:g})", xlabel="client", ylabel="client")
    eps = list(sweep)
    for metric, style in (("precision", "o-"), ("recall", "s-"), ("f1", "^--")):
        ax_s.plot(eps, [sweep[e][metric] for e in eps], style, label=metric)
    ax_s.axvline(epsilon, color="grey", lw=1)
    ax_s.set_xscale("symlog", linthresh=0.01)  # the sweep spans 0 and 0.01..0.5
    ax_s.set(title="edges vs the label oracle", xlabel="epsilon", ylim=(-0.05, 1.05),
             xlim=(0, 1.2 * max(max(eps), epsilon)))
    ax_s.legend(fontsize="small")
    return fig


# ----------------------------------------------------------------------------- samplers


@dataclass(frozen=True, eq=False)
class SamplerView:
    """A sampling-only simulation (simulate.SimulationResult) seen at one round."""

    result: Any                # simulate.SimulationResult over all rounds
    graph: Any                 # the Graph3DG FedGS used
    spec: str
    round_idx: int
    counts: np.ndarray         # (N,) times each client was picked up to and including round_idx
    count_variance: float      # of `counts`
    jain: float
    selected_now: np.ndarray   # ids picked in round_idx
    available_now: np.ndarray  # ids available in round_idx
    figure: Any = field(repr=False)
    solvers: SolverComparison | None = None  # fast vs exact on this round's FedGS problem, when asked


def simulate_sampler(sampler: str = "fedgs", alpha: float = 0.1, m: int = 5, mode: str = "LN-0.1",
                     rounds: int = 60, seed: int = 0, *, fed=None, graph=None, solver: str = "fast"):
    """Run one sampler for `rounds` rounds under availability `mode`, no training.

    Thin wrapper over `simulate.compare_samplers`: every sampler sees the same availability trace for a
    given seed, so switching samplers in the explorer compares like with like. Power-of-Choice ranks
    clients by `simulate.label_prior_losses` (no model is trained here).
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")
    fed = demo_federation() if fed is None else fed
    graph = label_3dg(fed) if graph is None else graph
    stats = ClientStats.from_federated(fed)
    return compare_samplers([sampler], mode, stats, graph.distances, rounds, m, seed, alpha=alpha,
                            solver=solver)[sampler]


def explore_sampler(sampler: str = "fedgs", alpha: float = 0.1, m: int = 5, mode: str = "LN-0.1",
                    rounds: int = 60, round_idx: int | None = None, seed: int = 0, *, fed=None, graph=None,
                    result=None, exact: bool = False) -> SamplerView:
    """Simulate (or reuse `result`, a SimulationResult of these settings) and look at `round_idx`
    (default: the last round): who is picked, the counts so far and their variance, the 3DG.

    With `exact=True` and sampler "fedgs", that round's selection problem is also solved exactly
    (`compare_solvers`) to show the fast solver's optimality gap.
    """
    fed = demo_federation() if fed is None else fed
    graph = label_3dg(fed) if graph is None else graph
    if result is None:
        result = simulate_sampler(sampler, alpha, m, mode, rounds, seed, fed=fed, graph=graph)
    t = result.rounds - 1 if round_idx is None else int(round_idx)
    if not 0 <= t < result.rounds:
        raise ValueError(f"round_idx must be in 0..{result.rounds - 1}, got {round_idx}")
    counts = result.selection[: t + 1].sum(axis=0)
    spec = canonical_spec(*parse_mode(mode))
    solvers = None
    if exact and sampler == "fedgs":
        ids, d_sub, u, m_t = round_problem(result, graph.distances, t)
        if m_t < ids.size:  # otherwise there is nothing to choose
            solvers = compare_solvers(d_sub, u, alpha, m_t, seed=seed)
    fig = _sampler_figure(result, graph, fed.label_distributions, spec, t, counts, seed)
    return SamplerView(result=result, graph=graph, spec=spec, round_idx=t, counts=counts,
                       count_variance=float(count_variance(counts)), jain=float(jain_index(counts)),
                       selected_now=result.selected[t], available_now=np.flatnonzero(result.available[t]),
                       figure=fig, solvers=solvers)


def _sampler_figure(result, graph, label_distributions, spec: str, t: int, counts: np.ndarray, seed: int):
    fig = new_figure(14, 4.4)
    ax_h, ax_c, ax_g = fig.subplots(1, 3, width_ratios=[1.3, 1, 1.1])
    n = result.num_clients
    plot_selection_heatmap(result.available, result.selection, upto=t, max_rounds=None, ax=ax_h,
                           title=f"{result.name} under {spec}: blue = picked")
    ax_c.bar(np.arange(n), counts, color="tab:blue")
    ax_c.axhline(counts.mean(), color="black", lw=1, ls="--")
    ax_c.set(title=f"times picked in rounds 0..{t}: variance {np.var(counts):.2f}", xlabel="client")
    plot_3dg(graph, label_distributions=label_distributions, selected=result.selected[t], ax=ax_g, seed=seed)
    ax_g.set_title(f"round {t}: picked clients (ringed) on the 3DG")
    return fig
