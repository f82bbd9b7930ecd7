"""Conditioning the FedGS selection problem: one scale for every solver's tolerances.

w = pair_scale * D with its smallest off-diagonal entry subtracted, u with its minimum subtracted, both
divided by the largest remaining coefficient. Since |S| = M is fixed this changes every objective by the
same affine map, so no argmax changes, and every tolerance on the conditioned problem is relative to the
problem's own spread, not to the magnitude of u and alpha (scaling u and alpha together by any factor
gives the same selections and statuses).
It also records how far D breaks the triangle inequality on fixed pairs: the 3DG's D (shortest paths
divided by their largest, unreachable pairs 1) never does, and the fast search reads a failure as a sign
of a rugged landscape, and a large one (uniform random D, not near-ties) as one with no structure at
all (fast_search.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from fedgs_lite.objective import pair_scale

OPTIMAL_TOL = 1e-10   # "optimal": (bound - objective) / bound <= this, on the conditioned problem
METRIC_TOL = 1e-9     # a triangle excess up to this share of the largest distance is rounding
UNSTRUCTURED = 1e-2   # one above this share: D is far from any metric (uniform random D: 0.5-1)


@dataclass(frozen=True, eq=False)
class Conditioned:
    """w (zero diagonal, >= 0) and u (>= 0), largest coefficient 1: f = scale * f_hat + offset."""

    w: np.ndarray
    u: np.ndarray
    m: int
    scale: float
    offset: float
    top: np.ndarray = field(repr=False)  # u_i + half the sum of i's m - 1 largest weights
    triangle_excess: float = 0.0         # `triangle_excess(D)`: 0 for a metric

    @property
    def metric(self) -> bool:
        return self.triangle_excess <= METRIC_TOL

    @property
    def unstructured(self) -> bool:
        return self.triangle_excess > UNSTRUCTURED

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
    return Conditioned(w, uh, m, scale, offset, uh + top, triangle_excess(d))


def triangle_excess(d: np.ndarray, pairs: int = 64) -> float:
    """How far D breaks the triangle inequality on `pairs` spread-out pairs: the largest
    d_ij - min_k (d_ik + d_kj), as a share of the largest entry of the rows read (0 or less for a
    metric). Fixed pairs, no random draw: the same answer every call, the caller's rng untouched."""
    n = d.shape[0]
    if n < 3:
        return 0.0
    k = np.arange(pairs)
    i, j = (37 * k) % n, (101 * k + n // 2) % n
    rows_i, rows_j = d[i], d[j]
    shortest = (rows_i + rows_j).min(axis=1)  # min over k of d_ik + d_kj (d is symmetric: validated)
    largest = max(float(np.abs(rows_i).max()), float(np.abs(rows_j).max()))
    return float((d[i, j] - shortest).max() / largest) if largest > 0 else 0.0


def passes_triangle_check(d: np.ndarray, pairs: int = 64) -> bool:
    """No shortcut for `pairs` spread-out pairs beyond rounding (`triangle_excess` <= METRIC_TOL).
    Every shortest-path D passes; uniform random D fails at once."""
    return triangle_excess(d, pairs) <= METRIC_TOL
