"""The sampling-only simulator: hand-checked selections and metrics, shared traces, user samplers."""

from dataclasses import dataclass, field

import numpy as np
import pytest

from fedgs_lite.availability import make_availability
from fedgs_lite.data import Dataset
from fedgs_lite.graph import label_3dg
from fedgs_lite.masks import ClientStats
from fedgs_lite.partitions import partition
from fedgs_lite.samplers import FedGSSampler, UniformSampler
from fedgs_lite.simulate import compare_samplers, label_prior_losses, simulate_sampling


@dataclass
class RoundRobin:
    """A user-written sampler: no base class, just `name`, `select` and the optional `update`."""

    name: str = "round_robin"
    next_id: int = 0
    updates: list = field(default_factory=list)

    def select(self, available, m, round_idx, rng):
        ids = np.flatnonzero(available)
        start = np.searchsorted(ids, self.next_id) % ids.size
        picked = np.roll(ids, -start)[:m]
        self.next_id = int(picked[-1]) + 1
        return np.sort(picked)

    def update(self, selected, round_idx):
        self.updates.append((round_idx, selected.tolist()))


TRACE = np.array([
    [1, 1, 1, 0],
    [1, 1, 1, 1],
    [0, 0, 1, 1],
], dtype=bool)
HIST = np.array([[2, 0, 0], [0, 1, 0], [0, 0, 4], [1, 0, 4]])
D = np.array([
    [0.0, 0.2, 0.4, 0.6],
    [0.2, 0.0, 0.8, 1.0],
    [0.4, 0.8, 0.0, 0.3],
    [0.6, 1.0, 0.3, 0.0],
])


def test_user_sampler_runs_through_the_simulator_hand_checked():
    user = RoundRobin()
    r = simulate_sampling(user, TRACE, 3, 2, np.random.default_rng(0), label_histograms=HIST, distances=D)
    # round 0 from id 0: {0, 1}; round 1 from id 2: {2, 3}; round 2 from id 4 wraps: {2, 3}
    assert [s.tolist() for s in r.selected] == [[0, 1], [2, 3], [2, 3]]
    np.testing.assert_array_equal(r.selection, [[1, 1, 0, 0], [0, 0, 1, 1], [0, 0, 1, 1]])
    np.testing.assert_array_equal(r.counts, [1, 1, 2, 2])
    # cumulative counts [1,1,0,0] -> var 0.25; [1,1,1,1] -> 0; [1,1,2,2] -> 0.25
    np.testing.assert_allclose(r.variance, [0.25, 0.0, 0.25])
    assert r.final_variance == pytest.approx(0.25)
    assert r.jain == pytest.approx(36 / (4 * 10))
    np.testing.assert_allclose(r.coverage, [2 / 3, 2 / 3, 2 / 3])
    np.testing.assert_allclose(r.pairwise, [0.2, 0.3, 0.3])
    np.testing.assert_array_equal(r.available, TRACE)
    np.testing.assert_allclose(r.availability_frequency, [2 / 3, 2 / 3, 1.0, 2 / 3])
    assert r.solver_status is None and r.solver_gap is None
    assert r.name == "round_robin" and r.rounds == 3 and r.num_clients == 4
    # the update hook saw every round; the caller's object was used since it has no fresh()
    assert r.sampler is user and [u[0] for u in user.updates] == [0, 1, 2]


def test_simulator_rejects_a_sampler_that_picks_unavailable_clients():
    class Cheater:
        name = "cheater"

        def select(self, available, m, round_idx, rng):
            return np.array([3])

    with pytest.raises(ValueError, match="unavailable .* round 0"):
        simulate_sampling(Cheater(), TRACE, 3, 1, np.random.default_rng(0))


def test_simulator_input_errors():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="has 3 rounds"):
        simulate_sampling(UniformSampler(), TRACE, 5, 1, rng)
    with pytest.raises(ValueError, match="no client is available"):
        simulate_sampling(UniformSampler(), np.array([[True, False], [False, False]]), 2, 1, rng)
    with pytest.raises(ValueError, match="boolean trace"):
        simulate_sampling(UniformSampler(), TRACE.astype(int), 3, 1, rng)
    with pytest.raises(ValueError, match="rounds"):
        simulate_sampling(UniformSampler(), TRACE, 0, 1, rng)
    with pytest.raises(ValueError, match="select"):
        simulate_sampling(object(), TRACE, 3, 1, rng)


@pytest.fixture(scope="module")
def label_skew_setup():
    """100 clients, 2 classes each (the paper's label skew), the label-oracle 3DG."""
    y = np.repeat(np.arange(10), 600)
    ds = Dataset("fake", np.zeros((y.size, 1), np.float32), y, np.zeros((1, 1), np.float32), y[:1], 10)
    fed = partition(ds, 100, "label_skew", rng=np.random.default_rng(0))
    return ClientStats.from_federated(fed), label_3dg(fed).distances


def test_simulate_with_an_availability_mode_is_reproducible(label_skew_setup):
    stats, dist = label_skew_setup
    avail = make_availability("LN-0.5", stats, np.random.default_rng(1))
    sampler = FedGSSampler(dist)
    a = simulate_sampling(sampler, avail, 40, 5, np.random.default_rng(9), distances=dist)
    b = simulate_sampling(sampler, avail, 40, 5, np.random.default_rng(9), distances=dist)
    assert sampler.counts.sum() == 0, "simulate runs on a fresh copy"
    np.testing.assert_array_equal(a.available, avail.trace(40, np.random.default_rng(9)).T)
    assert all(np.array_equal(x, y) for x, y in zip(a.selected, b.selected, strict=True))
    np.testing.assert_array_equal(a.counts, a.sampler.counts)
    assert len(a.solver_status) == 40 and a.solver_gap.shape == (40,)
    assert set(a.solver_status) <= {"heuristic", "trivial"}
    assert a.coverage is None and a.pairwise.shape == (40,)


@pytest.mark.parametrize("seed", [0, 1])
def test_fedgs_count_variance_is_lower_than_uniform_and_md_under_lognormal(label_skew_setup, seed):
    # The claim: under LN availability FedGS samples clients more evenly. Setting: 100
    # label-skew clients, M = 10, alpha = 0.1, 500 rounds, one shared availability trace.
    stats, dist = label_skew_setup
    res = compare_samplers(["uniform", "md", "fedgs"], "LN-0.5", stats, dist, 500, 10, seed, alpha=0.1)
    var = {k: r.final_variance for k, r in res.items()}
    assert var["fedgs"] < var["uniform"] and var["fedgs"] < var["md"], var
    assert res["fedgs"].jain > max(res["uniform"].jain, res["md"].jain)


def test_compare_samplers_shares_one_trace_and_accepts_user_samplers(label_skew_setup):
    stats, dist = label_skew_setup
    res = compare_samplers(["uniform", "poc", RoundRobin()], "LN-0.1", stats, dist, 30, 4, seed=3)
    assert list(res) == ["uniform", "poc", "round_robin"]
    first = res["uniform"].available
    assert all(np.array_equal(r.available, first) for r in res.values())
    assert all(r.coverage.shape == (30,) for r in res.values())
    again = compare_samplers(["uniform"], "LN-0.1", stats, dist, 30, 4, seed=3)
    np.testing.assert_array_equal(again["uniform"].selection, res["uniform"].selection)
    with pytest.raises(ValueError, match="listed twice"):
        compare_samplers(["uniform", "uniform"], "IDL", stats, dist, 5, 2)
    with pytest.raises(ValueError, match="at least one sampler"):
        compare_samplers([], "IDL", stats, dist, 5, 2)


def test_label_prior_losses_hand_computed():
    loss = label_prior_losses(np.array([[3, 0], [0, 1]]))  # global label mix (0.75, 0.25)
    np.testing.assert_allclose(loss(np.array([1, 0])), [-np.log(0.25), -np.log(0.75)])
