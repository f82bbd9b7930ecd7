"""Iterated tabu search with swap moves, the standard method for the maximum-diversity problem.

The default "fast" solver runs it after greedy + local search (fast_search.py), on the conditioned
problem (conditioning.py). Each step makes the best allowed swap, even a worsening one, which walks out
of the local optima greedy + swap end in (the steps themselves, compiled by numba, are in tabu_walk.py).
Tabu: a client that left may not come back for a while, one that just came in may not leave, unless the
move gives a new best (aspiration).
After a stretch without a new best the walk restarts from the best set with a few random swaps, each
bringing in one of the 3m outsiders with the largest gain to the best set (a uniformly random outsider
of a large pool is nearly always swapped straight back out, so the walk would only circle the best).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TabuSettings:
    """Tenures and limits for n candidates, m picks and a budget of `iters` steps."""

    tenure_in: int     # steps a client that left stays out (+0..2 random)
    tenure_out: int    # steps a slot's newcomer stays in
    stall_limit: int   # steps without a new best before a restart from the best set
    quit: int          # steps without a new best before stopping
    kick: int          # random swaps at a restart

    @classmethod
    def for_problem(cls, n: int, m: int, iters: int, quit: int | None = None) -> TabuSettings:
        """quit None: the default, 150..400 steps (30% of the budget)."""
        return cls(tenure_in=max(1, min(n - m - 1, 7 + m // 2)),
                   tenure_out=max(1, min(m - 1, 2 + m // 4)),
                   stall_limit=max(100, 4 * m),
                   quit=max(150, min(int(0.3 * iters), 400)) if quit is None else int(quit),
                   kick=max(3, m // 2))


def kicked(w: np.ndarray, u: np.ndarray, best: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """best with k random members swapped for k random outsiders among the 3m with the largest gain
    to best (the restart point)."""
    n, m = u.size, best.size
    sel = best.copy()
    g = u + w[best].sum(axis=0)
    g[best] = -np.inf
    pool = np.argsort(-g, kind="stable")[: min(3 * m, n - m)]
    k = min(k, m, pool.size)
    sel[rng.choice(m, k, replace=False)] = rng.choice(pool, k, replace=False)
    return sel


def tabu_search(w: np.ndarray, u: np.ndarray, start: np.ndarray, iters: int, rng: np.random.Generator,
                target: float, quit: int | None = None) -> np.ndarray:
    """The best set the walk from `start` saw (sorted positions); w >= 0 with a zero diagonal, as
    conditioning.py makes it.

    Stops after `iters` steps, after `quit` steps without a new best (None: `TabuSettings` default),
    or on reaching `target` (an upper bound: then the set is optimal).
    """
    from fedgs_lite.tabu_walk import walk_until_stall  # numba: imported and compiled on first use

    s = TabuSettings.for_problem(u.size, start.size, iters, quit)
    jitter = rng.integers(0, 3, iters)
    mem = np.array(start, dtype=np.int64)
    g, value, until_in, until_out = fresh_walk(w, u, mem)
    best, best_val = mem.copy(), value
    it = last_best = 0
    while True:
        it, value, best_val, last_best, stalled = walk_until_stall(
            w, mem, g, until_in, until_out, value, best, best_val, it, last_best, iters, jitter,
            s.tenure_in, s.tenure_out, s.stall_limit, s.quit, float(target))
        if not stalled:
            return np.sort(best)
        mem = kicked(w, u, best, s.kick, rng)
        g, value, until_in, until_out = fresh_walk(w, u, mem)


def fresh_walk(w: np.ndarray, u: np.ndarray,
               mem: np.ndarray) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """A walk's state at `mem`: every client's gain g, the set's value, no tabu marks but on members."""
    from fedgs_lite.tabu_walk import INSIDE

    g = u + w[mem].sum(axis=0)
    value = float(u[mem].sum() + 0.5 * (g[mem] - u[mem]).sum())
    until_in = np.full(u.size, -1, dtype=np.int64)
    until_in[mem] = INSIDE
    return g, value, until_in, np.full(mem.size, -1, dtype=np.int64)
