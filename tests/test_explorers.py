"""The explorers' compute functions: numbers and figures, no widgets."""

import numpy as np
import pytest

from fedgs_lite import explorers as E
from fedgs_lite.data import make_synthetic
from fedgs_lite.features import update_feature_matrix
from fedgs_lite.graph import label_3dg
from fedgs_lite.partitions import partition
from fedgs_lite.simulate import round_problem
from fedgs_lite.solvers import compare_solvers


@pytest.fixture(scope="module")
def fed():
    ds = make_synthetic(12, rng=np.random.default_rng(3))
    return partition(ds, 12, "natural", rng=np.random.default_rng(3))


def test_availability_spec_takes_beta_only_when_the_mode_has_one():
    assert E.availability_spec("LN", 0.3) == "LN-0.3"
    assert E.availability_spec("ln", None) == "LN-0.1"
    assert E.availability_spec("LN-0.2", 0.9) == "LN-0.2"  # an explicit spec wins over the slider
    assert E.availability_spec("IDL", 0.3) == "IDL"
    with pytest.raises(ValueError, match="LN"):
        E.availability_spec("LN", 1.5)
    with pytest.raises(ValueError, match="unknown availability mode"):
        E.availability_spec("NOPE", 0.1)


def test_ideal_mode_has_everyone_available_and_no_preference(fed):
    v = E.explore_availability("IDL", None, rounds=7, seed=0, fed=fed)
    assert v.spec == "IDL"
    assert v.trace.shape == (12, 7) and v.trace.all()
    assert v.available_per_round.tolist() == [12] * 7
    assert "no preference" in v.favours
    assert not v.time_varying


def test_size_modes_show_the_size_bias_they_are_named_after(fed):
    more = E.explore_availability("MDF", 1.0, rounds=20, fed=fed)
    less = E.explore_availability("LDF", 1.0, rounds=20, fed=fed)
    assert more.correlations["data size"] > 0.9
    assert less.correlations["data size"] < -0.9
    assert "larger data size" in more.favours and "smaller data size" in less.favours
    # the biggest client is the most available under MDF and the least under LDF
    biggest = int(np.argmax(fed.sizes))
    assert more.mean_probs[biggest] == pytest.approx(more.mean_probs.max())
    assert less.mean_probs[biggest] == pytest.approx(less.mean_probs.min())


def test_measured_rates_follow_the_probabilities(fed):
    v = E.explore_availability("HOMO", 0.5, rounds=400, seed=1, fed=fed)
    assert np.allclose(v.mean_probs, 0.5)
    assert abs(v.rates.mean() - 0.5) < 0.05
    assert v.rates.min() > 0.3 and v.rates.max() < 0.7


def test_time_varying_modes_are_flagged(fed):
    assert E.explore_availability("SLN", 0.1, rounds=24, fed=fed).time_varying
    assert not E.explore_availability("LN", 0.1, rounds=24, fed=fed).time_varying


def test_availability_is_a_function_of_the_seed(fed):
    a = E.explore_availability("LN", 0.5, rounds=30, seed=4, fed=fed)
    b = E.explore_availability("LN", 0.5, rounds=30, seed=4, fed=fed)
    c = E.explore_availability("LN", 0.5, rounds=30, seed=5, fed=fed)
    assert np.array_equal(a.trace, b.trace)
    assert not np.array_equal(a.trace, c.trace)
    assert len(a.figure.axes) == 3


def test_availability_rejects_bad_rounds(fed):
    with pytest.raises(ValueError, match="rounds"):
        E.explore_availability("IDL", rounds=0, fed=fed)


def test_label_graph_matches_the_oracle_and_thins_with_epsilon(fed):
    views = {eps: E.explore_graph(eps, 0.01, "label", fed=fed) for eps in (0.0, 0.2, 0.6)}
    for v in views.values():
        assert v.scores == {"precision": 1.0, "recall": 1.0, "f1": 1.0}
        assert set(v.sweep) == set(E.EPSILONS)
    edges = [views[e].num_edges for e in (0.0, 0.2, 0.6)]
    assert edges[0] >= edges[1] >= edges[2] and edges[0] > edges[2]
    n = fed.num_clients
    assert views[0.2].density == pytest.approx(2 * edges[1] / (n * (n - 1)))
    d = views[0.2].graph.distances
    assert np.allclose(np.diag(d), 0) and d.max() == pytest.approx(1.0)


def test_other_features_are_scored_against_the_oracle(fed):
    rng = np.random.default_rng(0)
    noisy = fed.label_distributions + rng.random(fed.label_distributions.shape)
    v = E.explore_graph(0.1, 0.01, "update", fed=fed, feature_matrix=noisy)
    assert v.features == "update"
    assert 0 <= v.scores["precision"] <= 1 and 0 <= v.scores["recall"] <= 1
    assert v.scores != {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    with pytest.raises(ValueError, match="features"):
        E.explore_graph(features="logits", fed=fed)


def test_update_features_come_from_one_round_of_training(fed):
    x = update_feature_matrix(fed, seed=0, epochs=1)
    assert x.shape[0] == fed.num_clients and x.shape[1] > fed.dataset.num_classes
    assert np.all(np.isfinite(x)) and np.abs(x).sum() > 0


def test_fedgs_balances_sampling_counts_better_than_uniform(fed):
    uni = E.explore_sampler("uniform", m=3, mode="IDL", rounds=40, seed=0, fed=fed)
    gs = E.explore_sampler("fedgs", alpha=0.1, m=3, mode="IDL", rounds=40, seed=0, fed=fed)
    assert gs.count_variance < uni.count_variance
    for v in (uni, gs):
        assert v.counts.sum() == 3 * 40
        assert v.round_idx == 39


def test_sampler_view_at_a_round_reuses_the_simulation(fed):
    full = E.explore_sampler("uniform", m=4, mode="HOMO-0.5", rounds=20, seed=2, fed=fed)
    early = E.explore_sampler("uniform", m=4, mode="HOMO-0.5", rounds=20, round_idx=5, seed=2, fed=fed,
                              result=full.result)
    assert early.result is full.result
    assert early.counts.sum() == sum(len(s) for s in full.result.selected[:6])
    assert set(early.selected_now) <= set(early.available_now)
    assert early.spec == "HOMO-0.5"
    with pytest.raises(ValueError, match="round_idx"):
        E.explore_sampler("uniform", rounds=20, round_idx=20, fed=fed, result=full.result)
    with pytest.raises(ValueError, match="sampler"):
        E.simulate_sampler("random", fed=fed)


def test_every_sampler_runs_under_the_same_trace(fed):
    runs = {s: E.simulate_sampler(s, m=3, mode="LN-0.5", rounds=15, seed=1, fed=fed)
            for s in ("uniform", "md", "poc", "fedgs")}
    traces = [r.available for r in runs.values()]
    assert all(np.array_equal(traces[0], t) for t in traces[1:])
    assert runs["md"].counts.sum() == 3 * 15  # with replacement: always m draws


def test_fast_solver_against_brute_force_and_round_problem(fed):
    run = E.simulate_sampler("fedgs", m=4, mode="IDL", rounds=6, seed=0, fed=fed)
    d = label_3dg(fed).distances
    ids, d_sub, u, m = round_problem(run, d, 5)
    assert ids.size == 12 and d_sub.shape == (12, 12) and u.shape == (12,) and m == 4
    cmp = compare_solvers(d_sub, u, 0.5, m, exact_method="brute")
    assert cmp.exact.status == "optimal"
    assert cmp.exact.objective >= cmp.fast.objective - 1e-12
    assert cmp.gap >= 0


def test_exact_comparison_in_the_sampler_view(fed):
    pytest.importorskip("highspy")
    v = E.explore_sampler("fedgs", m=4, mode="IDL", rounds=5, seed=0, fed=fed, exact=True)
    assert v.solvers is not None and v.solvers.exact.status == "optimal"
    assert v.solvers.gap >= 0
    assert E.explore_sampler("uniform", m=4, mode="IDL", rounds=5, fed=fed, exact=True).solvers is None
