import numpy as np
import pytest

from fedgs_lite import instances
from fedgs_lite.objective import fedgs_objective, relative_gap
from fedgs_lite.solvers import greedy_swap, solve_selection


def triangle_violations(d: np.ndarray) -> int:
    """Triples (i, j, k) with d_ij > d_ik + d_kj (beyond rounding)."""
    return int(np.sum(d[:, :, None] > d[:, None, :] + d.T[None, :, :] + 1e-12))


def check_shape(inst, n, m):
    d, u, alpha, mm = inst.args()
    assert d.shape == (n, n) and u.shape == (n,) and mm == m and alpha >= 0
    assert np.allclose(d, d.T) and np.all(np.diag(d) == 0) and np.all(np.isfinite(d))


@pytest.mark.parametrize("family", instances.FAMILIES)
def test_every_family_gives_a_valid_problem(family):
    inst = instances.make_instance(family, np.random.default_rng(0), 30, 5)
    check_shape(inst, 30, 5)
    assert inst.family == family
    res = solve_selection(*inst.args())
    assert res.selected.size == 5


def test_same_seed_same_instance():
    a = instances.realistic(np.random.default_rng(3), 40, 6)
    b = instances.realistic(np.random.default_rng(3), 40, 6)
    np.testing.assert_array_equal(a.distances, b.distances)
    np.testing.assert_array_equal(a.u, b.u)


def test_realistic_instances_look_like_a_fedgs_round():
    inst = instances.realistic(np.random.default_rng(1), 50, 5, scheme="dirichlet")
    d, u = inst.distances, inst.u
    assert d.max() <= 1.0 + 1e-12 and d.min() >= 0  # normalised 3DG shortest paths
    assert triangle_violations(d) == 0
    assert np.unique(u).size < u.size  # counts are integers: many clients share a u


def test_planted_trap_is_metric_and_the_planted_set_is_the_optimum():
    for seed in range(3):
        inst = instances.planted_trap(np.random.default_rng(seed), 20, 5)
        d, u, alpha, m = inst.args()
        assert triangle_violations(d) == 0
        assert np.intersect1d(inst.planted, inst.decoy).size == 0
        brute = solve_selection(d, u, alpha, m, "brute")
        np.testing.assert_array_equal(brute.selected, inst.planted)
        # greedy + 1-swap from every first client ends in the decoys, clearly below the optimum
        trapped = greedy_swap(d, u, alpha, m)
        assert set(trapped.selected) <= set(inst.decoy)
        assert relative_gap(trapped.objective, brute.objective, u, m) > 0.05


def test_planted_trap_rejects_sizes_where_no_trap_exists():
    with pytest.raises(ValueError, match="m >= 4"):
        instances.planted_trap(np.random.default_rng(0), 20, 3)
    with pytest.raises(ValueError, match="n >="):
        instances.planted_trap(np.random.default_rng(0), 11, 5)


def test_near_ties_are_within_eps_and_the_anchor_pair_is_zero():
    inst = instances.near_ties(np.random.default_rng(0), 10, 3, eps=1e-6, anchor=True)
    d, u, alpha, m = inst.args()
    assert d[0, 1] == 0.0
    off = d[~np.eye(10, dtype=bool)]
    assert np.sort(off)[2] >= 1 - 1e-6  # everything but the anchor pair is within eps of 1
    values = [fedgs_objective(s, d, u, alpha, m) for s in ([2, 3, 4], [5, 6, 7], [7, 8, 9])]
    assert max(values) - min(values) < 1e-5 * max(values)


def test_non_metric_breaks_the_triangle_inequality():
    inst = instances.non_metric(np.random.default_rng(0), 25, 4)
    assert triangle_violations(inst.distances) > 0


def test_unknown_family_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown family"):
        instances.make_instance("spiral", np.random.default_rng(0), 10, 3)
