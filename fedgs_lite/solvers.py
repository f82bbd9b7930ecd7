"""Three ways to solve the FedGS selection problem (objective.py): fast, exact, brute.

Methods of `solve_selection`:
- "fast" (default): greedy construction + best-improvement 1-swap local search, numpy-vectorised.
  Max-sum diversification with a metric D: a factor-2 guarantee, and in practice (see
  benchmarks/RESULTS.md) almost always optimal. No bound: status "heuristic".
- "exact": the linearised MILP through cvxpy + HiGHS (y_ij stands for x_i x_j; with the
  strengthening sum_{j != i} y_ij = (M - 1) x_i the linearisation is exact). Status "optimal" only
  when HiGHS proves it; on the time limit it returns the better of the MILP incumbent and the "fast"
  selection, with the MILP dual bound (None if HiGHS reports none).
- "brute": every subset, for tests and tiny instances.
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

from fedgs_lite.objective import fedgs_objective, pair_scale, relative_gap, validate_problem

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
    d, u, alpha, m = validate_problem(distances_sub, u, alpha, m)
    n = u.size
    if m >= n or m == 1:
        sel = np.arange(n) if m >= n else np.array([int(np.argmax(u))])
        obj = fedgs_objective(sel, d, u, alpha, min(m, n))
        return SelectionResult(sel, obj, obj, 0.0, "trivial", method, time.perf_counter() - t0)
    w = d * pair_scale(alpha, m)  # pair weights H; the diagonal is not part of the problem
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


@dataclass(frozen=True, eq=False)
class SolverComparison:
    """Fast heuristic vs exact solver on one round's selection problem."""

    fast: SelectionResult
    exact: SelectionResult
    gap: float      # objective.relative_gap of the fast objective to the exact bound (0 = optimal)
    same_selection: bool


def compare_solvers(distances_sub: np.ndarray, u: np.ndarray, alpha: float, m: int, *,
                    exact_method: str = "exact", time_limit: float = 5.0, seed: int = 0) -> SolverComparison:
    """Solve one selection problem with "fast" and `exact_method` ("exact" MILP or "brute")."""
    rng = np.random.default_rng(seed)
    fast = solve_selection(distances_sub, u, alpha, m, "fast", rng=rng)
    exact = solve_selection(distances_sub, u, alpha, m, exact_method, time_limit=time_limit, rng=rng)
    bound = exact.objective if exact.bound is None else max(exact.bound, exact.objective)
    gap = relative_gap(fast.objective, bound, np.asarray(u, dtype=float), m)
    same = bool(np.array_equal(np.sort(fast.selected), np.sort(exact.selected)))
    return SolverComparison(fast=fast, exact=exact, gap=float(gap), same_selection=same)


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
