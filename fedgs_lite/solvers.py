"""Four ways to solve the FedGS selection problem (objective.py): fast, exact, gurobi, brute.

Every method first *conditions* the problem: w = pair_scale * D with its smallest off-diagonal entry
subtracted, u with its minimum subtracted, both divided by the largest remaining coefficient. Since
|S| = M is fixed this changes every objective by the same affine map, so no argmax changes, and every
tolerance below is relative to the problem's own spread, not to the magnitude of u and alpha (scaling
u and alpha together by any factor gives the same selections and statuses).

Methods of `solve_selection`:
- "fast" (default): greedy constructions (from the best first pick, from `starts` - 1 more, and a
  look-ahead greedy that credits each candidate with its likely pairs to the picks still to come),
  each improved by 1-swap and "drop two, add two" local search; then a tabu search with swap moves
  and incremental gains (`_tabu`): each step makes the best swap that is not tabu (a client that just
  left may not come back for a while, one that just came in may not leave), even a worsening one,
  which walks out of the local optima greedy + swap end in; after a stretch without a new best it
  restarts from the best set with a few random swaps (iterated tabu search, the standard method for
  the maximum-diversity problem). A fixed iteration budget (`fast_iterations`; it also stops after
  150..400 steps without a new best, or on reaching a cheap upper bound), deterministic for a seed,
  no clock. Status "heuristic", no bound.
- "exact": the linearised MILP (y_ij stands for x_i x_j, with sum_{j != i} y_ij = (M - 1) x_i, which
  makes the linearisation exact for any sign of D) solved by HiGHS (highspy), started from the full
  "fast" answer. The returned set is the best of HiGHS's incumbent, the fast answer and a 1-swap polish;
  its objective is re-evaluated. Status "optimal" only when that objective is within OPTIMAL_TOL
  (relative, on the conditioned problem) of HiGHS's dual bound, after checking that the bound is not
  below any objective we know; a bound that fails the check is dropped (status "unproven").
  Otherwise "time_limit" with the bound. On a time limit the answer is never worse than "fast".
- "gurobi": the authors' formulation (binary x, maximise x'Hx with u on the diagonal, sum x = M,
  TimeLimit = time_limit, 5 s like theirs) through gurobipy (`pip install 'fedgs_lite[gurobi]'`),
  on the conditioned coefficients, with the same honest status rule as "exact". Not started from the
  fast answer, so it is an independent reference. The pip wheel's size-limited licence covers at most
  200 candidates (a quadratic model over 200 variables fails with GurobiError 10010); beyond it
  `solve_selection` raises `GurobiLicenceError` with one clear line.
- "brute": every subset, for tests and tiny instances.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from fedgs_lite.objective import fedgs_objective, pair_scale, relative_gap, validate_problem

METHODS = ("fast", "exact", "brute", "gurobi")
# Greedy from this many first picks (besides the look-ahead greedy) before the tabu search; more
# starts cost a greedy + local search each and did not help on the benchmark (see RESULTS.md).
FAST_STARTS = 1
BRUTE_MAX_SUBSETS = 2_000_000
OPTIMAL_TOL = 1e-10   # "optimal": (bound - objective) / bound <= this, on the conditioned problem
GUROBI_LICENCE_ERROR = 10010  # gurobipy's "Model too large for size-limited license"


class GurobiLicenceError(RuntimeError):
    """The installed Gurobi licence cannot solve a model this large."""


@dataclass(frozen=True, eq=False)
class SelectionResult:
    selected: np.ndarray   # positions into the candidate list (sorted, distinct)
    objective: float
    bound: float | None    # checked upper bound (exact, gurobi, brute, trivial), None for heuristics
    gap: float | None      # relative gap to the bound (see objective.relative_gap), None when unknown
    status: str            # "optimal", "time_limit", "unproven", "heuristic", "trivial"
    method: str
    seconds: float


@dataclass(frozen=True, eq=False)
class _Conditioned:
    """w (zero diagonal, >= 0) and u (>= 0), largest coefficient 1: f = scale * f_hat + offset."""

    w: np.ndarray
    u: np.ndarray
    m: int
    scale: float
    offset: float
    top: np.ndarray = field(repr=False)  # u_i + half the sum of i's m - 1 largest weights

    def value(self, sel: np.ndarray) -> float:
        return float(self.w[np.ix_(sel, sel)].sum() / 2.0 + self.u[sel].sum())

    def bound(self) -> float:
        """A cheap upper bound: f(S) <= sum over S of top_i <= the sum of the m largest top_i."""
        n = self.u.size
        return float(np.partition(self.top, n - self.m)[n - self.m:].sum())


def _condition(d: np.ndarray, u: np.ndarray, alpha: float, m: int) -> _Conditioned:
    n = u.size
    w = np.array(d, dtype=float)  # a copy: the caller's matrix is left alone
    np.fill_diagonal(w, np.inf)
    dmin = float(w.min())
    np.fill_diagonal(w, -np.inf)
    dmax = float(w.max())
    ps = pair_scale(alpha, m)
    umin = float(u.min())
    spread = max(ps * (dmax - dmin), float(u.max()) - umin)
    scale = spread if spread > 0 else 1.0
    w -= dmin
    w *= ps / scale
    np.fill_diagonal(w, 0.0)
    uh = (u - umin) / scale
    k = m - 1
    top = np.partition(w, n - k, axis=1)[:, n - k:].sum(axis=1) / 2.0
    offset = math.comb(m, 2) * ps * dmin + m * umin
    return _Conditioned(w, uh, m, scale, offset, uh + top)


# ---------------------------------------------------------------- public entry point
def solve_selection(distances_sub, u, alpha, m, method: str = "fast", *, time_limit: float = 5.0,
                    rng: np.random.Generator | None = None, starts: int = FAST_STARTS,
                    iterations: int | None = None) -> SelectionResult:
    """Pick m of the N_t candidates maximising the FedGS objective.

    m larger than the number of candidates takes all of them (status "trivial"), as does m = 1
    (the best u). "fast" (also the start and fallback of "exact") is deterministic for a given rng
    state; rng None means a fixed seed. `starts`: greedy first picks (the best by a bound, then
    random ones from rng, or the next best when rng is None). `iterations`: the tabu budget (default
    `fast_iterations(N_t, m)`; 0 = greedy + swap only). `time_limit` (seconds) applies to "exact"
    and "gurobi".
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
    p = _condition(d, u, alpha, m)

    def result(sel, status, bound_hat=None):
        sel = np.sort(np.asarray(sel, dtype=np.int64))
        obj = fedgs_objective(sel, d, u, alpha, m)
        bound = None if bound_hat is None else max(p.scale * bound_hat + p.offset, obj)
        gap = None if bound is None else relative_gap(obj, bound, u, m)
        return SelectionResult(sel, obj, bound, gap, status, method, time.perf_counter() - t0)

    if method == "brute":
        sel = _brute(p.w, p.u, m)
        return result(sel, "optimal", p.value(sel))
    fast = _fast(p, max(1, int(starts)), rng, iterations)
    if method == "fast":
        return result(fast, "heuristic")
    remaining = float(time_limit) - (time.perf_counter() - t0)
    if method == "exact":
        sel, bound_hat, finished = _milp_highs(p, max(remaining, 0.01), fast)
    else:
        sel, bound_hat, finished = _bqp_gurobi(p, max(remaining, 0.01))
    sel, bound_hat, status = _honest(p, [s for s in (sel, fast) if s is not None], bound_hat, finished)
    return result(sel, status, bound_hat)


def _honest(p: _Conditioned, candidates: list[np.ndarray], bound_hat: float | None, finished: bool):
    """The best candidate (after a 1-swap polish), a checked bound and an honest status.

    Returns (selection, bound on the conditioned problem or None, status). The bound is dropped when it
    is below a known objective by more than rounding, since then it cannot be a valid bound.
    """
    best, best_val = None, -np.inf
    for sel in candidates:
        sel = _local_search(p.w, p.u, np.asarray(sel, dtype=np.int64))
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
    p = _condition(d, u, alpha, m)
    best, best_val = None, -np.inf
    for f in range(n) if firsts is None else firsts:
        sel = _local_search(p.w, p.u, _greedy(p.w, p.u, m, int(f)))
        val = p.value(sel)
        if val > best_val + 1e-15:
            best, best_val = sel, val
    obj = fedgs_objective(best, d, u, alpha, m)
    return SelectionResult(best, obj, None, None, "heuristic", "greedy_swap", time.perf_counter() - t0)


# ---------------------------------------------------------------- comparisons
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


# ---------------------------------------------------------------- fast: greedy + 1-swap + tabu search
def fast_iterations(n: int, m: int) -> int:
    """The default tabu budget: swap moves after greedy + 1-swap (deterministic, no clock)."""
    if m >= n or m <= 1:
        return 0
    return int(min(3000, 300 + 3 * n))


def _greedy(w: np.ndarray, u: np.ndarray, m: int, first: int) -> np.ndarray:
    n = u.size
    chosen = np.zeros(n, dtype=bool)
    chosen[first] = True
    gain = u + w[first]
    gain[first] = -np.inf
    for _ in range(m - 1):
        j = int(np.argmax(gain))
        chosen[j] = True
        gain += w[j]
        gain[j] = -np.inf
    return np.flatnonzero(chosen)


def _local_search(w: np.ndarray, u: np.ndarray, sel: np.ndarray) -> np.ndarray:
    """Best-improvement 1-swap local search (stops at a 1-swap local optimum)."""
    n = u.size
    mem = np.array(sel, dtype=np.int64)
    inside = np.zeros(n, dtype=bool)
    inside[mem] = True
    win = w[mem]
    g = u + win.sum(axis=0)
    for _ in range(50 * n):  # each swap strictly improves, so this cap is never the reason to stop
        d1 = np.where(inside, -np.inf, g) - win  # d1[a, j] + ... = gain of swapping mem[a] for j
        rows = d1.max(axis=1) - g[mem]
        a = int(np.argmax(rows))
        if rows[a] <= 1e-12:
            break
        j, i = int(np.argmax(d1[a])), mem[a]
        mem[a], win[a] = j, w[j]
        inside[i], inside[j] = False, True
        g += w[j] - w[i]
    return np.sort(mem)


def _tabu(w: np.ndarray, u: np.ndarray, start: np.ndarray, iters: int, rng: np.random.Generator,
          target: float) -> np.ndarray:
    """Iterated tabu search with swap moves from `start`; returns the best set it saw.

    g[c] = u[c] + the sum of c's weights to the current set, so swapping the member in slot a for the
    outsider j changes the objective by g[j] - w[mem[a], j] - g[mem[a]]: one (m, n) array per step
    gives every swap's gain. Each step makes the best allowed swap, even a worsening one. Tabu: a
    client that left may not come back for `tenure_in` (+0..2) steps, one that came in may not leave
    for `tenure_out` steps, unless that gives a new best. After `stall_limit` steps without a new best
    the search restarts from the best set with max(3, m/2) random swaps. It stops after `iters` steps,
    after `quit` steps without a new best, or on reaching `target` (an upper bound: then optimal).
    """
    n, m = u.size, start.size
    tol = 1e-12
    tenure_in = max(1, min(n - m - 1, 7 + m // 2))
    tenure_out = max(1, min(m - 1, 2 + m // 4))
    stall_limit = max(100, 4 * m)
    quit = max(150, min(int(0.3 * iters), 400))
    kick = max(3, m // 2)
    jitter = rng.integers(0, 3, iters)
    inside_mark = np.iinfo(np.int64).max  # until_in of a member: never "free to come in"

    def load(sel):
        mem = np.array(sel, dtype=np.int64)
        win = w[mem]
        g = u + win.sum(axis=0)
        until_in = np.full(n, -1, dtype=np.int64)
        until_in[mem] = inside_mark
        return mem, win, g, until_in, float(u[mem].sum() + 0.5 * (g[mem] - u[mem]).sum())

    mem, win, g, until_in, cur = load(start)
    until_out = np.full(m, -1, dtype=np.int64)  # per slot
    best, best_val = mem.copy(), cur
    stall = last_best = 0
    for it in range(iters):
        if best_val >= target - tol or it - last_best > quit:
            break
        g_in = g[mem]
        d1 = np.where(until_in >= it, -np.inf, g) - win
        gains = d1.max(axis=1) - g_in
        allowed = np.where(until_out >= it, -np.inf, gains)
        a = int(np.argmax(allowed))
        delta = float(allowed[a])
        j = int(np.argmax(d1[a])) if delta > -np.inf else -1
        if cur + float(gains.max()) > best_val + tol:  # aspiration: a tabu slot may leave for a new best
            ta = int(np.argmax(gains))
            if gains[ta] > delta:
                a, delta, j = ta, float(gains[ta]), int(np.argmax(d1[ta]))
        if j < 0:
            break
        i = int(mem[a])
        mem[a], win[a] = j, w[j]
        g += w[j] - w[i]
        cur += delta
        until_in[i] = it + tenure_in + int(jitter[it])
        until_in[j] = inside_mark
        until_out[a] = it + tenure_out
        if cur > best_val + tol:
            best, best_val, stall, last_best = mem.copy(), cur, 0, it
        else:
            stall += 1
        if stall >= stall_limit:
            sel = best.copy()
            outside = np.ones(n, dtype=bool)
            outside[best] = False
            pool = np.flatnonzero(outside)
            k = min(kick, m, pool.size)
            sel[rng.choice(m, k, replace=False)] = rng.choice(pool, k, replace=False)
            mem, win, g, until_in, cur = load(sel)
            until_out[:] = -1
            stall = 0
    return np.sort(best)


def _pair_swap(w: np.ndarray, u: np.ndarray, sel: np.ndarray, width: int = 20,
               max_rounds: int = 50) -> np.ndarray:
    """Local search over "drop two members, add two outsiders", alternating with 1-swap.

    For every pair (a, b) of members, the best pair of outsiders to replace them is searched among the
    `width` outsiders with the largest gain once a and b are gone (a candidate list: the full 2-swap
    neighbourhood is m^2 n^2 / 4 moves). This finds the coordinated two-client changes that no single
    swap, and few tabu steps, reach.
    """
    n = u.size
    mem = _local_search(w, u, sel)
    m = mem.size
    if m < 2 or n - m < 2:
        return mem
    width = min(width, n - m)
    pa, pb = np.triu_indices(m, k=1)
    for _ in range(max_rounds):
        g = u + w[mem].sum(axis=0)
        ia, ib = mem[pa], mem[pb]
        gp = g - w[ia] - w[ib]                          # (pairs, n): gains once a and b are gone
        gp[:, mem] = -np.inf
        cand = np.argpartition(gp, n - width, axis=1)[:, n - width:]
        gc = np.take_along_axis(gp, cand, axis=1)
        val = gc[:, :, None] + gc[:, None, :] + w[cand[:, :, None], cand[:, None, :]]
        val[:, np.arange(width), np.arange(width)] = -np.inf
        flat = val.reshape(val.shape[0], -1)
        k = flat.argmax(axis=1)
        delta = flat[np.arange(flat.shape[0]), k] - (g[ia] + g[ib] - w[ia, ib])
        q = int(np.argmax(delta))
        if delta[q] <= 1e-12:
            break
        j1, j2 = cand[q, k[q] // width], cand[q, k[q] % width]
        mem = mem.copy()
        mem[pa[q]], mem[pb[q]] = j1, j2
        mem = _local_search(w, u, mem)
    return np.sort(mem)


def _lookahead_greedy(w: np.ndarray, u: np.ndarray, m: int, per_pair: np.ndarray) -> np.ndarray:
    """Greedy that also credits each candidate with its likely pairs to the picks still to come.

    per_pair[c]: the mean of c's m - 1 largest weights. A client far from a few others but near the
    current picks is no longer crowded out by one that is merely near-ish to everything.
    """
    n = u.size
    chosen = np.zeros(n, dtype=bool)
    pull = np.zeros(n)
    for k in range(m):
        score = np.where(chosen, -np.inf, u + pull + 0.5 * (m - 1 - k) * per_pair)
        j = int(np.argmax(score))
        chosen[j] = True
        pull += w[j]
    return np.flatnonzero(chosen)


def _fast(p: _Conditioned, starts: int, rng: np.random.Generator | None,
          iterations: int | None) -> np.ndarray:
    """Constructions -> local search -> tabu search -> local search again on what tabu found.

    Constructions: greedy from `starts` first picks (the best by `top`, then random ones from rng or
    the next best) and the look-ahead greedy. Local search: 1-swap, then "drop two, add two"
    (`_pair_swap`); with iterations = 0 only 1-swap and no tabu (the classic heuristic plus look-ahead).
    """
    w, u, m = p.w, p.u, p.m
    n = u.size
    order = np.argsort(-p.top, kind="stable")
    firsts = [int(order[0])]
    if starts > 1:
        rest = order[1:]
        extra = rng.permutation(rest) if rng is not None else rest
        firsts += [int(f) for f in extra[: starts - 1]]
    constructions = [_greedy(w, u, m, f) for f in firsts]
    constructions.append(_lookahead_greedy(w, u, m, 2.0 * (p.top - u) / (m - 1)))
    iters = fast_iterations(n, m) if iterations is None else int(iterations)
    search = iters > 0 and n - m >= 2
    polish = _pair_swap if search else _local_search
    best, best_val = None, -np.inf
    for sel in constructions:
        sel = polish(w, u, sel)
        val = p.value(sel)
        if val > best_val + 1e-15:
            best, best_val = sel, val
    if not search:
        return best
    seed = int(rng.integers(2**63)) if rng is not None else 0
    found = _tabu(w, u, best, iters, np.random.default_rng(seed), p.bound())
    if not np.array_equal(found, best):
        found = polish(w, u, found)
    return found if p.value(found) > best_val else best


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


# ---------------------------------------------------------------- exact MILP (HiGHS)
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


def _milp_highs(p: _Conditioned, time_limit: float, start: np.ndarray):
    """Linearised MILP on the conditioned problem.

    Returns (selection or None, dual bound or None, finished: HiGHS stopped on its gap, not a limit).
    """
    try:
        import highspy
    except ImportError as exc:
        raise ImportError("method='exact' needs HiGHS: pip install highspy "
                          "(or pip install 'fedgs_lite[exact]')") from exc
    w, u, m = p.w, p.u, p.m
    n = u.size
    iu, ju = np.triu_indices(n, k=1)
    npairs = iu.size
    ycol = n + np.arange(npairs)
    # rows: sum x = m | n rows sum_{pairs with i} y - (m-1) x_i = 0 | y_p - x_i <= 0, y_p - x_j <= 0
    inc_rows = np.concatenate([iu, ju])
    order = np.argsort(inc_rows, kind="stable")
    inc_cols = np.concatenate([ycol, ycol])[order]
    per_row = np.bincount(inc_rows, minlength=n)  # n - 1 pairs per client
    idx = [np.arange(n)]
    val = [np.ones(n)]
    starts = [0, n]
    row_y = np.split(inc_cols, np.cumsum(per_row)[:-1])
    for i in range(n):
        idx.append(np.concatenate([row_y[i], [i]]))
        val.append(np.concatenate([np.ones(per_row[i]), [-(m - 1.0)]]))
        starts.append(starts[-1] + per_row[i] + 1)
    pair_idx = np.stack([np.concatenate([ycol, ycol]), np.concatenate([iu, ju])], axis=1).ravel()
    pair_val = np.tile([1.0, -1.0], 2 * npairs)
    idx.append(pair_idx)
    val.append(pair_val)
    starts = np.concatenate([starts, starts[-1] + 2 * np.arange(1, 2 * npairs + 1)])
    nrow = 1 + n + 2 * npairs
    inf = highspy.kHighsInf
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n + npairs, nrow
    lp.sense_ = highspy.ObjSense.kMaximize
    lp.col_cost_ = np.concatenate([u, w[iu, ju]])
    lp.col_lower_ = np.zeros(n + npairs)
    lp.col_upper_ = np.ones(n + npairs)
    lp.row_lower_ = np.concatenate([[m], np.zeros(n), np.full(2 * npairs, -inf)])
    lp.row_upper_ = np.concatenate([[m], np.zeros(n), np.zeros(2 * npairs)])
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = n + npairs, nrow
    lp.a_matrix_.start_ = np.asarray(starts, dtype=np.int32)
    lp.a_matrix_.index_ = np.concatenate(idx).astype(np.int32)
    lp.a_matrix_.value_ = np.concatenate(val)
    lp.integrality_ = [highspy.HighsVarType.kInteger] * n + [highspy.HighsVarType.kContinuous] * npairs
    with _quiet_stdout_fd():
        h = highspy.Highs()
    for key, value in (("output_flag", False), ("threads", 1), ("time_limit", float(time_limit)),
                       ("mip_rel_gap", OPTIMAL_TOL / 10), ("mip_abs_gap", 1e-13),
                       ("mip_feasibility_tolerance", 1e-9), ("primal_feasibility_tolerance", 1e-9),
                       ("dual_feasibility_tolerance", 1e-9)):
        h.setOptionValue(key, value)
    h.passModel(lp)
    x0 = np.zeros(n)
    x0[start] = 1.0
    sol = highspy.HighsSolution()
    sol.col_value = np.concatenate([x0, x0[iu] * x0[ju]])
    sol.value_valid = True
    h.setSolution(sol)
    with _quiet_stdout_fd():
        h.run()
    status = h.getModelStatus()
    info = h.getInfo()
    bound = float(info.mip_dual_bound) if np.isfinite(info.mip_dual_bound) else None
    finished = status == highspy.HighsModelStatus.kOptimal
    if info.primal_solution_status != highspy.kSolutionStatusFeasible:
        return None, bound, finished
    xv = np.asarray(h.getSolution().col_value[:n], dtype=float)
    sel = np.sort(np.argsort(-xv, kind="stable")[:m])  # the m largest: rounding without losing clients
    return sel, bound, finished


# ---------------------------------------------------------------- gurobi (the authors' formulation)
_GUROBI_ENV = None


def _bqp_gurobi(p: _Conditioned, time_limit: float):
    """The authors' binary quadratic program. Returns (selection or None, bound or None, finished)."""
    global _GUROBI_ENV
    try:
        import gurobipy as gp
    except ImportError as exc:
        raise ImportError("method='gurobi' needs gurobipy: pip install gurobipy "
                          "(or pip install 'fedgs_lite[gurobi]')") from exc
    if _GUROBI_ENV is None:
        env = gp.Env(empty=True)
        env.setParam("OutputFlag", 0)  # before start(): no licence banner either
        with _quiet_stdout_fd():
            env.start()
        _GUROBI_ENV = env
    w, u, m = p.w, p.u, p.m
    n = u.size
    q = np.triu(w, 1)
    q[np.diag_indices(n)] = u  # x_i^2 = x_i: the diagonal carries the linear term, as in the authors' code
    model = gp.Model("fedgs", env=_GUROBI_ENV)
    try:
        model.Params.TimeLimit = float(time_limit)
        # the authors ran Gurobi's defaults (MIPGap 1e-4, MIPGapAbs 1e-10, IntFeasTol 1e-5); tightened so
        # that Gurobi's bound can back an "optimal" claim at OPTIMAL_TOL, as HiGHS's does
        model.Params.MIPGap = OPTIMAL_TOL / 10
        model.Params.MIPGapAbs = 1e-13  # the default 1e-10 lets Gurobi report a bound below a known set
        model.Params.IntFeasTol = 1e-9
        model.Params.FeasibilityTol = 1e-9
        model.Params.OptimalityTol = 1e-9
        x = model.addMVar(n, vtype=gp.GRB.BINARY)
        model.addConstr(x.sum() == m)
        model.setObjective(x @ q @ x, gp.GRB.MAXIMIZE)
        try:
            model.optimize()
        except gp.GurobiError as err:
            if getattr(err, "errno", None) == GUROBI_LICENCE_ERROR:
                raise GurobiLicenceError(
                    f"method='gurobi': this Gurobi licence is too small for {n} candidates (the pip "
                    f"licence allows at most 200 with a quadratic objective; GurobiError "
                    f"{GUROBI_LICENCE_ERROR}); use method='fast' or 'exact', or a full Gurobi licence"
                ) from None
            raise
        bound = float(model.ObjBound) if np.isfinite(model.ObjBound) else None
        finished = model.Status == gp.GRB.OPTIMAL
        if model.SolCount == 0:
            return None, bound, finished
        xv = np.asarray(x.X, dtype=float)
    finally:
        model.dispose()
    return np.sort(np.argsort(-xv, kind="stable")[:m]), bound, finished
