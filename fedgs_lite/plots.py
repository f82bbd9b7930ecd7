"""Every figure of the kit: plain arrays in, a matplotlib Figure out (no pyplot, nothing shown).

Each function draws into `ax` when given, else into a new Figure. Nothing here imports the rest of
fedgs_lite: callers turn their results into arrays (or, for `plot_3dg`, pass the Graph3DG itself).
`plot_curves` is the one line plot with a mean +- std band over seeds; the run comparison
(`report.plot_learning_curves`) and the grid's figures (`summary`) are built on it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

# grey unavailable, light available, blue picked, dark blue picked twice (MD)
SELECTION_COLOURS = ["#d9d9d9", "#f7fbff", "#4292c6", "#08306b"]


def figure_and_axes(ax: Any, figsize: tuple[float, float],
                    layout: str | None = "constrained") -> tuple[Any, Any]:
    """(figure, ax) for `ax`, or a new Figure (no pyplot, nothing shown) with one Axes when ax is None."""
    if ax is not None:
        return ax.figure, ax
    fig = new_figure(*figsize, layout=layout)
    return fig, fig.add_subplot()


def new_figure(width: float, height: float, layout: str | None = "constrained"):
    """An empty Figure of that size (inches), outside pyplot."""
    from matplotlib.figure import Figure  # lazy: keeps importing the package light

    return Figure(figsize=(width, height), layout=layout)


def panel_grid(n: int, cols: int = 4, size: tuple[float, float] = (3.6, 2.9)):
    """(figure, axes) with n panels in rows of at most `cols`; unused panels are hidden."""
    cols = max(1, min(cols, n))
    rows = math.ceil(n / cols)
    fig = new_figure(size[0] * cols, size[1] * rows)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes


def plot_partition(counts: np.ndarray, *, ylabel: str = "samples", title: str | None = None, ax=None):
    """Stacked bars: one bar per client, one colour per class. `counts` is (N, C): label histograms, or
    label distributions (then say ylabel="share of samples")."""
    import matplotlib as mpl

    values = np.asarray(counts, dtype=float)
    n, c = values.shape
    fig, ax = figure_and_axes(ax, (max(6.0, min(16.0, 0.18 * n + 3)), 3.6))
    cmap = mpl.colormaps["tab10" if c <= 10 else "tab20"]
    x = np.arange(n)
    bottom = np.zeros(n)
    for label in range(c):
        ax.bar(x, values[:, label], bottom=bottom, width=0.85, color=cmap(label % cmap.N),
               label=str(label), linewidth=0)
        bottom += values[:, label]
    ax.set_xlabel("client")
    ax.set_ylabel(ylabel)
    ax.set_title(title if title is not None else f"{n} clients, {c} classes")
    ax.set_xlim(-0.6, n - 0.4)
    ax.legend(title="class", fontsize="small", ncols=1 if c <= 10 else 2, loc="upper left",
              bbox_to_anchor=(1.0, 1.0), frameon=False)
    return fig


def _bool_matrix(trace: Any) -> np.ndarray:
    trace = np.asarray(trace)
    if trace.ndim != 2:
        raise ValueError(f"trace must be a 2-D (clients, rounds) array, got shape {trace.shape}")
    if trace.dtype != bool and not np.isin(trace, (0, 1)).all():
        raise ValueError("trace must be boolean (or 0/1)")
    return trace.astype(bool)


def plot_availability_heatmap(trace: np.ndarray, ax: Any = None, *, sort: bool = False,
                              title: str | None = None) -> Any:
    """Clients x rounds heatmap of a bool (N, T) trace (dark = available). Returns the Figure.

    ``sort=True`` orders clients by mean availability (most available on top); y tick labels then
    show the original client ids.
    """
    from matplotlib.colors import ListedColormap

    trace = _bool_matrix(trace)
    n, t = trace.shape
    fig, ax = figure_and_axes(ax, (8.0, float(np.clip(1.5 + 0.15 * n, 2.5, 8.0))))
    order = np.argsort(-trace.mean(axis=1), kind="stable") if sort else np.arange(n)
    ax.imshow(trace[order].astype(np.uint8), aspect="auto", interpolation="nearest",
              cmap=ListedColormap(["#f2f2f2", "#1f4e79"]), vmin=0, vmax=1,
              extent=(-0.5, t - 0.5, n - 0.5, -0.5))
    ax.set_xlabel("round")
    ax.set_ylabel("client (sorted by mean availability)" if sort else "client")
    if n <= 40:
        ax.set_yticks(np.arange(n))
        ax.set_yticklabels([str(i) for i in order], fontsize=8 if n > 20 else 10)
    mean = trace.mean() if trace.size else float("nan")
    ax.set_title(title if title is not None else f"availability (dark = available), mean {mean:.2f}")
    return fig


def plot_availability_probs(probs: np.ndarray, ax: Any = None, *, title: str | None = None) -> Any:
    """Bar chart of per-client availability probabilities (N,), with their mean. Returns the Figure."""
    probs = np.asarray(probs, dtype=float)
    if probs.ndim != 1 or probs.size == 0:
        raise ValueError(f"probs must be a non-empty 1-D array, got shape {probs.shape}")
    n = probs.size
    fig, ax = figure_and_axes(ax, (float(np.clip(2.0 + 0.2 * n, 5.0, 10.0)), 3.0))
    ax.bar(np.arange(n), probs, color="#1f4e79", width=0.8)
    ax.axhline(probs.mean(), color="#c0504d", linestyle="--", linewidth=1, label=f"mean {probs.mean():.2f}")
    ax.set_xlim(-0.6, n - 0.4)
    ax.set_ylim(0.0, 1.05)
    ax.set_xlabel("client")
    ax.set_ylabel("P(available)")
    if n <= 40:
        ax.set_xticks(np.arange(n))
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(title if title is not None else "per-client availability probability")
    return fig


def _node_patches(xy: np.ndarray, radius: float, label_distributions) -> tuple[list, list]:
    """One small pie per node (its label shares), or plain circles without label distributions."""
    from matplotlib import colormaps
    from matplotlib.patches import Circle, Wedge

    if label_distributions is None:
        return [Circle(tuple(p), radius) for p in xy], ["tab:blue"] * len(xy)
    dist = np.asarray(label_distributions, dtype=float)
    if dist.shape[0] != len(xy):
        raise ValueError(f"label_distributions has {dist.shape[0]} rows but the graph has {len(xy)} nodes")
    cmap = colormaps["tab10" if dist.shape[1] <= 10 else "tab20"]
    patches, colours = [], []
    for i, p in enumerate(xy):
        start = 90.0
        for c in np.flatnonzero(dist[i] > 0):
            sweep = 360.0 * dist[i, c]
            patches.append(Wedge(tuple(p), radius, start, start + sweep))
            colours.append(cmap(c % cmap.N))
            start += sweep
        if not dist[i].any():
            patches.append(Circle(tuple(p), radius))
            colours.append("white")
    return patches, colours


def plot_3dg(g, label_distributions=None, selected=None, ax=None, seed: int = 0):
    """Draw a Graph3DG: nodes as small pies of their label distribution (rows summing to 1, e.g.
    `fed.label_distributions`), grey edges, selected clients ringed. Spring layout (seeded, edge
    weight = similarity); patches are drawn as collections, so N = 100 stays fast."""
    import networkx as nx
    from matplotlib.collections import LineCollection, PatchCollection
    from matplotlib.patches import Circle

    n = g.num_clients
    fig, ax = figure_and_axes(ax, (6, 6), layout=None)
    pos = nx.spring_layout(g.graph, weight="similarity", seed=seed) if n > 1 else {0: np.zeros(2)}
    xy = np.array([pos[i] for i in range(n)], dtype=float).reshape(n, 2)
    span = float(np.ptp(xy, axis=0).max()) if n > 1 else 1.0
    radius = (span if span > 0 else 1.0) * float(np.clip(0.25 / np.sqrt(n), 0.008, 0.06))
    if g.graph.number_of_edges():
        segs = np.array([(xy[a], xy[b]) for a, b in g.graph.edges()])
        ax.add_collection(LineCollection(segs, colors="lightgrey", linewidths=0.5, alpha=0.6, zorder=1))
    patches, colours = _node_patches(xy, radius, label_distributions)
    ax.add_collection(PatchCollection(patches, facecolors=colours, edgecolors="dimgrey", linewidths=0.3,
                                      zorder=2))
    if selected is not None:
        sel = np.unique(np.asarray(selected, dtype=np.int64).ravel())
        if sel.size and (sel.min() < 0 or sel.max() >= n):
            raise ValueError(f"selected ids must be in 0..{n - 1}")
        rings = [Circle(tuple(xy[i]), radius * 1.35) for i in sel]
        ax.add_collection(PatchCollection(rings, facecolors="none", edgecolors="crimson", linewidths=2.5,
                                          zorder=3))
    pad = 2 * radius
    ax.set_xlim(xy[:, 0].min() - pad, xy[:, 0].max() + pad)
    ax.set_ylim(xy[:, 1].min() - pad, xy[:, 1].max() + pad)
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.set_title(f"3DG: {n} clients, {g.graph.number_of_edges()} edges (epsilon={g.epsilon:g})")
    return fig


def plot_counts(counts: np.ndarray, available_fraction: np.ndarray | None = None, *, sort: bool = True,
                title: str | None = None, ax=None):
    """Bars of how often each client was picked; beside them (right axis) the fraction of rounds it
    was available. With `sort`, clients are ordered by availability (or by count without it)."""
    fig, ax = figure_and_axes(ax, (8, 3.5))
    counts = np.asarray(counts)
    key = counts if available_fraction is None else np.asarray(available_fraction)
    order = np.argsort(-key, kind="stable") if sort else np.arange(counts.size)
    x = np.arange(counts.size)
    width = 0.9 if available_fraction is None else 0.45
    shift = 0.0 if available_fraction is None else width / 2
    ax.bar(x - shift, counts[order], width, color="C0", label="times picked")
    ax.set_ylabel("times picked")
    ax.set_xlabel(f"client (sorted by {'count' if available_fraction is None else 'availability'})"
                  if sort else "client")
    ax.set_title(title if title is not None else f"count variance {np.var(counts):.2f}")
    if available_fraction is not None:
        ax2 = ax.twinx()
        ax2.bar(x + width / 2, key[order], width, color="C1", alpha=0.6, label="availability")
        ax2.set_ylabel("fraction of rounds available")
        ax2.set_ylim(0, 1.05)
        handles = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
        ax.legend(handles=handles, loc="upper right", fontsize="small")
    if counts.size <= 30:
        ax.set_xticks(x, [str(i) for i in order])
    return fig


def plot_variance(curves: Mapping[str, np.ndarray], *, ax=None):
    """Variance of the cumulative selection counts over rounds, one line per sampler ({name: (T,)})."""
    fig, ax = figure_and_axes(ax, (8, 3.5))
    for label, v in curves.items():
        ax.plot(np.arange(1, len(v) + 1), v, label=label)
    ax.set_xlabel("round")
    ax.set_ylabel("variance of sampling counts")
    ax.legend(fontsize="small")
    return fig


def plot_selection_heatmap(available: np.ndarray, selection: np.ndarray, *, upto: int | None = None,
                           max_rounds: int | None = 200, title: str | None = None, ax=None):
    """Who was picked: rows = clients, columns = rounds (inputs are (T, N)); grey = unavailable, light =
    available, blue = picked (darker when MD picked a client twice). With `upto`, later rounds show
    availability only and a red line marks round `upto`."""
    from matplotlib.colors import ListedColormap

    fig, ax = figure_and_axes(ax, (9, 4))
    available, selection = np.asarray(available), np.asarray(selection)
    t = len(available) if max_rounds is None else min(len(available), max_rounds)
    img = np.where(available[:t], 1, 0) + np.minimum(selection[:t], 2)
    if upto is not None:
        img[upto + 1:] = np.where(available[upto + 1:t], 1, 0)
        ax.axvline(upto, color="tab:red", lw=1)
    ax.imshow(img.T, aspect="auto", interpolation="nearest", cmap=ListedColormap(SELECTION_COLOURS),
              vmin=-0.5, vmax=3.5)
    ax.set_xlabel("round")
    ax.set_ylabel("client")
    ax.set_title(title if title is not None else "grey unavailable, light available, blue picked")
    return fig


Curve = tuple[Sequence[float], Sequence[float]]  # (x, y) of one seed


def _draw_mean_band(ax, runs: Sequence[Curve], label: str, marker: str | None = None) -> None:
    n = min(len(y) for _, y in runs)
    ys = np.array([np.asarray(y, dtype=np.float64)[:n] for _, y in runs])
    x = np.asarray(runs[0][0])[:n]
    mu = np.nanmean(ys, axis=0)
    (line,) = ax.plot(x, mu, label=label, lw=1.3, marker=marker, ls="--" if marker else "-")
    if len(runs) > 1:
        sd = np.nanstd(ys, axis=0)
        ax.fill_between(x, mu - sd, mu + sd, color=line.get_color(), alpha=0.15, lw=0)


def plot_curves(panels: Mapping[str, Mapping[str, Sequence[Curve]]], *, ylabel: str | Mapping[str, str],
                xlabel: str = "round", title: str | None = None, cols: int = 4,
                xticks: Mapping[float, str] | None = None, marker: str | None = None):
    """One panel per key of `panels`, one line per label: {panel: {label: [(x, y), ...]}}. A label with
    several (x, y) runs (seeds) is drawn as their mean with a +- 1 std band (cut to the shortest).
    xticks: {x: tick label}; marker: draw points (e.g. "o") on dashed lines, for few x values."""
    fig, axes = panel_grid(len(panels), cols=cols, size=(5.5, 4.0) if len(panels) <= 2 else (3.6, 2.9))
    for ax, (name, lines) in zip(axes, panels.items(), strict=False):
        for label, runs in lines.items():
            _draw_mean_band(ax, runs, label, marker)
        if xticks is not None:
            ax.set_xticks(list(xticks), list(xticks.values()), fontsize="small")
        ax.set(title=name, xlabel=xlabel, ylabel=ylabel if isinstance(ylabel, str) else ylabel[name])
        ax.grid(alpha=0.3)
        if len(panels) <= 2 or ax is axes[0]:
            ax.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    return fig
