"""Sampling metrics: how evenly and how diversely a sampler picks clients.

Pure functions on numpy arrays. The count metrics take the last axis as the client axis, so a (T, N)
matrix of cumulative counts gives one value per round in a single call. The `*_rounds` variants take a
(T, N) selection matrix (how many times each client was picked in each round) and return one value per
round, vectorised for the simulator.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _counts(counts) -> np.ndarray:
    c = np.asarray(counts, dtype=float)
    if c.ndim == 0 or c.shape[-1] == 0:
        raise ValueError(f"counts must have at least one client on its last axis, got shape {c.shape}")
    return c


def _square(distances) -> np.ndarray:
    d = np.asarray(distances, dtype=float)
    if d.ndim != 2 or d.shape[0] != d.shape[1]:
        raise ValueError(f"distances must be a square (N, N) matrix, got shape {d.shape}")
    return d


def count_variance(counts: np.ndarray | Sequence[float]) -> np.ndarray | float:
    """Population variance of per-client sampling counts (FedGS's fairness measure; 0 = perfectly even).

    `counts` is (N,) or (..., N); the variance is taken over the last axis.
    """
    c = _counts(counts)
    v = c.var(axis=-1)
    return float(v) if v.ndim == 0 else v


def jain_index(counts: np.ndarray | Sequence[float]) -> np.ndarray | float:
    """Jain's fairness index (sum c)^2 / (N sum c^2): 1 when all counts are equal, 1/N when one client
    holds them all. All-zero counts are perfectly even, so they give 1. Last axis = clients."""
    c = _counts(counts)
    if np.any(c < 0):
        raise ValueError("counts must be non-negative")
    n = c.shape[-1]
    sq = (c * c).sum(axis=-1)
    s = c.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        j = np.where(sq > 0, s * s / (n * np.where(sq > 0, sq, 1.0)), 1.0)
    return float(j) if j.ndim == 0 else j


def _ids(selected, n: int, what: str) -> np.ndarray:
    ids = np.asarray(selected, dtype=np.int64).reshape(-1)
    if ids.size and (ids.min() < 0 or ids.max() >= n):
        raise ValueError(f"selected ids must lie in 0..{n - 1} ({what} has {n} rows), got {ids.tolist()}")
    return ids


def _present_classes(label_histograms: np.ndarray) -> np.ndarray:
    h = np.asarray(label_histograms)
    if h.ndim != 2:
        raise ValueError(f"label_histograms must be (N, C), got shape {h.shape}")
    return h.sum(axis=0) > 0


def label_coverage(selected_ids, label_histograms: np.ndarray) -> float:
    """Fraction of classes that appear in the selected clients' data.

    The denominator counts the classes present anywhere in the federation (a class nobody holds cannot
    be covered); an empty selection covers 0.
    """
    h = np.asarray(label_histograms)
    present = _present_classes(h)
    ids = _ids(selected_ids, h.shape[0], "label_histograms")
    if not present.any():
        return 0.0
    covered = h[np.unique(ids)].sum(axis=0) > 0
    return float((covered & present).sum() / present.sum())


def mean_pairwise_distance(selected_ids, distances: np.ndarray) -> float:
    """Mean D[i, j] over pairs of distinct selected clients (duplicates count once); 0 below two."""
    d = _square(distances)
    ids = np.unique(_ids(selected_ids, d.shape[0], "distances"))
    k = ids.size
    if k < 2:
        return 0.0
    sub = d[np.ix_(ids, ids)]
    return float((sub.sum() - np.trace(sub)) / (k * (k - 1)))


def per_round_counts(selected: Sequence[np.ndarray | Sequence[int]], num_clients: int) -> np.ndarray:
    """(T, N) int64: how many times each client was picked in each round (MD repetitions count), from
    one id list per round."""
    lengths = np.fromiter((len(s) for s in selected), dtype=np.int64, count=len(selected))
    out = np.zeros((len(selected), num_clients), dtype=np.int64)
    if lengths.sum():
        ids = np.concatenate([np.asarray(s, dtype=np.int64).reshape(-1) for s in selected])
        np.add.at(out, (np.repeat(np.arange(len(selected)), lengths), ids), 1)
    return out


def _selection_matrix(selection: np.ndarray, n: int | None = None) -> np.ndarray:
    s = np.asarray(selection)
    if s.ndim != 2:
        raise ValueError(f"selection must be a (T, N) matrix of per-round picks, got shape {s.shape}")
    if n is not None and s.shape[1] != n:
        raise ValueError(f"selection has {s.shape[1]} clients but the second argument has {n}")
    return s > 0


def label_coverage_rounds(selection: np.ndarray, label_histograms: np.ndarray) -> np.ndarray:
    """label_coverage for every row of a (T, N) selection matrix, as a (T,) array."""
    h = np.asarray(label_histograms)
    present = _present_classes(h)
    x = _selection_matrix(selection, h.shape[0])
    if not present.any():
        return np.zeros(x.shape[0])
    covered = (x.astype(float) @ (h > 0).astype(float)) > 0
    return (covered & present).sum(axis=1) / present.sum()


def mean_pairwise_distance_rounds(selection: np.ndarray, distances: np.ndarray) -> np.ndarray:
    """mean_pairwise_distance for every row of a (T, N) selection matrix, as a (T,) array."""
    d = _square(distances)
    x = _selection_matrix(selection, d.shape[0]).astype(float)
    off = d - np.diag(np.diag(d))
    total = np.einsum("ti,ij,tj->t", x, off, x, optimize=True)
    k = x.sum(axis=1)
    pairs = k * (k - 1)
    return np.divide(total, pairs, out=np.zeros_like(total), where=pairs > 0)
