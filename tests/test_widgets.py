"""The ipywidgets wrappers, driven headlessly: set a control, check what is shown changed."""

import numpy as np
import pytest

pytest.importorskip("ipywidgets")

from fedgs_lite import widgets as W  # noqa: E402
from fedgs_lite.availability import register_mode, unregister_mode  # noqa: E402
from fedgs_lite.data import make_synthetic  # noqa: E402
from fedgs_lite.partitions import partition  # noqa: E402


@pytest.fixture(scope="module")
def fed():
    ds = make_synthetic(10, rng=np.random.default_rng(7))
    return partition(ds, 10, "natural", rng=np.random.default_rng(7))


def _png(box) -> bytes:
    outputs = box.output.outputs
    assert len(outputs) == 1
    return outputs[0]["data"]["image/png"]


def test_availability_explorer_layout_and_update(fed):
    box = W.availability_explorer(fed, rounds=12)
    controls = box.children[0].children
    assert [c.description for c in controls] == ["mode", "beta", "rounds", "seed"]
    assert all(W.CONTROL_CLASS in c._dom_classes for c in controls)
    first, png = box.last_result, _png(box)
    assert first.spec == "LN-0.1"

    box.children[0].children[0].value = "LDF"  # the way a browser user changes the mode
    assert box.last_result is not first
    assert box.last_result.spec == "LDF-0.1"
    assert box.last_result.correlations["data size"] < -0.9
    assert _png(box) != png
    assert "LDF-0.1" in box.summary.value

    box.controls["rounds"].value = 30
    assert box.last_result.trace.shape == (10, 30)
    box.controls["beta"].value = 0.5
    assert box.last_result.spec == "LDF-0.5"


def test_availability_explorer_reports_bad_settings_and_keeps_the_figure(fed):
    def half_only(stats, beta, rng):
        if beta > 0.5:
            raise ValueError("beta must be at most 0.5 for HALFONLY")
        return np.full(len(stats.sizes), 1 - beta)

    register_mode("HALFONLY", half_only, default_beta=0.2)
    try:
        box = W.availability_explorer(fed, mode="HALFONLY", beta=0.2, rounds=10)
        good = box.last_result
        assert box.error is None and np.allclose(good.mean_probs, 0.8)
        box.controls["beta"].value = 0.9
        assert "at most 0.5" in box.error and "at most 0.5" in box.summary.value
        assert box.last_result is good
        box.controls["beta"].value = 0.4
        assert box.error is None and np.allclose(box.last_result.mean_probs, 0.6)
    finally:
        unregister_mode("HALFONLY")


def test_graph_explorer_recomputes_on_epsilon_and_features(fed):
    noisy = fed.label_distributions + np.random.default_rng(1).random(fed.label_distributions.shape)
    box = W.graph_explorer(fed, epsilon=0.0, feature_matrix=noisy)
    assert [c.description for c in box.children[0].children] == ["features", "epsilon", "sigma"]
    dense = box.last_result.num_edges
    box.controls["epsilon"].value = 0.6
    assert box.last_result.num_edges < dense
    assert box.last_result.scores["f1"] == 1.0  # label features are the oracle
    box.controls["features"].value = "update"
    assert box.last_result.features == "update"
    assert box.last_result.scores["f1"] < 1.0
    assert f"{box.last_result.num_edges} edges" in box.summary.value


def test_sampler_explorer_round_slider_reuses_the_simulation(fed):
    box = W.sampler_explorer(fed, m=3, mode="IDL", rounds=20)
    names = [c.description for c in box.children[0].children]
    assert names[:7] == ["sampler", "alpha", "M", "mode", "rounds", "round", "seed"]
    last = box.last_result
    assert last.round_idx == 19 and last.counts.sum() == 60

    box.controls["round"].value = 4
    assert box.last_result.result is last.result
    assert box.last_result.round_idx == 4 and box.last_result.counts.sum() == 15

    box.controls["rounds"].value = 10  # the round slider follows the number of rounds
    assert box.controls["round"].max == 9 and box.last_result.round_idx == 9
    assert box.last_result.result.rounds == 10

    gs_var = box.last_result.count_variance
    box.controls["sampler"].value = "uniform"
    assert box.last_result.result.name == "uniform"
    assert box.last_result.count_variance > gs_var


def test_sampler_explorer_exact_checkbox_shows_the_gap(fed):
    pytest.importorskip("highspy")
    box = W.sampler_explorer(fed, m=3, mode="IDL", rounds=5)
    assert box.last_result.solvers is None
    box.controls["exact"].value = True
    assert box.last_result.solvers is not None
    assert box.last_result.solvers.gap >= 0
    assert "gap" in box.summary.value
