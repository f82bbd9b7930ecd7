"""Availability masks: client statistics, Bernoulli draws with the redraw rule, traces, summaries."""

import math

import numpy as np
import pytest

from fedgs_lite.availability import (
    make_availability,
)
from fedgs_lite.masks import Availability, ClientStats, Static, availability_summary

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


def test_client_stats_from_federated_duck_typed():
    class Fed:
        sizes = SIZES
        label_histograms = HIST

    s = ClientStats.from_federated(Fed())
    assert s.num_clients == 4 and s.num_classes == 4


def test_client_stats_validation():
    with pytest.raises(ValueError, match="shape"):
        ClientStats(np.array([1, 2]), np.ones((3, 2)))
    with pytest.raises(ValueError, match="non-negative"):
        ClientStats(np.array([1, -2]), np.ones((2, 2)))


def test_empirical_frequency_matches_p(stats):
    # MDF-0.5 gives p = (1/4, 1/2, 3/4, 1): client 3 is always available, so the redraw rule never
    # triggers and each client's frequency estimates p_i. Tolerance: 5 standard errors
    # sqrt(p (1 - p) / rounds) (plus a tiny floor for p in {0, 1}).
    a = make_availability("MDF-0.5", stats, np.random.default_rng(0))
    rounds = 20_000
    tr = a.trace(rounds, np.random.default_rng(42))
    p = a.probs(0)
    freq = tr.mean(axis=1)
    se = np.sqrt(p * (1 - p) / rounds)
    assert np.all(np.abs(freq - p) <= 5 * se + 1e-12), (freq, p)


def test_redraw_rule_conditions_on_nonempty():
    # Two clients with p = 1/2: conditioned on "somebody available", each of the three non-empty
    # masks has probability 1/3. Checked within 5 standard errors.
    two = ClientStats(np.array([1, 1]), np.ones((2, 1)))
    a = make_availability("HOMO-0.5", two, np.random.default_rng(0))
    rounds = 15_000
    tr = a.trace(rounds, np.random.default_rng(5))
    assert tr.any(axis=0).all()
    both = (tr.all(axis=0)).mean()
    se = math.sqrt((1 / 3) * (2 / 3) / rounds)
    assert abs(both - 1 / 3) <= 5 * se


def test_tiny_p_never_returns_empty_mask():
    three = ClientStats(np.array([1, 1, 1]), np.ones((3, 1)))
    a = make_availability("HOMO-0.995", three, np.random.default_rng(0))  # p = 0.005 each
    rng = np.random.default_rng(0)
    for t in range(50):
        assert a.draw(t, rng).any()
    tr = a.trace(300, np.random.default_rng(1))
    assert tr.any(axis=0).all()
    # with p this small a second client is rarely available: mostly exactly one per round
    assert (tr.sum(axis=0) == 1).mean() > 0.9


def test_all_zero_probabilities_raise_instead_of_looping(stats):
    a = Availability("ZERO", "ZERO", None, stats.num_clients, Static(np.zeros(stats.num_clients)))
    np.testing.assert_array_equal(a.probs(0), 0)
    with pytest.raises(ValueError, match="never end"):
        a.draw(0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="never end"):
        a.trace(10, np.random.default_rng(0))


def test_same_seed_same_trace_different_seed_different(stats):
    for spec in ("HOMO-0.5", "SLN-0.5", "YC"):
        a = make_availability(spec, stats, np.random.default_rng(0))
        t1 = a.trace(200, np.random.default_rng(9))
        t2 = a.trace(200, np.random.default_rng(9))
        t3 = a.trace(200, np.random.default_rng(10))
        np.testing.assert_array_equal(t1, t2)
        assert not np.array_equal(t1, t3)
        assert t1.shape == (4, 200) and t1.dtype == bool


@pytest.mark.parametrize("spec", ["IDL", "MDF-0.5", "LDF-2", "YMF-0.9", "YFF-0.9", "HOMO-0.7",
                                  "HOMO-0.97", "LN-0.9", "SLN-0.9", "YC-0.99"])
def test_trace_equals_round_by_round_draws(stats, spec):
    a = make_availability(spec, stats, np.random.default_rng(4))
    start, rounds = 13, 400
    r1, r2 = np.random.default_rng(21), np.random.default_rng(21)
    tr = a.trace(rounds, r1, start=start)
    seq = np.stack([a.draw(t, r2) for t in range(start, start + rounds)], axis=1)
    np.testing.assert_array_equal(tr, seq)
    assert r1.random() == r2.random()  # both paths leave the rng in the same state


def test_trace_with_frequent_redraws_equals_draws(stats):
    a = make_availability("HOMO-0.9", stats, np.random.default_rng(0))  # P(empty) = 0.9^4 = 0.66
    r1, r2 = np.random.default_rng(3), np.random.default_rng(3)
    tr = a.trace(500, r1)
    seq = np.stack([a.draw(t, r2) for t in range(500)], axis=1)
    np.testing.assert_array_equal(tr, seq)
    assert r1.random() == r2.random()


def test_trace_zero_rounds_and_bad_rounds(stats):
    a = make_availability("IDL", stats, np.random.default_rng(0))
    assert a.trace(0, np.random.default_rng(0)).shape == (4, 0)
    with pytest.raises(ValueError, match="rounds"):
        a.trace(-1, np.random.default_rng(0))


def test_probs_many_matches_probs(stats):
    a = make_availability("SLN-0.4", stats, np.random.default_rng(1))
    ts = np.arange(5, 80)
    np.testing.assert_allclose(a.probs_many(ts), np.stack([a.probs(t) for t in ts]))


def test_availability_summary_by_hand():
    tr = np.array([
        [1, 1, 0, 0],
        [0, 1, 1, 1],
        [0, 0, 0, 0],
    ], dtype=bool)
    s = availability_summary(tr)
    assert s["num_clients"] == 3 and s["rounds"] == 4
    assert s["mean_availability"] == pytest.approx(5 / 12)
    np.testing.assert_allclose(s["client_fraction"], [0.5, 0.75, 0.0])
    assert s["min_client_fraction"] == 0.0 and s["max_client_fraction"] == 0.75
    assert s["mean_available_per_round"] == pytest.approx(5 / 4)
    assert s["min_available_per_round"] == 1 and s["max_available_per_round"] == 2
    np.testing.assert_array_equal(s["never_available"], [2])
