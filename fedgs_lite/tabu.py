"""Iterated tabu search with swap moves, the standard method for the maximum-diversity problem.

The default "fast" solver runs it after greedy + local search (fast_search.py), on the conditioned
problem (conditioning.py). g[c] = u[c] + the sum of c's weights to the current set, so swapping the
member in slot a for the outsider j changes the objective by g[j] - w[mem[a], j] - g[mem[a]]: one
(m, n) array per step gives every swap's gain. Each step makes the best allowed swap, even a worsening
one, which walks out of the local optima greedy + swap end in. Tabu: a client that left may not come
back for a while, one that just came in may not leave, unless the move gives a new best (aspiration).
After a stretch without a new best the walk restarts from the best set with a few random swaps, each
bringing in one of the 3m outsiders with the largest gain to the best set (a uniformly random outsider
of a large pool is nearly always swapped straight back out, so the walk would only circle the best).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TOL = 1e-12
INSIDE = np.iinfo(np.int64).max  # until_in of a member: never "free to come in"


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


@dataclass
class Walk:
    """The walk's current set (one slot per member), every client's gain g and the tabu marks."""

    mem: np.ndarray        # (m,) the member in each slot
    win: np.ndarray        # (m, n) w[mem]
    g: np.ndarray          # (n,) u + the sum of each client's weights to the set
    until_in: np.ndarray   # (n,) step until which a client may not come in (INSIDE for members)
    until_out: np.ndarray  # (m,) step until which a slot's member may not leave
    value: float

    @classmethod
    def start(cls, w: np.ndarray, u: np.ndarray, sel: np.ndarray) -> Walk:
        mem = np.array(sel, dtype=np.int64)
        win = w[mem]
        g = u + win.sum(axis=0)
        until_in = np.full(u.size, -1, dtype=np.int64)
        until_in[mem] = INSIDE
        value = float(u[mem].sum() + 0.5 * (g[mem] - u[mem]).sum())
        return cls(mem, win, g, until_in, np.full(mem.size, -1, dtype=np.int64), value)

    def best_move(self, it: int, best_value: float) -> tuple[int, float, int]:
        """(slot, gain, client coming in) of the best allowed swap at step `it`; client -1: none."""
        d1 = np.where(self.until_in >= it, -np.inf, self.g) - self.win
        gains = d1.max(axis=1) - self.g[self.mem]
        allowed = np.where(self.until_out >= it, -np.inf, gains)
        a = int(np.argmax(allowed))
        delta = float(allowed[a])
        j = int(np.argmax(d1[a])) if delta > -np.inf else -1
        if self.value + float(gains.max()) > best_value + TOL:  # aspiration: a tabu slot may leave
            ta = int(np.argmax(gains))
            if gains[ta] > delta:
                a, delta, j = ta, float(gains[ta]), int(np.argmax(d1[ta]))
        return a, delta, j

    def swap(self, w: np.ndarray, a: int, j: int, delta: float, out_until: int, in_until: int) -> None:
        """Replace the member in slot a by j; the leaver stays out until `out_until`."""
        i = int(self.mem[a])
        self.mem[a], self.win[a] = j, w[j]
        self.g += w[j] - w[i]
        self.value += delta
        self.until_in[i] = out_until
        self.until_in[j] = INSIDE
        self.until_out[a] = in_until


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
    """The best set the walk from `start` saw (sorted positions).

    Stops after `iters` steps, after `quit` steps without a new best (None: `TabuSettings` default),
    or on reaching `target` (an upper bound: then the set is optimal).
    """
    n = u.size
    s = TabuSettings.for_problem(n, start.size, iters, quit)
    jitter = rng.integers(0, 3, iters)
    walk = Walk.start(w, u, start)
    best, best_val = walk.mem.copy(), walk.value
    stall = last_best = 0
    for it in range(iters):
        if best_val >= target - TOL or it - last_best > s.quit:
            break
        a, delta, j = walk.best_move(it, best_val)
        if j < 0:
            break
        walk.swap(w, a, j, delta, it + s.tenure_in + int(jitter[it]), it + s.tenure_out)
        if walk.value > best_val + TOL:
            best, best_val, stall, last_best = walk.mem.copy(), walk.value, 0, it
        else:
            stall += 1
        if stall >= s.stall_limit:
            walk = Walk.start(w, u, kicked(w, u, best, s.kick, rng))
            stall = 0
    return np.sort(best)
