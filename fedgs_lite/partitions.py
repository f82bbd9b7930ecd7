"""Federated partitions: split a Dataset's training set among N clients (IID or one of four non-IID ways).

Every scheme assigns each training sample to at most one client; all schemes assign every sample,
except `label_skew` when N * k < C (the classes nobody holds are dropped) and `natural`, which keeps
the dataset's own clients. `federate` loads a dataset and partitions it in one call (scheme "auto":
the natural clients of synthetic data, label_skew otherwise); `label_distributions` is the one rule
for a client's label shares.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from fedgs_lite.checks import canonical_name
from fedgs_lite.data import Dataset, load_dataset

SCHEMES = ("iid", "label_skew", "dirichlet", "size_imbalance", "natural")


def label_distributions(label_histograms: np.ndarray) -> np.ndarray:
    """(N, C) label shares: each row of the histograms divided by its total; a client without samples
    keeps a zero row (it holds no label)."""
    h = np.asarray(label_histograms, dtype=np.float64)
    if h.ndim != 2:
        raise ValueError(f"label histograms must be an (N, C) array, got shape {h.shape}")
    if not np.all(np.isfinite(h)) or np.any(h < 0):
        raise ValueError("label histograms must be finite and non-negative")
    totals = h.sum(axis=1, keepdims=True)
    return np.divide(h, totals, out=np.zeros_like(h), where=totals > 0)


@dataclass(frozen=True, eq=False)
class FederatedDataset:
    """A Dataset plus each client's train indices (disjoint)."""

    dataset: Dataset
    client_indices: tuple[np.ndarray, ...]
    scheme: str

    @property
    def num_clients(self) -> int:
        return len(self.client_indices)

    @cached_property
    def sizes(self) -> np.ndarray:
        return np.array([len(idx) for idx in self.client_indices], dtype=np.int64)

    @cached_property
    def label_histograms(self) -> np.ndarray:
        y, c = self.dataset.y_train, self.dataset.num_classes
        return np.stack([np.bincount(y[idx], minlength=c) for idx in self.client_indices]).astype(np.int64)

    @cached_property
    def label_distributions(self) -> np.ndarray:
        return label_distributions(self.label_histograms)

    def __repr__(self) -> str:
        s = self.sizes
        return (f"FederatedDataset({self.dataset.name!r}, scheme={self.scheme!r}, "
                f"clients={self.num_clients}, sizes {s.min()}..{s.max()}, assigned={s.sum()})")


def partition(dataset: Dataset, num_clients: int, scheme: str = "iid", *, rng: np.random.Generator,
              classes_per_client: int = 2, dirichlet_alpha: float = 0.5,
              size_sigma: float = 1.0) -> FederatedDataset:
    """Split `dataset`'s training set among `num_clients` clients with `scheme` (one of SCHEMES).

    label_skew: each client holds exactly `classes_per_client` classes (the paper's setting); each
    class's samples are split evenly among its holders. dirichlet: per-class Dirichlet(alpha)
    proportions over clients (smaller alpha, more skew). size_imbalance: IID labels, lognormal(0,
    size_sigma) sizes. natural: the dataset's own clients (synthetic).
    """
    if scheme not in SCHEMES:
        raise ValueError(f"unknown partition scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
    if scheme == "natural":
        return _natural(dataset, num_clients)
    n = len(dataset.y_train)
    if not isinstance(num_clients, int | np.integer) or num_clients < 1:
        raise ValueError(f"num_clients must be a positive int, got {num_clients!r}")
    if num_clients > n:
        raise ValueError(f"cannot give {num_clients} clients at least one sample each: "
                         f"{dataset.name!r} has only {n} training samples")
    if scheme == "iid":
        parts = np.array_split(rng.permutation(n), num_clients)
    elif scheme == "label_skew":
        parts = _label_skew(dataset, num_clients, classes_per_client, rng)
    elif scheme == "dirichlet":
        parts = _dirichlet(dataset, num_clients, dirichlet_alpha, rng)
    else:
        parts = _size_imbalance(n, num_clients, size_sigma, rng)
    indices = tuple(np.sort(np.asarray(p, dtype=np.int64)) for p in parts)
    return FederatedDataset(dataset=dataset, client_indices=indices, scheme=scheme)


def _natural(dataset: Dataset, num_clients: int | None) -> FederatedDataset:
    if dataset.natural_clients is None:
        raise ValueError(f"scheme 'natural' needs a dataset with natural clients; {dataset.name!r} has "
                         f"none (only 'synthetic' does). Use one of {', '.join(SCHEMES[:-1])}.")
    k = len(dataset.natural_clients)
    if num_clients is not None and num_clients != k:
        raise ValueError(f"{dataset.name!r} has {k} natural clients but num_clients={num_clients}; "
                         f"pass num_clients={k} or regenerate it (make_synthetic(num_clients=...))")
    indices = tuple(np.asarray(i, dtype=np.int64) for i in dataset.natural_clients)
    return FederatedDataset(dataset=dataset, client_indices=indices, scheme="natural")


def _assign_classes(num_clients: int, num_classes: int, k: int, rng: np.random.Generator) -> list[list[int]]:
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


def _label_skew(dataset: Dataset, num_clients: int, k: int, rng: np.random.Generator) -> list[np.ndarray]:
    present = np.unique(dataset.y_train)
    c = len(present)
    if not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"classes_per_client must be an int >= 1, got {k!r}")
    if k > c:
        raise ValueError(f"classes_per_client={k} exceeds the {c} classes present in {dataset.name!r}")
    owned = _assign_classes(num_clients, c, k, rng)
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


def _dirichlet(dataset: Dataset, num_clients: int, alpha: float, rng: np.random.Generator,
               tries: int = 100) -> list[np.ndarray]:
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
        if best is None or _empty(merged) < _empty(best):
            best = merged
        if _empty(best) == 0:
            return best
    # Tiny alpha with many clients rarely fills everyone: move single samples from the largest clients.
    assert best is not None
    for i in range(num_clients):
        if len(best[i]) == 0:
            donor = int(np.argmax([len(p) for p in best]))
            take = int(rng.integers(len(best[donor])))
            best[i] = best[donor][take:take + 1]
            best[donor] = np.delete(best[donor], take)
    return best


def _empty(parts: list[np.ndarray]) -> int:
    return sum(len(p) == 0 for p in parts)


def _size_imbalance(n: int, num_clients: int, sigma: float, rng: np.random.Generator) -> list[np.ndarray]:
    if not sigma >= 0:
        raise ValueError(f"size_sigma must be >= 0, got {sigma!r}")
    weights = rng.lognormal(0.0, sigma, num_clients)
    # one sample each, the rest in proportion to the weights (largest remainders get the leftovers)
    share = weights / weights.sum() * (n - num_clients)
    sizes = np.floor(share).astype(np.int64) + 1
    leftover = n - sizes.sum()
    sizes[np.argsort(share - np.floor(share))[::-1][:leftover]] += 1
    return np.split(rng.permutation(n), np.cumsum(sizes)[:-1])


def describe(fed: FederatedDataset) -> str:
    """A few lines summarising a partition: sizes, classes per client, label skew."""
    sizes = fed.sizes
    labels_per_client = (fed.label_histograms > 0).sum(axis=1)
    p = fed.label_distributions
    entropy = -(p * np.log(np.where(p > 0, p, 1.0))).sum(axis=1)
    total = len(fed.dataset.y_train)
    return "\n".join([
        f"{fed.dataset.name} / {fed.scheme}: {fed.num_clients} clients, {sizes.sum()} of {total} "
        f"training samples assigned",
        f"sizes: min {sizes.min()}, median {int(np.median(sizes))}, max {sizes.max()}, "
        f"mean {sizes.mean():.1f} (cv {sizes.std() / sizes.mean():.2f})",
        f"classes per client: min {labels_per_client.min()}, mean {labels_per_client.mean():.1f}, "
        f"max {labels_per_client.max()} of {fed.dataset.num_classes}",
        f"label entropy per client: mean {entropy.mean():.2f} nats "
        f"(uniform over all classes: {np.log(fed.dataset.num_classes):.2f})",
    ])


def resolve_scheme(scheme: str, dataset: str) -> str:
    """The scheme "auto" stands for: the natural clients of synthetic data, label_skew otherwise."""
    if scheme != "auto":
        return scheme
    return "natural" if canonical_name(dataset) == "synthetic" else "label_skew"


def federate(dataset: str, num_clients: int, scheme: str = "auto", *, seed: int = 0,
             rng: np.random.Generator | None = None, root=None, download: bool = True,
             synthetic_alpha: float = 0.5, synthetic_beta: float = 0.5, **scheme_options) -> FederatedDataset:
    """Load `dataset` and split it among `num_clients` clients: the one load-and-partition of the kit.

    `seed` draws the dataset (synthetic generation, the digits split), `rng` the partition (default:
    `default_rng(seed)`). Synthetic data is generated with one natural client per requested client.
    `scheme_options` go to `partition` (classes_per_client, dirichlet_alpha, size_sigma).
    """
    key = canonical_name(dataset)
    options = {}
    if key == "synthetic":
        options = dict(num_clients=num_clients, alpha=synthetic_alpha, beta=synthetic_beta)
    data = load_dataset(key, root, download=download, seed=seed, **options)
    rng = np.random.default_rng(seed) if rng is None else rng
    return partition(data, num_clients, resolve_scheme(scheme, key), rng=rng, **scheme_options)
