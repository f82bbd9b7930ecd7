"""Federated partitions: split a Dataset's training set among N clients (IID or one of five non-IID ways).

Every scheme assigns each training sample to at most one client; all schemes assign every sample,
except `label_skew` when N * k < C (the classes nobody holds are dropped) and `natural`, which keeps
the dataset's own clients. `federate` loads a dataset and partitions it in one call (scheme "auto":
the natural clients of synthetic data, label_skew otherwise); `label_distributions` is the one rule
for a client's label shares.

`holdout` keeps a fraction of every client's samples as that client's validation set, the authors'
per-client hold-out (`local_hld_rate = 0.2` on their image tasks); `client_indices` are then the
training parts and `valid_indices` the held-out parts. The default 0 holds nothing out.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from fedgs_lite.checks import canonical_name
from fedgs_lite.data import Dataset, load_dataset
from fedgs_lite.partitions_dist4 import dirichlet_alpha_from_skew, dirichlet_lognormal_parts
from fedgs_lite.partitions_schemes import dirichlet_parts, label_skew_parts, size_imbalance_parts

SCHEMES = ("iid", "label_skew", "dirichlet", "size_imbalance", "dirichlet_lognormal", "natural")


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
    """A Dataset plus each client's train indices and (optionally) held-out validation indices, all
    disjoint. `sizes` and the label statistics count the training parts, as the authors' data volumes."""

    dataset: Dataset
    client_indices: tuple[np.ndarray, ...]
    scheme: str
    valid_indices: tuple[np.ndarray, ...] | None = None  # per-client validation parts (None: no hold-out)

    @property
    def num_clients(self) -> int:
        return len(self.client_indices)

    @cached_property
    def sizes(self) -> np.ndarray:
        return np.array([len(idx) for idx in self.client_indices], dtype=np.int64)

    @cached_property
    def valid_sizes(self) -> np.ndarray:
        """Each client's number of held-out validation samples (zeros without a hold-out)."""
        if self.valid_indices is None:
            return np.zeros(self.num_clients, dtype=np.int64)
        return np.array([len(idx) for idx in self.valid_indices], dtype=np.int64)

    @cached_property
    def label_histograms(self) -> np.ndarray:
        y, c = self.dataset.y_train, self.dataset.num_classes
        return np.stack([np.bincount(y[idx], minlength=c) for idx in self.client_indices]).astype(np.int64)

    @cached_property
    def label_distributions(self) -> np.ndarray:
        return label_distributions(self.label_histograms)

    @cached_property
    def valid_label_histograms(self) -> np.ndarray:
        """(N, C) label counts of the validation parts (zeros without a hold-out)."""
        if self.valid_indices is None:
            return np.zeros_like(self.label_histograms)
        y, c = self.dataset.y_train, self.dataset.num_classes
        return np.stack([np.bincount(y[idx], minlength=c) for idx in self.valid_indices]).astype(np.int64)

    def client_valid_data(self, client: int) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) held-out validation arrays of one client (empty without a hold-out)."""
        idx = np.zeros(0, np.int64) if self.valid_indices is None else self.valid_indices[client]
        return self.dataset.x_train[idx], self.dataset.y_train[idx]

    def __repr__(self) -> str:
        s = self.sizes
        valid = "" if self.valid_indices is None else f", validation={self.valid_sizes.sum()}"
        return (f"FederatedDataset({self.dataset.name!r}, scheme={self.scheme!r}, "
                f"clients={self.num_clients}, sizes {s.min()}..{s.max()}, assigned={s.sum()}{valid})")


def partition(dataset: Dataset, num_clients: int, scheme: str = "iid", *, rng: np.random.Generator,
              classes_per_client: int = 2, dirichlet_alpha: float = 0.5, size_sigma: float = 1.0,
              skew: float | None = None, holdout: float = 0.0) -> FederatedDataset:
    """Split `dataset`'s training set among `num_clients` clients with `scheme` (one of SCHEMES).

    label_skew: each client holds exactly `classes_per_client` classes (the paper's setting, the
    authors' `dist 1`); each class's samples are split evenly among its holders. dirichlet: per-class
    Dirichlet(alpha) proportions over clients (smaller alpha, more skew). size_imbalance: IID labels,
    lognormal(0, size_sigma) sizes. dirichlet_lognormal: the authors' `dist 4` (label skew and
    lognormal(size_sigma) sizes, partitions_dist4.py); its alpha is
    `dirichlet_alpha_from_skew(skew)` when `skew` is given, else `dirichlet_alpha`. natural: the
    dataset's own clients (synthetic).

    holdout: fraction of each client's samples kept as its validation set (`valid_indices`), split as
    the authors do: shuffle the client's samples, the first int(n * (1 - holdout)) train, the rest
    validate (at least one sample stays for training). A dataset with its own natural validation
    split (make_synthetic(split="authors")) brings it along instead; holdout must then stay 0.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"unknown partition scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
    if isinstance(holdout, bool) or not (isinstance(holdout, int | float) and 0 <= holdout < 1):
        raise ValueError(f"holdout must be a fraction in [0, 1), got {holdout!r}")
    if scheme == "natural":
        return _natural_held_out(dataset, num_clients, holdout, rng)
    parts = client_parts(dataset, num_clients, scheme, rng, classes_per_client=classes_per_client,
                         dirichlet_alpha=dirichlet_alpha, size_sigma=size_sigma, skew=skew)
    indices = tuple(np.sort(np.asarray(p, dtype=np.int64)) for p in parts)
    return _hold_out(FederatedDataset(dataset=dataset, client_indices=indices, scheme=scheme), holdout, rng)


def client_parts(dataset: Dataset, num_clients: int, scheme: str, rng: np.random.Generator, *,
                 classes_per_client: int = 2, dirichlet_alpha: float = 0.5, size_sigma: float = 1.0,
                 skew: float | None = None) -> list[np.ndarray]:
    """Each client's training-sample indices under `scheme` (any scheme but "natural"), unsorted."""
    n = len(dataset.y_train)
    if not isinstance(num_clients, int | np.integer) or num_clients < 1:
        raise ValueError(f"num_clients must be a positive int, got {num_clients!r}")
    if num_clients > n:
        raise ValueError(f"cannot give {num_clients} clients at least one sample each: "
                         f"{dataset.name!r} has only {n} training samples")
    if scheme == "iid":
        return np.array_split(rng.permutation(n), num_clients)
    if scheme == "label_skew":
        return label_skew_parts(dataset, num_clients, classes_per_client, rng)
    if scheme == "dirichlet":
        return dirichlet_parts(dataset, num_clients, dirichlet_alpha, rng)
    if scheme == "dirichlet_lognormal":
        alpha = dirichlet_alpha if skew is None else dirichlet_alpha_from_skew(skew)
        return dirichlet_lognormal_parts(dataset.y_train, num_clients, alpha, rng, size_sigma=size_sigma)
    return size_imbalance_parts(n, num_clients, size_sigma, rng)


def _natural_held_out(dataset: Dataset, num_clients: int, holdout: float,
                      rng: np.random.Generator) -> FederatedDataset:
    fed = _natural(dataset, num_clients)
    if fed.valid_indices is None:
        return _hold_out(fed, holdout, rng)
    if holdout:
        raise ValueError(f"{dataset.name!r} already holds a per-client validation split "
                         f"(make_synthetic(split='authors')); pass holdout=0")
    return fed


def _hold_out(fed: FederatedDataset, holdout: float, rng: np.random.Generator) -> FederatedDataset:
    """The authors' local hold-out: per client, shuffle, keep int(n * (1 - holdout)) for training."""
    if holdout == 0:
        return fed
    train, valid = [], []
    for idx in fed.client_indices:
        shuffled = rng.permutation(idx)
        # the authors' int(n * rate); a client of one sample keeps it for training (theirs would be empty)
        k = max(1, int(len(idx) * (1 - holdout)))
        train.append(np.sort(shuffled[:k]))
        valid.append(np.sort(shuffled[k:]))
    return FederatedDataset(dataset=fed.dataset, client_indices=tuple(train), scheme=fed.scheme,
                            valid_indices=tuple(valid))


def _natural(dataset: Dataset, num_clients: int | None) -> FederatedDataset:
    if dataset.natural_clients is None:
        raise ValueError(f"scheme 'natural' needs a dataset with natural clients; {dataset.name!r} has "
                         f"none (only 'synthetic' does). Use one of {', '.join(SCHEMES[:-1])}.")
    k = len(dataset.natural_clients)
    if num_clients is not None and num_clients != k:
        raise ValueError(f"{dataset.name!r} has {k} natural clients but num_clients={num_clients}; "
                         f"pass num_clients={k} or regenerate it (make_synthetic(num_clients=...))")
    indices = tuple(np.asarray(i, dtype=np.int64) for i in dataset.natural_clients)
    valid = None if dataset.natural_valid is None else tuple(
        np.asarray(i, dtype=np.int64) for i in dataset.natural_valid)
    return FederatedDataset(dataset=dataset, client_indices=indices, scheme="natural", valid_indices=valid)


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
             synthetic_alpha: float = 0.5, synthetic_beta: float = 0.5, synthetic: dict | None = None,
             **scheme_options) -> FederatedDataset:
    """Load `dataset` and split it among `num_clients` clients: the one load-and-partition of the kit.

    `seed` draws the dataset (synthetic generation, the digits split), `rng` the partition (default:
    `default_rng(seed)`). Synthetic data is generated with one natural client per requested client;
    `synthetic` adds make_synthetic's size and split options (e.g. data.SYNTHETIC_PAPER).
    `scheme_options` go to `partition` (classes_per_client, dirichlet_alpha, skew, size_sigma, holdout).
    """
    key = canonical_name(dataset)
    options = {}
    if key == "synthetic":
        options = dict(num_clients=num_clients, alpha=synthetic_alpha, beta=synthetic_beta,
                       **(synthetic or {}))
    data = load_dataset(key, root, download=download, seed=seed, **options)
    rng = np.random.default_rng(seed) if rng is None else rng
    return partition(data, num_clients, resolve_scheme(scheme, key), rng=rng, **scheme_options)
