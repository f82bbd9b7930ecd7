"""The kit's classic partition schemes: k labels per client, Dirichlet over clients, size imbalance.

Each returns per-client lists of training-sample indices (unsorted) for `partitions.partition`:
`label_skew_parts` is the authors' `dist 1` (each client holds exactly k classes, each class split
evenly among its holders), `dirichlet_parts` the NIID-Bench Dirichlet split (per class, Dirichlet(alpha)
proportions over the clients), `size_imbalance_parts` IID labels over clients of lognormal sizes.
The authors' `dist 4` (Dirichlet label skew with lognormal sizes) is partitions_dist4.py.
"""

from __future__ import annotations

import numpy as np

from fedgs_lite.data import Dataset
from fedgs_lite.partitions_dist4 import fill_empty


def assign_classes(num_clients: int, num_classes: int, k: int, rng: np.random.Generator) -> list[list[int]]:
    """k distinct classes per client, always drawing among the least-held classes so that every class is
    held by someone once N * k >= C and holder counts differ by at most one."""
    held = np.zeros(num_classes, dtype=np.int64)
    owned: list[list[int]] = []
    for _ in range(num_clients):
        mine: list[int] = []
        for _ in range(k):
            counts = held.astype(np.float64)
            counts[mine] = np.inf
            choices = np.flatnonzero(counts == counts.min())
            c = int(rng.choice(choices))
            mine.append(c)
            held[c] += 1
        owned.append(sorted(mine))
    return owned


def label_skew_parts(dataset: Dataset, num_clients: int, k: int,
                     rng: np.random.Generator) -> list[np.ndarray]:
    """Exactly k classes per client (the authors' `dist 1`), each class split evenly among its holders."""
    present = np.unique(dataset.y_train)
    c = len(present)
    if not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"classes_per_client must be an int >= 1, got {k!r}")
    if k > c:
        raise ValueError(f"classes_per_client={k} exceeds the {c} classes present in {dataset.name!r}")
    owned = assign_classes(num_clients, c, k, rng)
    parts: list[list[np.ndarray]] = [[] for _ in range(num_clients)]
    for j, label in enumerate(present):
        holders = [i for i, mine in enumerate(owned) if j in mine]
        if not holders:
            continue
        idx = rng.permutation(np.flatnonzero(dataset.y_train == label))
        if len(idx) < len(holders):
            raise ValueError(f"class {label} has {len(idx)} samples but {len(holders)} clients would share "
                             f"it; use fewer clients or more classes_per_client")
        for i, chunk in zip(holders, np.array_split(idx, len(holders)), strict=True):
            parts[i].append(chunk)
    return [np.concatenate(p) for p in parts]


def dirichlet_parts(dataset: Dataset, num_clients: int, alpha: float, rng: np.random.Generator,
               tries: int = 100) -> list[np.ndarray]:
    """Per-class Dirichlet(alpha) proportions over the clients, redrawn while some client is empty."""
    if not alpha > 0:
        raise ValueError(f"dirichlet_alpha must be > 0, got {alpha!r}")
    by_class = [np.flatnonzero(dataset.y_train == label) for label in np.unique(dataset.y_train)]
    best: list[np.ndarray] | None = None
    for _ in range(tries):  # resample while some client is empty, as NIID-Bench does
        parts: list[list[np.ndarray]] = [[] for _ in range(num_clients)]
        for idx in by_class:
            idx = rng.permutation(idx)
            props = rng.dirichlet(np.full(num_clients, alpha))
            cuts = np.round(np.cumsum(props)[:-1] * len(idx)).astype(np.int64)
            for i, chunk in enumerate(np.split(idx, cuts)):
                parts[i].append(chunk)
        merged = [np.concatenate(p) for p in parts]
        if best is None or count_empty(merged) < count_empty(best):
            best = merged
        if count_empty(best) == 0:
            return best
    # Tiny alpha with many clients rarely fills everyone: move single samples from the largest clients.
    assert best is not None
    return fill_empty(best, rng)


def count_empty(parts: list[np.ndarray]) -> int:
    """How many clients hold no sample."""
    return sum(len(p) == 0 for p in parts)


def size_imbalance_parts(n: int, num_clients: int, sigma: float,
                         rng: np.random.Generator) -> list[np.ndarray]:
    """IID labels, client sizes in proportion to lognormal(0, sigma) weights (at least one sample each)."""
    if not sigma >= 0:
        raise ValueError(f"size_sigma must be >= 0, got {sigma!r}")
    weights = rng.lognormal(0.0, sigma, num_clients)
    # one sample each, the rest in proportion to the weights (largest remainders get the leftovers)
    share = weights / weights.sum() * (n - num_clients)
    sizes = np.floor(share).astype(np.int64) + 1
    leftover = n - sizes.sum()
    sizes[np.argsort(share - np.floor(share))[::-1][:leftover]] += 1
    return np.split(rng.permutation(n), np.cumsum(sizes)[:-1])
