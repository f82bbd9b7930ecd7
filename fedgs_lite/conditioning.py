"""Conditioning the FedGS selection problem: one scale for every solver's tolerances.

w = pair_scale * D with its smallest off-diagonal entry subtracted, u with its minimum subtracted, both
divided by the largest remaining coefficient. Since |S| = M is fixed this changes every objective by the
same affine map, so no argmax changes, and every tolerance on the conditioned problem is relative to the
problem's own spread, not to the magnitude of u and alpha (scaling u and alpha together by any factor
gives the same selections and statuses).
It also records whether D passed a triangle-inequality check on fixed pairs: the 3DG's D (shortest paths
divided by their largest, unreachable pairs 1) always does, and the fast search reads a failure as a
sign of an unstructured landscape (fast_search.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from fedgs_lite.objective import pair_scale

OPTIMAL_TOL = 1e-10   # "optimal": (bound - objective) / bound <= this, on the conditioned problem


@dataclass(frozen=True, eq=False)
class Conditioned:
    """w (zero diagonal, >= 0) and u (>= 0), largest coefficient 1: f = scale * f_hat + offset."""

    w: np.ndarray
    u: np.ndarray
    m: int
    scale: float
    offset: float
    top: np.ndarray = field(repr=False)  # u_i + half the sum of i's m - 1 largest weights
    metric: bool = True  # D passed `passes_triangle_check`

    def value(self, sel: np.ndarray) -> float:
        return float(self.w[np.ix_(sel, sel)].sum() / 2.0 + self.u[sel].sum())

    def bound(self) -> float:
        """A cheap upper bound: f(S) <= sum over S of top_i <= the sum of the m largest top_i."""
        n = self.u.size
        return float(np.partition(self.top, n - self.m)[n - self.m:].sum())


def condition(d: np.ndarray, u: np.ndarray, alpha: float, m: int) -> Conditioned:
    """The conditioned form of max alpha * pair_scale * sum_{i<j in S} D_ij + sum_{i in S} u_i, |S| = m."""
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
    return Conditioned(w, uh, m, scale, offset, uh + top, passes_triangle_check(d))


def passes_triangle_check(d: np.ndarray, pairs: int = 64) -> bool:
    """No shortcut for `pairs` spread-out pairs: d_ij <= d_ik + d_kj for every k (to 1e-9 of the largest
    entry of the rows read). Fixed pairs, no random draw: the same answer every call, the caller's rng
    untouched. Every shortest-path D passes; uniform random D fails at once."""
    n = d.shape[0]
    if n < 3:
        return True
    k = np.arange(pairs)
    i, j = (37 * k) % n, (101 * k + n // 2) % n
    rows_i, rows_j = d[i], d[j]
    shortest = (rows_i + rows_j).min(axis=1)  # min over k of d_ik + d_kj (d is symmetric: validated)
    tol = 1e-9 * max(float(np.abs(rows_i).max()), float(np.abs(rows_j).max()))
    return bool(np.all(d[i, j] <= shortest + tol))
