"""The FedGS per-round objective: what a selection of M available clients is worth.

Over the N_t available clients (candidates), with D_sub = D[A, A] and M clients to pick:

    maximise  sum_{i<j} H_ij x_i x_j + sum_i u_i x_i   s.t.  sum_i x_i = M,  x binary,
    H = alpha * 2 / (M (M - 1)) * D_sub,   u = count_penalty(counts, available, M)   (authors' code).

The first term rewards picking clients that are far apart on the 3DG (alpha times their mean
pairwise distance), the second picks rarely sampled clients. With M = 1 there are no pairs, so the
pairwise term is 0 (the authors' 2/(M(M-1)) divided by zero there). The solvers are behind solvers.py.

Gaps are relative to the objective with u shifted so that min(u) = 0 (a constant per selected
client, so no argmax changes); the raw objective is often near 0 or negative, where a plain
relative gap says nothing. See `relative_gap`.
"""

from __future__ import annotations

import math

import numpy as np


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


def pair_scale(alpha: float, m: int) -> float:
    return alpha * 2.0 / (m * (m - 1)) if m > 1 else 0.0


def fedgs_objective(selected, distances_sub, u, alpha, m) -> float:
    """Objective of a selection (positions into the candidate list): alpha * mean pair distance + sum u."""
    sel = np.asarray(selected, dtype=np.int64).ravel()
    d = np.asarray(distances_sub, dtype=float)
    u = np.asarray(u, dtype=float)
    pair_sum = d[np.ix_(sel, sel)].sum() / 2.0 - np.trace(d[np.ix_(sel, sel)]) / 2.0
    return float(pair_scale(float(alpha), int(m)) * pair_sum + u[sel].sum())


def relative_gap(value: float, bound: float, u: np.ndarray, m: int) -> float:
    """(bound - value) / (bound - m * min(u)): the gap of the objective with u shifted to min 0.

    0 when value reaches the bound; 0 also when the shifted bound is 0 (then value equals it).
    """
    scale = bound - m * float(np.min(u))
    diff = max(bound - value, 0.0)
    if scale <= 1e-15:
        return 0.0 if diff <= 1e-15 else math.inf
    return diff / scale


def validate_problem(distances_sub, u, alpha, m) -> tuple[np.ndarray, np.ndarray, float, int]:
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
