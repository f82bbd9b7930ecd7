"""The FedGS selection solvers' front door: `solve_selection`, honest statuses, and comparisons.

Every method first conditions the problem (conditioning.py), so that every tolerance is relative to the
problem's own spread, not to the magnitude of u and alpha. Methods of `solve_selection`:
- "fast" (default; fast_search.py, tabu.py): greedy constructions improved by 1-swap and "drop two, add
  two" local search, then an iterated tabu search with a fixed, deterministic budget. Status "heuristic".
- "exact" (milp_highs.py): the linearised MILP solved by HiGHS, started from the full "fast" answer.
- "gurobi" (gurobi_bqp.py): the authors' binary quadratic program through gurobipy, TimeLimit 5 s like
  theirs; not started from the fast answer, so it is an independent reference.
- "brute": every subset, for tests and tiny instances.
For "exact" and "gurobi" the returned set is the best of the solver's incumbent, the fast answer and a
1-swap polish, its objective re-evaluated. Status "optimal" only when that objective is within
OPTIMAL_TOL (relative, on the conditioned problem) of the solver's bound, after checking that the bound
is not below any objective we know; a bound that fails the check is dropped ("unproven"). Otherwise
"time_limit" with the bound. On a time limit the answer is never worse than "fast".
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass

import numpy as np

from fedgs_lite.conditioning import OPTIMAL_TOL, Conditioned, condition
from fedgs_lite.fast_search import fast_iterations, fast_search, greedy, swap_search
from fedgs_lite.gurobi_bqp import GurobiLicenceError, bqp_gurobi
from fedgs_lite.milp_highs import milp_highs
from fedgs_lite.objective import fedgs_objective, relative_gap, validate_problem

__all__ = ["METHODS", "FAST_STARTS", "OPTIMAL_TOL", "GurobiLicenceError", "SelectionResult",
           "solve_selection", "greedy_swap", "SolverComparison", "compare_solvers", "fast_iterations"]

METHODS = ("fast", "exact", "brute", "gurobi")
# Greedy from this many first picks (besides the look-ahead greedy) before the tabu search; more
# starts cost a greedy + local search each and did not help on the benchmark (see RESULTS.md).
FAST_STARTS = 1
BRUTE_MAX_SUBSETS = 2_000_000


@dataclass(frozen=True, eq=False)
class SelectionResult:
    selected: np.ndarray   # positions into the candidate list (sorted, distinct)
    objective: float
    bound: float | None    # checked upper bound (exact, gurobi, brute, trivial), None for heuristics
    gap: float | None      # relative gap to the bound (see objective.relative_gap), None when unknown
    status: str            # "optimal", "time_limit", "unproven", "heuristic", "trivial"
    method: str
    seconds: float


def solve_selection(distances_sub, u, alpha, m, method: str = "fast", *, time_limit: float = 5.0,
                    rng: np.random.Generator | None = None, starts: int = FAST_STARTS,
                    iterations: int | None = None) -> SelectionResult:
    """Pick m of the N_t candidates maximising the FedGS objective.

    m larger than the number of candidates takes all of them (status "trivial"), as does m = 1
    (the best u). "fast" (also the start and fallback of "exact") is deterministic for a given rng
    state; rng None means a fixed seed. `starts`: greedy first picks (the best by a bound, then
    random ones from rng, or the next best when rng is None). `iterations`: the first tabu phase's
    budget (default `fast_iterations(N_t, m)`; 0 = greedy + swap only). `time_limit` (seconds)
    applies to "exact" and "gurobi".
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    t0 = time.perf_counter()
    d, u, alpha, m = validate_problem(distances_sub, u, alpha, m)
    if m >= u.size or m == 1:
        return trivial_selection(d, u, alpha, m, method, t0)
    p = condition(d, u, alpha, m)
    if method == "brute":
        sel = brute_force(p.w, p.u, m)
        return finish(p, (d, u, alpha, m), sel, "optimal", p.value(sel), method, t0)
    fast = fast_search(p, max(1, int(starts)), rng, iterations)
    if method == "fast":
        return finish(p, (d, u, alpha, m), fast, "heuristic", None, method, t0)
    remaining = max(float(time_limit) - (time.perf_counter() - t0), 0.01)
    if method == "exact":
        sel, bound_hat, finished = milp_highs(p, remaining, fast)
    else:
        sel, bound_hat, finished = bqp_gurobi(p, remaining)
    sel, bound_hat, status = honest(p, [s for s in (sel, fast) if s is not None], bound_hat, finished)
    return finish(p, (d, u, alpha, m), sel, status, bound_hat, method, t0)


def trivial_selection(d, u, alpha, m, method: str, t0: float) -> SelectionResult:
    """m >= N_t takes every candidate; m = 1 the best u. Both are optimal with no search."""
    n = u.size
    sel = np.arange(n) if m >= n else np.array([int(np.argmax(u))])
    obj = fedgs_objective(sel, d, u, alpha, min(m, n))
    return SelectionResult(sel, obj, obj, 0.0, "trivial", method, time.perf_counter() - t0)


def finish(p: Conditioned, problem: tuple, sel, status: str, bound_hat: float | None, method: str,
           t0: float) -> SelectionResult:
    """The result on the caller's scale: the objective re-evaluated, the bound mapped back and never
    below it."""
    d, u, alpha, m = problem
    sel = np.sort(np.asarray(sel, dtype=np.int64))
    obj = fedgs_objective(sel, d, u, alpha, m)
    bound = None if bound_hat is None else max(p.scale * bound_hat + p.offset, obj)
    gap = None if bound is None else relative_gap(obj, bound, u, m)
    return SelectionResult(sel, obj, bound, gap, status, method, time.perf_counter() - t0)


def honest(p: Conditioned, candidates: list[np.ndarray], bound_hat: float | None, finished: bool):
    """The best candidate (after a 1-swap polish), a checked bound and an honest status.

    Returns (selection, bound on the conditioned problem or None, status). The bound is dropped when it
    is below a known objective by more than rounding, since then it cannot be a valid bound.
    """
    best, best_val = None, -np.inf
    for sel in candidates:
        sel = swap_search(p.w, p.u, np.asarray(sel, dtype=np.int64))
        val = p.value(sel)
        if val > best_val:
            best, best_val = sel, val
    if bound_hat is not None and not np.isfinite(bound_hat):
        bound_hat = None
    rounding = 1e-13 * max(1.0, abs(best_val))
    if bound_hat is not None and bound_hat < best_val - rounding:
        return best, None, "unproven"  # the solver's bound is wrong (numerics): no claim at all
    if bound_hat is not None and bound_hat - best_val <= OPTIMAL_TOL * max(bound_hat, 1e-300):
        return best, max(bound_hat, best_val), "optimal"
    return best, bound_hat, "time_limit" if not finished else "unproven"


def greedy_swap(distances_sub, u, alpha, m, *, firsts=None) -> SelectionResult:
    """The classic heuristic alone: greedy from each first pick in `firsts` (default: every candidate),
    then best-improvement 1-swap; the best result. For max-sum diversification with a metric D it is
    a 2-approximation; `instances.planted_trap` shows where it stops short and "fast" does not."""
    t0 = time.perf_counter()
    d, u, alpha, m = validate_problem(distances_sub, u, alpha, m)
    n = u.size
    if m >= n or m == 1:
        return solve_selection(d, u, alpha, m, "fast")
    p = condition(d, u, alpha, m)
    best, best_val = None, -np.inf
    for f in range(n) if firsts is None else firsts:
        sel = swap_search(p.w, p.u, greedy(p.w, p.u, m, int(f)))
        val = p.value(sel)
        if val > best_val + 1e-15:
            best, best_val = sel, val
    obj = fedgs_objective(best, d, u, alpha, m)
    return SelectionResult(best, obj, None, None, "heuristic", "greedy_swap", time.perf_counter() - t0)


@dataclass(frozen=True, eq=False)
class SolverComparison:
    """Several solvers on one round's selection problem (first "fast", then the others)."""

    results: dict[str, SelectionResult]
    reference: float  # the best proven bound, or the best objective when none proves more
    gaps: dict[str, float]  # objective.relative_gap of each method to `reference` (0 = optimal)
    exact_method: str = "exact"

    @property
    def fast(self) -> SelectionResult:
        return self.results["fast"]

    @property
    def exact(self) -> SelectionResult:
        return self.results[self.exact_method]

    @property
    def gap(self) -> float:
        """The fast solver's gap to the reference."""
        return self.gaps["fast"]

    @property
    def same_selection(self) -> bool:
        return bool(np.array_equal(self.fast.selected, self.exact.selected))

    def table(self) -> str:
        """One line per method: objective, status, gap to the reference, time."""
        lines = [f"{'method':<8} {'objective':>14} {'status':<11} {'gap':>9} {'time':>10}"]
        for name, r in self.results.items():
            lines.append(f"{name:<8} {r.objective:>14.8f} {r.status:<11} {100 * self.gaps[name]:>8.4f}% "
                         f"{r.seconds * 1e3:>8.1f}ms")
        return "\n".join(lines)


def compare_solvers(distances_sub: np.ndarray, u: np.ndarray, alpha: float, m: int, *,
                    exact_method: str = "exact", methods: tuple[str, ...] | None = None,
                    time_limit: float = 5.0, seed: int = 0) -> SolverComparison:
    """Solve one selection problem with "fast" and `exact_method` (or every method in `methods`).

    `methods`, e.g. ("fast", "exact", "gurobi"), runs those side by side ("fast" is always included);
    `exact` is then the first method after "fast". Gaps are to the best proven bound among them.
    """
    names = list(dict.fromkeys(["fast", *(methods or (exact_method,))]))
    for name in names:
        if name not in METHODS:
            raise ValueError(f"unknown method {name!r}; choose among {', '.join(METHODS)}")
    exact_name = names[1] if len(names) > 1 else "fast"
    results = {name: solve_selection(distances_sub, u, alpha, m, name, time_limit=time_limit,
                                     rng=np.random.default_rng(seed)) for name in names}
    best = max(r.objective for r in results.values())
    bounds = [r.bound for r in results.values() if r.bound is not None]
    reference = max(best, min(bounds)) if bounds else best
    uu = np.asarray(u, dtype=float)
    gaps = {name: float(relative_gap(r.objective, reference, uu, min(m, uu.size)))
            for name, r in results.items()}
    return SolverComparison(results=results, reference=float(reference), gaps=gaps, exact_method=exact_name)


def brute_force(w: np.ndarray, u: np.ndarray, m: int) -> np.ndarray:
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
