"""Every figure draws the arrays it is given (plots.py takes arrays, returns a Figure)."""

import numpy as np
import pytest
from matplotlib.figure import Figure

from fedgs_lite.availability import make_availability
from fedgs_lite.data import load_dataset
from fedgs_lite.graph import build_3dg, label_3dg, label_features
from fedgs_lite.masks import ClientStats
from fedgs_lite.partitions import partition
from fedgs_lite.plots import (
    plot_3dg,
    plot_availability_heatmap,
    plot_availability_probs,
    plot_counts,
    plot_curves,
    plot_partition,
    plot_selection_heatmap,
    plot_variance,
)

# Four clients, four classes. Sizes chosen so that sqrt(size / 160) is 1/4, 1/2, 3/4, 1.
#   client 0: 10 samples, labels {0}        (min label 0, 1 label)
#   client 1: 40 samples, labels {1, 2}     (min label 1, 2 labels)
#   client 2: 90 samples, labels {0, 1, 2}  (min label 0, 3 labels)
#   client 3: 160 samples, labels {3}       (min label 3, 1 label)
SIZES = np.array([10, 40, 90, 160])
HIST = np.array([
    [10, 0, 0, 0],
    [0, 20, 20, 0],
    [30, 30, 30, 0],
    [0, 0, 0, 160],
])


@pytest.fixture
def stats() -> ClientStats:
    return ClientStats(SIZES, HIST)


def probs_of(spec, stats, t=0, seed=0):
    return make_availability(spec, stats, np.random.default_rng(seed)).probs(t)


# ------------------------------------------------------------------------------------------- rules


def test_plot_heatmap_returns_figure_with_trace_image(stats):
    from matplotlib.figure import Figure

    a = make_availability("MDF-0.5", stats, np.random.default_rng(0))
    tr = a.trace(60, np.random.default_rng(0))
    fig = plot_availability_heatmap(tr)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    img = ax.get_images()[0].get_array()
    assert img.shape == (4, 60)
    np.testing.assert_array_equal(np.asarray(img).astype(bool), tr)
    assert ax.get_xlabel() == "round" and ax.get_ylabel() == "client"

    fig2 = plot_availability_heatmap(tr, sort=True)
    ax2 = fig2.axes[0]
    order = [int(t.get_text()) for t in ax2.get_yticklabels()]
    assert order[0] == 3  # client 3 (p = 1) is the most available, shown first
    np.testing.assert_array_equal(np.asarray(ax2.get_images()[0].get_array()).astype(bool), tr[order])
    assert "sorted" in ax2.get_ylabel()


def test_plot_heatmap_into_existing_axes(stats):
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.add_subplot()
    out = plot_availability_heatmap(np.ones((4, 5), dtype=bool), ax=ax)
    assert out is fig and len(fig.axes) == 1
    with pytest.raises(ValueError, match="2-D"):
        plot_availability_heatmap(np.ones(5, dtype=bool))


def test_plot_probs_bars_match(stats):
    from matplotlib.figure import Figure

    p = probs_of("MDF-0.5", stats)
    fig = plot_availability_probs(p)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    heights = [patch.get_height() for patch in ax.patches]
    np.testing.assert_allclose(heights, p)
    assert ax.get_ylim() == (0.0, 1.05)
    assert ax.get_ylabel() == "P(available)"
    with pytest.raises(ValueError, match="1-D"):
        plot_availability_probs(np.ones((2, 2)))


def test_plot_partition_stacks_one_colour_per_class(rng):
    fed = partition(load_dataset("digits"), 12, "dirichlet", rng=rng)
    fig = plot_partition(fed.label_histograms)
    ax = fig.axes[0]
    assert len(ax.containers) == 10  # one bar container per class
    tops = np.sum([[bar.get_height() for bar in c] for c in ax.containers], axis=0)
    np.testing.assert_allclose(tops, fed.sizes)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [str(c) for c in range(10)]
    fig2 = plot_partition(fed.label_distributions, ylabel="share of samples")
    tops2 = np.sum([[bar.get_height() for bar in c] for c in fig2.axes[0].containers], axis=0)
    np.testing.assert_allclose(tops2, 1.0)
    assert fig2.axes[0].get_ylabel() == "share of samples"


def test_plot_3dg_returns_figure(rng):
    h = np.zeros((100, 10), dtype=np.int64)
    for i in range(100):
        h[i, rng.choice(10, 2, replace=False)] = rng.integers(1, 50, 2)
    g = label_3dg(h)
    fig = plot_3dg(g, label_features(h), selected=[1, 5, 7], seed=0)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert len(ax.collections) == 3  # edges, pies, rings
    wedges = ax.collections[1].get_paths()
    assert len(wedges) == int((h > 0).sum())  # one wedge per label a client holds
    assert isinstance(plot_3dg(build_3dg(np.eye(3))), Figure)
    with pytest.raises(ValueError):
        plot_3dg(g, label_features(h), selected=[100])
    with pytest.raises(ValueError, match="rows"):
        plot_3dg(g, label_features(h)[:5])


def test_count_variance_and_selection_plots_draw_their_arrays():
    counts, avail_frac = np.array([3, 1, 0, 2]), np.array([0.5, 1.0, 0.25, 0.75])
    fig = plot_counts(counts, avail_frac)
    assert isinstance(fig, Figure) and len(fig.axes) == 2  # counts and availability axes
    order = np.argsort(-avail_frac, kind="stable")
    assert [b.get_height() for b in fig.axes[0].patches] == counts[order].tolist()
    assert [b.get_height() for b in fig.axes[1].patches] == avail_frac[order].tolist()
    assert len(plot_counts(counts, sort=False).axes) == 1
    fig = plot_variance({"a": np.array([0.5, 0.25]), "b": np.array([1.0, 0.0])})
    lines = fig.axes[0].get_lines()
    assert len(lines) == 2 and lines[1].get_ydata().tolist() == [1.0, 0.0]
    available = np.array([[1, 1, 0, 0], [1, 1, 1, 1], [0, 1, 1, 1]], dtype=bool)
    selection = np.array([[1, 0, 0, 0], [0, 2, 0, 1], [0, 0, 1, 0]])
    img = plot_selection_heatmap(available, selection).axes[0].images[0].get_array()
    assert img.shape == (4, 3)  # clients x rounds
    assert img[1, 1] == 3 and img[0, 0] == 2 and img[2, 0] == 0 and img[3, 1] == 2
    faded = plot_selection_heatmap(available, selection, upto=0).axes[0].images[0].get_array()
    assert faded[1, 1] == 1 and faded[0, 0] == 2  # after round 0 only availability shows


def test_plot_curves_draws_the_mean_with_a_band_for_several_seeds():
    x = np.arange(4)
    panels = {"IDL": {"uniform": [(x, [0.1, 0.2, 0.3, 0.4]), (x, [0.3, 0.4, 0.5, 0.6])],
                      "fedgs": [(x, [0.5, 0.5, 0.5, 0.5])]},
              "LN": {"uniform": [(x, [0.0, 0.0, 0.0, 0.0])]}}
    fig = plot_curves(panels, ylabel="test accuracy", title="t")
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [0.2, 0.3, 0.4, 0.5])  # the mean over seeds
    assert len(ax.collections) == 1  # one band: only uniform has two seeds
    assert ax.get_title() == "IDL" and fig.axes[1].get_title() == "LN"
    assert fig.get_suptitle() == "t"
