import itertools

import numpy as np
import pytest

from fedgs_lite.graph import build_3dg, label_features
from fedgs_lite.objective import count_penalty, fedgs_objective, relative_gap
from fedgs_lite.solvers import METHODS, SelectionResult, solve_selection

has_highs = True
try:
    import cvxpy as cp

    has_highs = cp.HIGHS in cp.installed_solvers()
except ImportError:  # pragma: no cover - depends on the environment
    has_highs = False
needs_highs = pytest.mark.skipif(not has_highs, reason="cvxpy with HiGHS not installed")


def instance(rng, n, classes=10, rounds=20):
    """The authors' way: label-skew distributions -> 3DG -> D, plus counts from earlier rounds."""
    h = np.zeros((n, classes))
    for i in range(n):
        cs = rng.choice(classes, 2, replace=False)
        h[i, cs] = rng.integers(1, 50, 2)
    d = build_3dg(label_features(h)).distances
    counts = rng.binomial(rounds, 0.2, n)
    return d, counts


def random_metric(rng, n):
    """A random Euclidean distance matrix: continuous values, so ties are unlikely."""
    p = rng.random((n, 3))
    return np.linalg.norm(p[:, None] - p[None], axis=-1)


def test_count_penalty_matches_formula(rng):
    counts = rng.integers(0, 10, 15)
    avail = np.array([0, 3, 4, 9, 14])
    m = 3
    u = count_penalty(counts, avail, m)
    v = counts.astype(float)
    expected = -(2 * (v[avail] - v.mean() - m / avail.size) + 1) / (counts.size - 1)
    np.testing.assert_allclose(u, expected)
    mask = np.zeros(15, dtype=bool)
    mask[avail] = True
    np.testing.assert_allclose(count_penalty(counts, mask, m), expected)
    # rarely sampled clients score higher
    assert np.argmax(count_penalty(counts, np.arange(15), m)) == np.argmin(counts)


def test_count_penalty_edge_cases():
    np.testing.assert_array_equal(count_penalty(np.array([4]), np.array([0]), 1), [0.0])
    np.testing.assert_allclose(count_penalty(np.zeros(4), np.array([1, 2]), 5),
                               count_penalty(np.zeros(4), np.array([1, 2]), 2))  # M = min(m, N_t)
    with pytest.raises(ValueError):
        count_penalty(np.zeros(4), np.array([], dtype=int), 1)
    with pytest.raises(ValueError):
        count_penalty(np.zeros(4), np.array([4]), 1)
    with pytest.raises(ValueError):
        count_penalty(np.zeros(4), np.array([1]), 0)


def test_count_penalty_rejects_duplicate_ids():
    # a repeated id would inflate N_t in the M/N_t term and silently change every u_i
    with pytest.raises(ValueError, match="duplicate"):
        count_penalty(np.zeros(4), np.array([1, 1, 2]), 2)


def test_objective_by_hand():
    d = np.array([[0, 1, 2], [1, 0, 3], [2, 3, 0]], dtype=float)
    u = np.array([0.5, -1.0, 0.25])
    alpha, m = 0.3, 2
    assert fedgs_objective([0, 2], d, u, alpha, m) == pytest.approx(alpha * 2 / 2 * 2 + 0.75)
    assert fedgs_objective([0, 1, 2], d, u, alpha, 3) == pytest.approx(alpha * 2 / 6 * 6 - 0.25)
    assert fedgs_objective([1], d, u, alpha, 1) == pytest.approx(-1.0)  # no pairs, no division by 0


@pytest.mark.parametrize("seed", range(6))
def test_fast_matches_brute_on_small_instances_and_never_beats_it(seed):
    rng = np.random.default_rng(seed)
    hits = 0
    total = 0
    for n in (6, 9, 12):
        d = random_metric(rng, n) if seed % 2 else instance(rng, n)[0]
        counts = rng.integers(0, 8, n)
        for m in (2, 3, 5):
            for alpha in (0.1, 1.0, 10.0):
                u = count_penalty(counts, np.arange(n), m)
                fast = solve_selection(d, u, alpha, m, "fast")
                brute = solve_selection(d, u, alpha, m, "brute")
                assert fast.objective <= brute.objective + 1e-12
                assert fast.status == "heuristic" and fast.bound is None
                assert brute.status == "optimal"
                hits += fast.objective >= brute.objective - 1e-9
                total += 1
    assert hits / total >= 0.9


def test_brute_really_is_the_maximum(rng):
    d = random_metric(rng, 8)
    u = rng.normal(size=8) * 0.1
    res = solve_selection(d, u, 1.0, 3, "brute")
    best = max(fedgs_objective(c, d, u, 1.0, 3) for c in itertools.combinations(range(8), 3))
    assert res.objective == pytest.approx(best)
    assert res.objective == pytest.approx(fedgs_objective(res.selected, d, u, 1.0, 3))


@needs_highs
@pytest.mark.parametrize("seed", range(3))
def test_exact_equals_brute(seed):
    rng = np.random.default_rng(100 + seed)
    for n, m, alpha in ((7, 3, 0.1), (10, 4, 1.0), (12, 5, 5.0), (12, 2, 0.5)):
        d = random_metric(rng, n) if seed == 0 else instance(rng, n)[0]
        u = count_penalty(rng.integers(0, 6, n), np.arange(n), m)
        exact = solve_selection(d, u, alpha, m, "exact", time_limit=20)
        brute = solve_selection(d, u, alpha, m, "brute")
        assert exact.status == "optimal"
        assert exact.objective == pytest.approx(brute.objective, rel=1e-7, abs=1e-9)
        assert exact.objective == pytest.approx(fedgs_objective(exact.selected, d, u, alpha, m))
        assert exact.bound >= exact.objective - 1e-9
        assert exact.gap == pytest.approx(0.0, abs=1e-6)
        assert exact.selected.size == m


@pytest.mark.parametrize("method", METHODS)
def test_selection_shape_distinct_sorted(rng, method):
    if method == "exact" and not has_highs:
        pytest.skip("cvxpy with HiGHS not installed")
    d, counts = instance(rng, 11)
    for m in (1, 3, 11, 15):
        u = count_penalty(counts, np.arange(11), m)
        res = solve_selection(d, u, 0.1, m, method)
        assert isinstance(res, SelectionResult)
        assert res.method == method
        sel = res.selected
        assert sel.size == min(m, 11)
        assert np.unique(sel).size == sel.size
        assert np.all(np.diff(sel) > 0)
        assert sel.min() >= 0 and sel.max() < 11


def test_m_one_picks_best_u_and_m_all_takes_everyone():
    d = np.array([[0, 1.0, 1.0], [1.0, 0, 1.0], [1.0, 1.0, 0]])
    u = np.array([0.1, 0.3, 0.2])
    for method in ("fast", "brute"):
        one = solve_selection(d, u, 1.0, 1, method)
        np.testing.assert_array_equal(one.selected, [1])
        assert one.status == "trivial" and one.objective == pytest.approx(0.3)
        everyone = solve_selection(d, u, 1.0, 5, method)
        np.testing.assert_array_equal(everyone.selected, [0, 1, 2])
        assert everyone.status == "trivial"
    single = solve_selection(np.zeros((1, 1)), np.array([-2.0]), 0.1, 3)
    np.testing.assert_array_equal(single.selected, [0])


def test_disconnected_graph_prefers_spreading_over_components():
    # two tight clusters, unreachable from each other: D = 1 across. The authors' normalisation
    # divides by the largest finite (here: within-cluster) distance, so some inner pairs reach 1 too.
    f = np.array([[1.0, 0], [1.0, 0.01], [1.0, 0.02], [0, 1.0], [0.01, 1.0], [0.02, 1.0]])
    d = build_3dg(f, epsilon=0.5).distances
    assert np.all(d[:3, 3:] == 1.0)
    assert d[:3, :3].sum() < 6.0  # not every inner pair is at distance 1
    u = np.zeros(6)
    for method in ("fast", "brute"):
        sel = solve_selection(d, u, 1.0, 3, method).selected
        assert 0 < np.sum(sel < 3) < 3  # both components are represented


def test_fast_multi_start_is_at_least_as_good(rng):
    for _ in range(5):
        d = random_metric(rng, 40)
        u = rng.normal(size=40) * 0.01
        one = solve_selection(d, u, 1.0, 8, "fast")
        many = solve_selection(d, u, 1.0, 8, "fast", starts=5, rng=np.random.default_rng(0))
        assert many.objective >= one.objective - 1e-12


def test_relative_gap():
    u = np.array([-1.0, 0.0, 2.0])
    assert relative_gap(3.0, 3.0, u, 2) == 0.0
    assert relative_gap(2.0, 3.0, u, 2) == pytest.approx(1.0 / 5.0)  # shifted bound = 3 + 2
    assert relative_gap(0.0, 0.0, np.zeros(3), 2) == 0.0


def test_bad_inputs_raise():
    d = np.array([[0, 1.0], [1.0, 0]])
    u = np.zeros(2)
    with pytest.raises(ValueError, match="alpha"):
        solve_selection(d, u, -0.1, 1)
    with pytest.raises(ValueError, match="NaN"):
        solve_selection(np.array([[0, np.nan], [np.nan, 0]]), u, 0.1, 1)
    with pytest.raises(ValueError, match="NaN"):
        solve_selection(d, np.array([0.0, np.nan]), 0.1, 1)
    with pytest.raises(ValueError, match="m must"):
        solve_selection(d, u, 0.1, 0)
    with pytest.raises(ValueError, match="no candidates"):
        solve_selection(np.zeros((0, 0)), np.zeros(0), 0.1, 1)
    with pytest.raises(ValueError, match="match"):
        solve_selection(d, np.zeros(3), 0.1, 1)
    with pytest.raises(ValueError, match="symmetric"):
        solve_selection(np.array([[0, 1.0], [0.5, 0]]), u, 0.1, 1)
    with pytest.raises(ValueError, match="unknown method"):
        solve_selection(d, u, 0.1, 1, "gurobi")
    with pytest.raises(ValueError, match="too many"):
        solve_selection(np.zeros((60, 60)), np.zeros(60), 0.1, 30, "brute")


def test_exact_without_cvxpy_says_how_to_install(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "cvxpy" or name.startswith("cvxpy."):
            raise ImportError("No module named 'cvxpy'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    d = np.array([[0, 1.0, 1.0], [1.0, 0, 1.0], [1.0, 1.0, 0]])
    with pytest.raises(ImportError, match="pip install cvxpy highspy"):
        solve_selection(d, np.zeros(3), 0.1, 2, "exact")


@needs_highs
def test_exact_time_limit_reports_status_and_bound(rng):
    d = random_metric(rng, 60)
    u = rng.normal(size=60) * 1e-3
    res = solve_selection(d, u, 1.0, 12, "exact", time_limit=0.05)
    assert res.status in ("optimal", "time_limit")
    assert res.selected.size == 12
    if res.status == "time_limit" and res.bound is not None:
        assert res.bound >= res.objective - 1e-9
        assert res.gap >= 0


def test_exact_solver_prints_no_solver_banner():
    import subprocess
    import sys

    code = ("import numpy as np; from fedgs_lite.solvers import solve_selection; "
            "d = np.ones((6, 6)) - np.eye(6); "
            "r = solve_selection(d, np.zeros(6), 0.1, 3, method='exact'); print('status', r.status)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "status optimal"
