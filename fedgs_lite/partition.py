"""Federated partitions: split a Dataset's training set among N clients (IID or one of four non-IID ways).

Every scheme assigns each training sample to at most one client; all schemes assign every sample,
except `label_skew` when N * k < C (the classes nobody holds are dropped) and `natural`, which keeps
the dataset's own clients.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ._plot import figure_and_axes
from .data import Dataset

SCHEMES = ("iid", "label_skew", "dirichlet", "size_imbalance", "natural")


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
        hist = self.label_histograms.astype(np.float64)
        totals = hist.sum(axis=1, keepdims=True)
        # an empty client (only possible in a hand-built FederatedDataset) gets a uniform row
        return np.divide(hist, totals, out=np.full_like(hist, 1.0 / hist.shape[1]), where=totals > 0)

    def client_data(self, client: int) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) training arrays of one client."""
        idx = self.client_indices[client]
        return self.dataset.x_train[idx], self.dataset.y_train[idx]

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


def plot_partition(fed: FederatedDataset, ax=None, *, normalize: bool = False):
    """Stacked bars: one bar per client, one colour per class (counts, or shares with normalize=True)."""
    import matplotlib as mpl

    fig, ax = figure_and_axes(ax, (max(6.0, min(16.0, 0.18 * fed.num_clients + 3)), 3.6))
    values = fed.label_distributions if normalize else fed.label_histograms
    c = fed.dataset.num_classes
    cmap = mpl.colormaps["tab10" if c <= 10 else "tab20"]
    x = np.arange(fed.num_clients)
    bottom = np.zeros(fed.num_clients)
    for label in range(c):
        ax.bar(x, values[:, label], bottom=bottom, width=0.85, color=cmap(label % cmap.N),
               label=str(label), linewidth=0)
        bottom += values[:, label]
    ax.set_xlabel("client")
    ax.set_ylabel("share of samples" if normalize else "samples")
    ax.set_title(f"{fed.dataset.name}: {fed.scheme} partition, {fed.num_clients} clients")
    ax.set_xlim(-0.6, fed.num_clients - 0.4)
    ax.legend(title="class", fontsize="small", ncols=1 if c <= 10 else 2, loc="upper left",
              bbox_to_anchor=(1.0, 1.0), frameon=False)
    return fig
