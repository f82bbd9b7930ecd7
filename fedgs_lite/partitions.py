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

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from fedgs_lite.checks import canonical_name
from fedgs_lite.data import Dataset, load_dataset

SCHEMES = ("iid", "label_skew", "dirichlet", "size_imbalance", "dirichlet_lognormal", "natural")

# The authors' `dist 4` task generator (easyFL's DefaultTaskGen, which FedGS builds its tasks with):
# Dirichlet alpha = max((-4 ln(skew + 1e-7))^4, 0.01), and the label mix is redrawn until the
# size-weighted mean label distribution is within a squared error of 1e-2 / C of the global one.
SKEW_EPSILON = 1e-7           # their `10e-8`
MIN_DIRICHLET_ALPHA = 0.01    # their MIN_ALPHA
_REBALANCE_TOLERANCE = 1e-2   # divided by the number of classes


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
    lognormal(size_sigma) sizes, see `dirichlet_lognormal_parts`); its alpha is
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
        fed = _natural(dataset, num_clients)
        if fed.valid_indices is not None:
            if holdout:
                raise ValueError(f"{dataset.name!r} already holds a per-client validation split "
                                 f"(make_synthetic(split='authors')); pass holdout=0")
            return fed
        return _hold_out(fed, holdout, rng)
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
    elif scheme == "dirichlet_lognormal":
        alpha = dirichlet_alpha if skew is None else dirichlet_alpha_from_skew(skew)
        parts = dirichlet_lognormal_parts(dataset.y_train, num_clients, alpha, rng, size_sigma=size_sigma)
    else:
        parts = _size_imbalance(n, num_clients, size_sigma, rng)
    indices = tuple(np.sort(np.asarray(p, dtype=np.int64)) for p in parts)
    return _hold_out(FederatedDataset(dataset=dataset, client_indices=indices, scheme=scheme), holdout, rng)


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
    return _fill_empty(best, rng)


def _fill_empty(parts: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """Give every empty client one sample, taken at random from the currently largest client."""
    for i in range(len(parts)):
        if len(parts[i]) == 0:
            donor = int(np.argmax([len(p) for p in parts]))
            take = int(rng.integers(len(parts[donor])))
            parts[i] = parts[donor][take:take + 1]
            parts[donor] = np.delete(parts[donor], take)
    return parts


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


# --------------------------------------------------------------------------- the authors' dist 4

def dirichlet_alpha_from_skew(skew: float) -> float:
    """The Dirichlet concentration of the authors' `dist 4` task of skewness `skew` in [0, 1].

    alpha = (-4 ln(skew + 1e-7))^4, at least 0.01: skew 0.1, 0.7, 0.8, 0.9 give about 7196, 4.14,
    0.63, 0.03 (the x axis of their heterogeneity figure). Larger skew, smaller alpha, more label skew.
    """
    if isinstance(skew, bool) or not isinstance(skew, int | float | np.floating) or not 0 <= skew <= 1:
        raise ValueError(f"skew must be a number in [0, 1], got {skew!r}")
    return max((-4.0 * math.log(float(skew) + SKEW_EPSILON)) ** 4, MIN_DIRICHLET_ALPHA)


def lognormal_client_sizes(total: int, num_clients: int, rng: np.random.Generator,
                           sigma: float = 1.0) -> np.ndarray:
    """Client sizes as the authors' `dist 4` draws them: lognormal(ln(total / N) - sigma^2 / 2, sigma),
    floored, then pushed to sum exactly to `total` by their rules, which also trim both tails.

    Their rules, with big = 10% and step = 1% of the total: while the sizes overshoot by >= big, the
    largest client is replaced by the smallest of N fresh draws (their code picks the draw that
    minimises the new total); by >= step, the largest loses step; by less, the largest loses the
    rest. While they fall short by >= step, the smallest gains step; by less, the smallest gains the
    rest. Deviations: big and step are at least 1 (theirs loop forever on totals under 100) and
    every client keeps at least one sample.
    """
    if not sigma >= 0:
        raise ValueError(f"size_sigma must be >= 0, got {sigma!r}")
    if num_clients > total:
        raise ValueError(f"cannot give {num_clients} clients at least one sample each from {total}")
    mu = math.log(total / num_clients) - sigma**2 / 2.0  # mean size total / N
    sizes = rng.lognormal(mu, sigma, num_clients).astype(np.int64)
    big = max(int(0.1 * total), 1)
    step = max(int(0.1 * big), 1)
    while (excess := int(sizes.sum()) - total) != 0:
        if excess >= big:
            sizes[np.argmax(sizes)] = int(rng.lognormal(mu, sigma, num_clients).min())
        elif excess > 0:
            sizes[np.argmax(sizes)] -= min(step, excess)
        else:
            sizes[np.argmin(sizes)] += min(step, -excess)
    while sizes.min() < 1:  # not in theirs: a floored draw of 0 would leave a client empty
        sizes[np.argmin(sizes)] += 1
        sizes[np.argmax(sizes)] -= 1
    return sizes


def dirichlet_lognormal_parts(labels: np.ndarray, num_clients: int, alpha: float, rng: np.random.Generator,
                              *, size_sigma: float = 1.0, max_rebalance: int | None = None
                              ) -> list[np.ndarray]:
    """The authors' `dist 4` partition of samples with these `labels`: per-client indices.

    1. sizes s_i = lognormal_client_sizes(n, N, sigma=size_sigma);
    2. each client draws a label mix q_i ~ Dirichlet(alpha * p), p the global label distribution;
    3. while the size-weighted mean mix sum_i s_i q_i / n is further than a squared error of 1e-2 / C
       from p, one client after another (smallest first) swaps its q_i for the best of N fresh draws;
    4. every class c is cut among the clients in proportion to q_i[c] * s_i (cut points floored).
    Every sample goes to exactly one client. Deviations from their code: samples of a class are
    shuffled before the cut (theirs cut in dataset order); step 3 stops after `max_rebalance` swaps
    (default 100 N) keeping the best mix seen, where theirs may loop forever (few clients, tiny
    alpha); a client left empty gets one sample from the largest.
    """
    labels = np.asarray(labels)
    if not (np.isfinite(alpha) and alpha > 0):
        raise ValueError(f"dirichlet_alpha must be > 0, got {alpha!r}")
    n = len(labels)
    classes, counts = np.unique(labels, return_counts=True)
    p = counts / n
    sizes = lognormal_client_sizes(n, num_clients, rng, sigma=size_sigma).astype(np.float64)
    concentration = alpha * p

    def draw(k: int) -> np.ndarray:
        q = rng.dirichlet(concentration, size=k)
        for _ in range(100):  # tiny concentrations may underflow to an all-zero (or NaN) row: redraw it
            bad = ~np.isfinite(q).all(axis=1) | (q.sum(axis=1) <= 0)
            if not bad.any():
                return q
            q[bad] = rng.dirichlet(concentration, size=int(bad.sum()))
        raise ValueError(f"Dirichlet(alpha={alpha:g} * p) keeps giving degenerate draws; use a larger alpha")

    def error(weighted: np.ndarray) -> np.ndarray:
        mix = weighted / weighted.sum(axis=-1, keepdims=True)
        return ((mix - p) ** 2).sum(axis=-1)

    q = draw(num_clients)
    weighted = sizes @ q
    tolerance = _REBALANCE_TOLERANCE / len(classes)
    best_q, best_err = q.copy(), float(error(weighted))
    order = np.argsort(sizes, kind="stable")
    limit = 100 * num_clients if max_rebalance is None else max_rebalance
    for swap in range(limit):
        if best_err <= tolerance:
            break
        i = order[swap % num_clients]
        candidates = draw(num_clients)
        rest = weighted - sizes[i] * q[i]
        errs = error(rest[None, :] + sizes[i] * candidates)
        j = int(np.argmin(errs))
        q[i] = candidates[j]  # taken even when worse, as theirs; the best mix seen is kept below
        weighted = rest + sizes[i] * candidates[j]
        if errs[j] < best_err:
            best_q, best_err = q.copy(), float(errs[j])
    parts: list[list[np.ndarray]] = [[] for _ in range(num_clients)]
    for c, label in enumerate(classes):
        idx = rng.permutation(np.flatnonzero(labels == label))
        share = best_q[:, c] * sizes
        share = share / share.sum() if share.sum() > 0 else sizes / sizes.sum()
        cuts = (np.cumsum(share) * len(idx)).astype(np.int64)[:-1]
        for i, chunk in enumerate(np.split(idx, cuts)):
            parts[i].append(chunk)
    return _fill_empty([np.concatenate(part) for part in parts], rng)


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
