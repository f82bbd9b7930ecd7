"""The FedGS per-round selection problem and three ways to solve it.

Over the N_t available clients (candidates), with D_sub = D[A, A] and M clients to pick:

    maximise  sum_{i<j} H_ij x_i x_j + sum_i u_i x_i   s.t.  sum_i x_i = M,  x binary,
    H = alpha * 2 / (M (M - 1)) * D_sub,   u = count_penalty(counts, available, M)   (authors' code).

The first term rewards picking clients that are far apart on the 3DG (alpha times their mean
pairwise distance), the second picks rarely sampled clients. With M = 1 there are no pairs, so the
pairwise term is 0 (the authors' 2/(M(M-1)) divided by zero there).

Methods of `solve_selection`:
- "fast" (default): greedy construction + best-improvement 1-swap local search, numpy-vectorised.
  Max-sum diversification with a metric D: a factor-2 guarantee, and in practice (see
  benchmarks/RESULTS.md) almost always optimal. No bound: status "heuristic".
- "exact": the linearised MILP through cvxpy + HiGHS (y_ij stands for x_i x_j; with the
  strengthening sum_{j != i} y_ij = (M - 1) x_i the linearisation is exact). Status "optimal" only
  when HiGHS proves it; on the time limit it returns the better of the MILP incumbent and the "fast"
  selection, with the MILP dual bound (None if HiGHS reports none).
- "brute": every subset, for tests and tiny instances.

Gaps are relative to the objective with u shifted so that min(u) = 0 (a constant per selected
client, so no argmax changes); the raw objective is often near 0 or negative, where a plain
relative gap says nothing. See `relative_gap`.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import sys
import time
import warnings
from dataclasses import dataclass

import numpy as np

METHODS = ("fast", "exact", "brute")
# Greedy + swap from 4 first picks: at N = 1000 one start was up to 1.8% below the best of 40 starts,
# four were within 0.44%, for ~1.5x the time (a few ms); see benchmarks/RESULTS.md.
FAST_STARTS = 4
BRUTE_MAX_SUBSETS = 2_000_000


@dataclass(frozen=True, eq=False)
class SelectionResult:
    selected: np.ndarray   # positions into the candidate list (sorted, distinct)
    objective: float
    bound: float | None    # best proven upper bound (exact, brute, trivial), None for heuristics
    gap: float | None      # relative gap to the bound (see relative_gap), None when unknown
    status: str            # "optimal", "time_limit", "heuristic", "trivial"
    method: str
    seconds: float


@contextlib.contextmanager
def _quiet_stdout_fd():
    """Silence output written straight to file descriptor 1 (HiGHS prints a licence banner from C,
    which `output_flag=False` does not stop and which would land in every notebook)."""
    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError):  # no real stdout (some embedded interpreters): nothing to silence
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def count_penalty(counts: np.ndarray, available: np.ndarray, m: int) -> np.ndarray:
    """u_i = -(2 (v_i - mean(v) - M/N_t) + 1) / (K - 1) for the available ids (authors' formula).

    counts: sampling counts v of all K clients. available: ids (or a boolean mask of length K).
    M = min(m, N_t) as in the authors' code. With K = 1 the formula divides by zero; u = 0 then.
    """
    v = np.asarray(counts, dtype=float)
    if v.ndim != 1 or v.size == 0:
        raise ValueError(f"counts must be a non-empty 1-D array (one count per client), got shape {v.shape}")
    k = v.size
    a = np.asarray(available)
    if a.dtype == bool:
        if a.shape != (k,):
            raise ValueError(f"boolean availability mask must have length {k}, got shape {a.shape}")
        a = np.flatnonzero(a)
    a = a.astype(np.int64).ravel()
    if a.size == 0:
        raise ValueError("no available clients: count_penalty needs at least one candidate")
    if a.min() < 0 or a.max() >= k:
        raise ValueError(f"available ids must be in 0..{k - 1}")
    if np.unique(a).size != a.size:
        raise ValueError("available ids contain duplicates; each candidate must appear once")
    if m < 1:
        raise ValueError(f"m must be >= 1, got {m}")
    if k == 1:
        return np.zeros(a.size)
    m_eff = min(int(m), a.size)
    u = -(2.0 * (v - v.mean() - m_eff / a.size) + 1.0) / (k - 1)
    return u[a]


def _pair_scale(alpha: float, m: int) -> float:
    return alpha * 2.0 / (m * (m - 1)) if m > 1 else 0.0


def fedgs_objective(selected, distances_sub, u, alpha, m) -> float:
    """Objective of a selection (positions into the candidate list): alpha * mean pair distance + sum u."""
    sel = np.asarray(selected, dtype=np.int64).ravel()
    d = np.asarray(distances_sub, dtype=float)
    u = np.asarray(u, dtype=float)
    pair_sum = d[np.ix_(sel, sel)].sum() / 2.0 - np.trace(d[np.ix_(sel, sel)]) / 2.0
    return float(_pair_scale(float(alpha), int(m)) * pair_sum + u[sel].sum())


def relative_gap(value: float, bound: float, u: np.ndarray, m: int) -> float:
    """(bound - value) / (bound - m * min(u)): the gap of the objective with u shifted to min 0.

    0 when value reaches the bound; 0 also when the shifted bound is 0 (then value equals it).
    """
    scale = bound - m * float(np.min(u))
    diff = max(bound - value, 0.0)
    if scale <= 1e-15:
        return 0.0 if diff <= 1e-15 else math.inf
    return diff / scale


def _validate(distances_sub, u, alpha, m) -> tuple[np.ndarray, np.ndarray, float, int]:
    d = np.asarray(distances_sub, dtype=float)
    u = np.asarray(u, dtype=float).ravel()
    if d.ndim != 2 or d.shape[0] != d.shape[1]:
        raise ValueError(f"distances_sub must be a square (N_t, N_t) matrix, got shape {d.shape}")
    if d.shape[0] != u.size:
        raise ValueError(f"distances_sub is {d.shape} but u has {u.size} entries; they must match")
    if u.size == 0:
        raise ValueError("no candidates: solve_selection needs at least one available client")
    if not np.all(np.isfinite(d)):
        raise ValueError("distances_sub contains NaN or inf")
    if not np.all(np.isfinite(u)):
        raise ValueError("u contains NaN or inf")
    if not (np.array_equal(d, d.T) or np.allclose(d, d.T, rtol=1e-9, atol=1e-12)):
        raise ValueError("distances_sub must be symmetric")
    alpha = float(alpha)
    if not np.isfinite(alpha) or alpha < 0:
        raise ValueError(f"alpha must be a finite number >= 0, got {alpha}")
    if int(m) != m or m < 1:
        raise ValueError(f"m must be an integer >= 1, got {m}")
    return d, u, alpha, int(m)


def solve_selection(distances_sub, u, alpha, m, method: str = "fast", *, time_limit: float = 5.0,
                    rng: np.random.Generator | None = None, starts: int = FAST_STARTS) -> SelectionResult:
    """Pick m of the N_t candidates maximising the FedGS objective.

    m larger than the number of candidates takes all of them (status "trivial"), as does m = 1
    (the best u). `starts` > 1 adds multi-start to "fast" (random first picks from rng, or the
    next-best first picks when rng is None). `time_limit` (seconds) applies to "exact".
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    t0 = time.perf_counter()
    d, u, alpha, m = _validate(distances_sub, u, alpha, m)
    n = u.size
    if m >= n or m == 1:
        sel = np.arange(n) if m >= n else np.array([int(np.argmax(u))])
        obj = fedgs_objective(sel, d, u, alpha, min(m, n))
        return SelectionResult(sel, obj, obj, 0.0, "trivial", method, time.perf_counter() - t0)
    w = d * _pair_scale(alpha, m)  # pair weights H; the diagonal is not part of the problem
    np.fill_diagonal(w, 0.0)
    if method == "fast":
        sel = _fast(w, u, m, max(1, int(starts)), rng)
        obj = fedgs_objective(sel, d, u, alpha, m)
        return SelectionResult(sel, obj, None, None, "heuristic", method, time.perf_counter() - t0)
    if method == "brute":
        sel = _brute(w, u, m)
        obj = fedgs_objective(sel, d, u, alpha, m)
        return SelectionResult(sel, obj, obj, 0.0, "optimal", method, time.perf_counter() - t0)
    sel, bound, proven = _exact(w, u, m, float(time_limit))
    if not proven:  # stopped early: the heuristic's selection may beat the MILP incumbent
        alt = _fast(w, u, m, 1, None)
        if sel is None or fedgs_objective(alt, d, u, alpha, m) > fedgs_objective(sel, d, u, alpha, m):
            sel = alt
    obj = fedgs_objective(sel, d, u, alpha, m)
    if proven:
        bound = obj if bound is None else max(bound, obj)
    gap = None if bound is None else relative_gap(obj, bound, u, m)
    status = "optimal" if proven else "time_limit"
    return SelectionResult(sel, obj, bound, gap, status, method, time.perf_counter() - t0)


# ---------------------------------------------------------------- fast: greedy + 1-swap local search
def _greedy(w: np.ndarray, u: np.ndarray, m: int, first: int) -> np.ndarray:
    n = u.size
    chosen = np.zeros(n, dtype=bool)
    chosen[first] = True
    pull = w[first].copy()  # sum of weights to the chosen set
    for _ in range(m - 1):
        gain = np.where(chosen, -np.inf, u + pull)
        j = int(np.argmax(gain))
        chosen[j] = True
        pull += w[j]
    return np.flatnonzero(chosen)


def _local_search(w: np.ndarray, u: np.ndarray, sel: np.ndarray) -> np.ndarray:
    n = u.size
    inside = np.zeros(n, dtype=bool)
    inside[sel] = True
    pull = w[:, sel].sum(axis=1)
    tol = 1e-12 * (1.0 + np.abs(u).max() + np.abs(w).max())
    for _ in range(50 * n):  # each swap strictly improves, so this cap is never the reason to stop
        ins, outs = np.flatnonzero(inside), np.flatnonzero(~inside)
        # swapping i (in) for j (out) changes the objective by (u_j + pull_j - w_ij) - (u_i + pull_i)
        score_in = u[ins] + pull[ins]
        score_out = u[outs] + pull[outs]
        delta = score_out[None, :] - score_in[:, None] - w[np.ix_(ins, outs)]
        a, b = np.unravel_index(int(np.argmax(delta)), delta.shape)
        if delta[a, b] <= tol:
            break
        i, j = ins[a], outs[b]
        inside[i], inside[j] = False, True
        pull += w[:, j] - w[:, i]
    return np.flatnonzero(inside)


def _value(w: np.ndarray, u: np.ndarray, sel: np.ndarray) -> float:
    return float(w[np.ix_(sel, sel)].sum() / 2.0 + u[sel].sum())


def _fast(w: np.ndarray, u: np.ndarray, m: int, starts: int, rng) -> np.ndarray:
    n = u.size
    # first pick: the client whose u plus its share of its m-1 largest weights is best
    k = min(m - 1, n - 1)
    top = np.partition(w, n - k, axis=1)[:, n - k:].sum(axis=1) / 2.0 if k > 0 else np.zeros(n)
    order = np.argsort(-(u + top), kind="stable")
    firsts = [int(order[0])]
    if starts > 1:
        rest = order[1:]
        extra = rng.permutation(rest) if rng is not None else rest
        firsts += [int(f) for f in extra[: starts - 1]]
    best, best_val = None, -np.inf
    for f in firsts:
        sel = _local_search(w, u, _greedy(w, u, m, f))
        val = _value(w, u, sel)
        if val > best_val + 1e-15:
            best, best_val = sel, val
    return best


# ---------------------------------------------------------------- brute force
def _brute(w: np.ndarray, u: np.ndarray, m: int) -> np.ndarray:
    n = u.size
    total = math.comb(n, m)
    if total > BRUTE_MAX_SUBSETS:
        raise ValueError(f"brute force over C({n}, {m}) = {total} subsets is too many "
                         f"(limit {BRUTE_MAX_SUBSETS}); use method='exact' or 'fast'")
    best, best_val = None, -np.inf
    combos = itertools.combinations(range(n), m)
    while True:
        chunk = np.array(list(itertools.islice(combos, 20000)), dtype=np.int64)
        if chunk.size == 0:
            break
        vals = u[chunk].sum(axis=1) + w[chunk[:, :, None], chunk[:, None, :]].sum(axis=(1, 2)) / 2.0
        k = int(np.argmax(vals))
        if vals[k] > best_val:
            best, best_val = chunk[k], float(vals[k])
    return np.sort(best)


# ---------------------------------------------------------------- exact MILP (cvxpy + HiGHS)
def _exact(w: np.ndarray, u: np.ndarray, m: int, time_limit: float):
    """Returns (selection or None, upper bound or None, proven optimal)."""
    try:
        import cvxpy as cp
        import highspy  # noqa: F401  (cvxpy's HIGHS interface needs it)
        import scipy.sparse as sp
    except ImportError as exc:
        raise ImportError("method='exact' needs cvxpy and HiGHS: pip install cvxpy highspy "
                          "(or pip install 'fedgs_lite[exact]')") from exc
    if cp.HIGHS not in cp.installed_solvers():
        raise ImportError("cvxpy does not see the HiGHS solver: pip install cvxpy highspy")
    n = u.size
    iu, ju = np.triu_indices(n, k=1)
    npairs = iu.size
    cols = np.arange(npairs)
    # incidence: row i sums the y of every pair that contains i
    inc = sp.csr_matrix((np.ones(2 * npairs), (np.concatenate([iu, ju]), np.concatenate([cols, cols]))),
                        shape=(n, npairs))
    x = cp.Variable(n, boolean=True)
    y = cp.Variable(npairs)
    cons = [cp.sum(x) == m, y >= 0, y <= x[iu], y <= x[ju], inc @ y == (m - 1) * x]
    prob = cp.Problem(cp.Maximize(w[iu, ju] @ y + u @ x), cons)
    opts = {"time_limit": float(max(time_limit, 0.01)), "mip_rel_gap": 1e-9, "mip_abs_gap": 1e-12,
            "threads": 1, "output_flag": False}
    try:
        with warnings.catch_warnings():
            # cvxpy warns "may be inaccurate" on a time limit; the caller reports the status itself
            warnings.filterwarnings("ignore", message="Solution may be inaccurate")
            with _quiet_stdout_fd():
                prob.solve(solver=cp.HIGHS, **opts)
    except cp.error.SolverError:
        return None, None, False
    info = prob.solver_stats.extra_stats if prob.solver_stats is not None else None
    bound = None
    if info is not None and prob.value is not None and np.isfinite(prob.value):
        dual = getattr(info, "mip_dual_bound", None)
        primal = getattr(info, "objective_function_value", None)
        # HiGHS minimises -objective: convert its dual bound back to our maximisation sense
        if dual is not None and primal is not None and np.isfinite(dual):
            bound = float(prob.value + (primal - dual))
    if bound is None and info is not None and np.isfinite(getattr(info, "mip_dual_bound", np.inf)):
        bound = -float(info.mip_dual_bound)  # the model has no constant term, so no offset
    proven = prob.status == cp.OPTIMAL
    feasible = getattr(info, "primal_solution_status", 2) == 2 if info is not None else True
    if x.value is None or not feasible:
        return None, bound, False
    xv = np.asarray(x.value, dtype=float)
    sel = np.flatnonzero(np.round(xv) == 1)
    if sel.size != m:  # numerically odd solution: keep the m largest values
        sel = np.sort(np.argsort(-xv, kind="stable")[:m])
    return sel, bound, proven
