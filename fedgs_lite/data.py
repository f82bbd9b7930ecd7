"""Datasets: the FedProx Synthetic(alpha, beta) generator and four real image datasets, read offline.

Real datasets are read from the data folders (`readers.resolve_data_roots`: the repo's `data/`, `./data`,
the `root` argument and `$FEDGS_DATA`; see `data/README.md` for the accepted layouts); only when none
holds the files and `download=True` does torchvision fetch them. Nothing ever falls back to another
dataset silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fedgs_lite.checks import canonical_name, is_int
from fedgs_lite.readers import (
    CIFAR_FULL_DIR,
    CIFAR_FULL_FILES,
    CIFAR_SUBSET,
    DIGITS,
    IDX_DIRS,
    IDX_FILES,
    find_cifar_full,
    find_file,
    find_idx,
    missing_error,
    normalise,
    read_cifar_full,
    read_cifar_subset,
    read_digits,
    read_idx_split,
    sklearn_digits_path,
    torchvision_download,
)

DATASETS = ("synthetic", "digits", "mnist", "fashion_mnist", "cifar10")


@dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test split held as numpy arrays (x float32 normalised, y int64)."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    natural_clients: tuple[np.ndarray, ...] | None = None  # per-client train indices (synthetic only)
    note: str = ""
    natural_valid: tuple[np.ndarray, ...] | None = None    # per-client validation indices into x_train
    local_optima: np.ndarray | None = None  # (N, dim + 1, C): each natural client's generating model

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.x_train.shape[1:])

    def __repr__(self) -> str:
        natural = "" if self.natural_clients is None else f", natural_clients={len(self.natural_clients)}"
        note = f", note={self.note!r}" if self.note else ""
        return (f"Dataset(name={self.name!r}, train={len(self.y_train)}, test={len(self.y_test)}, "
                f"input_shape={self.input_shape}, num_classes={self.num_classes}{natural}{note})")


# --------------------------------------------------------------------------- synthetic

SYNTHETIC_SPLITS = ("demo", "authors")

# The authors' Synthetic(0.5, 0.5) task (their `synthetic_regression ... dist10`, easyFL's generator):
# client sizes lognormal(4, 2) + 50, uncapped (max/min about 43x on 30 clients), and every client's
# samples split 75/15/10 train/validation/test, the test parts pooled at the server.
#     load_dataset("synthetic", seed=0, **SYNTHETIC_PAPER)  or  make_synthetic(rng=..., **SYNTHETIC_PAPER)
SYNTHETIC_PAPER: dict = dict(size_mu=4.0, size_sigma=2.0, min_samples=50, max_samples=None, split="authors")
# The kit's milder demo default (what make_synthetic() gives): sizes lognormal(4, 1) + 50 capped at
# 1000 (about 4000 samples on 30 clients, so CPU runs stay fast) and 20% of each client for the test set.
SYNTHETIC_DEMO: dict = dict(size_mu=4.0, size_sigma=1.0, min_samples=50, max_samples=1000, split="demo")
_AUTHORS_TRAIN, _AUTHORS_VALID_END = 0.75, 0.90  # cut points of each client's samples


def make_synthetic(num_clients: int = 30, alpha: float = 0.5, beta: float = 0.5, *, dim: int = 60,
                   num_classes: int = 10, rng: np.random.Generator, test_fraction: float | None = None,
                   size_mu: float = 4.0, size_sigma: float = 1.0, min_samples: int = 50,
                   max_samples: int | None = 1000, split: str = "demo") -> Dataset:
    """FedProx's Synthetic(alpha, beta) (Li et al. 2020), one natural client per generated device.

    alpha controls how much the local models differ, beta how much the local inputs differ (both used
    as standard deviations, as in the FedProx generator). Client sizes are lognormal(size_mu,
    size_sigma) + min_samples, capped at max_samples (None: uncapped). The defaults are the kit's
    demo setting (SYNTHETIC_DEMO); `**SYNTHETIC_PAPER` gives the authors' sizes and split.

    split="demo": each client keeps round(test_fraction * n) (default 0.2, at least 1) random samples
    for the pooled test set. split="authors": each client's samples, in generation order, are cut at
    int(0.75 n) and int(0.9 n) into train, validation (`natural_valid`, indices into x_train) and test
    (pooled into x_test), as the authors' generator does. Each client's own model (W_k as a dim x C
    matrix with b_k as one more row, the authors' layout) is in `local_optima`.
    """
    check_synthetic_args(num_clients, alpha, beta, dim, num_classes, test_fraction, size_mu, size_sigma,
                         min_samples, max_samples, split)
    test_fraction = 0.2 if test_fraction is None else test_fraction
    sizes = rng.lognormal(size_mu, size_sigma, num_clients).astype(np.int64) + min_samples
    if max_samples is not None:
        sizes = np.minimum(sizes, max_samples)
    u = rng.normal(0.0, alpha, num_clients)        # mean of W_k and b_k
    big_b = rng.normal(0.0, beta, num_clients)     # mean of v_k
    std_x = np.arange(1, dim + 1, dtype=np.float64) ** -0.6  # Sigma_jj = j^-1.2, diagonal

    x_tr, y_tr, x_te, y_te, natural, valid, optima = [], [], [], [], [], [], []
    offset = 0
    for k in range(num_clients):
        v = rng.normal(big_b[k], 1.0, dim)
        w = rng.normal(u[k], 1.0, (num_classes, dim))
        b = rng.normal(u[k], 1.0, num_classes)
        optima.append(np.vstack([w.T, b[None, :]]))
        x = v + rng.standard_normal((sizes[k], dim)) * std_x
        y = np.argmax(x @ w.T + b, axis=1)
        if split == "authors":  # i.i.d. draws, so generation order is as random as a shuffle
            n_train, n_fit = int(_AUTHORS_TRAIN * sizes[k]), int(_AUTHORS_VALID_END * sizes[k])
            test, train = np.arange(n_fit, sizes[k]), np.arange(n_fit)
        else:
            n_test = max(1, int(round(test_fraction * sizes[k])))
            perm = rng.permutation(sizes[k])
            test, train = perm[:n_test], perm[n_test:]
            n_train = len(train)
        x_tr.append(x[train].astype(np.float32))  # float32 per client: the float64 set is never whole
        y_tr.append(y[train])
        x_te.append(x[test].astype(np.float32))
        y_te.append(y[test])
        natural.append(np.arange(offset, offset + n_train, dtype=np.int64))
        valid.append(np.arange(offset + n_train, offset + len(train), dtype=np.int64))
        offset += len(train)

    split_note = ", the authors' 75/15/10 split" if split == "authors" else ""
    return Dataset(
        name="synthetic",
        x_train=np.concatenate(x_tr),
        y_train=np.concatenate(y_tr).astype(np.int64),
        x_test=np.concatenate(x_te),
        y_test=np.concatenate(y_te).astype(np.int64),
        num_classes=num_classes,
        natural_clients=tuple(natural),
        note=f"Synthetic({alpha:g}, {beta:g}), {num_clients} clients{split_note}",
        natural_valid=tuple(valid) if split == "authors" else None,
        local_optima=np.stack(optima),
    )


def check_synthetic_args(num_clients, alpha, beta, dim, num_classes, test_fraction, size_mu, size_sigma,
                         min_samples, max_samples, split) -> None:
    """make_synthetic's arguments, each a ValueError naming it: NaN or inf would make every label 0."""
    numbers = dict(alpha=alpha, beta=beta, size_mu=size_mu, size_sigma=size_sigma)
    if test_fraction is not None:
        numbers["test_fraction"] = test_fraction
    bad = [f"{k}={v!r}" for k, v in numbers.items() if not (isinstance(v, int | float | np.number)
                                                            and np.isfinite(v))]
    if bad:
        raise ValueError(f"synthetic data needs finite numbers, got {', '.join(bad)} (NaN or inf would make "
                         "every label the same)")
    if not (is_int(num_clients) and num_clients >= 1):
        raise ValueError(f"num_clients must be an int >= 1, got {num_clients!r}")
    if alpha < 0 or beta < 0 or size_sigma < 0:
        raise ValueError(f"alpha, beta and size_sigma must be >= 0, got alpha={alpha}, beta={beta}, "
                         f"size_sigma={size_sigma}")
    if size_mu > 20:  # lognormal(20, .) sizes are around 5e8 samples per client
        raise ValueError(f"size_mu={size_mu} gives clients of about e^{size_mu:g} samples; use at most 20")
    if split not in SYNTHETIC_SPLITS:
        raise ValueError(f"split must be one of {', '.join(SYNTHETIC_SPLITS)}, got {split!r}")
    if split == "authors" and test_fraction is not None:
        raise ValueError("split='authors' fixes the test share at 10% per client; leave test_fraction unset")
    if test_fraction is not None and not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    if min_samples < 2 or (max_samples is not None and max_samples < min_samples):
        raise ValueError(f"need 2 <= min_samples <= max_samples, got {min_samples}, {max_samples}")
    if split == "authors" and min_samples < 10:
        raise ValueError(f"split='authors' needs min_samples >= 10 (a train, validation and test sample "
                         f"per client), got {min_samples}")
    if dim < 1 or num_classes < 2:
        raise ValueError(f"need dim >= 1 and num_classes >= 2, got dim={dim}, num_classes={num_classes}")


# --------------------------------------------------------------------------- real datasets

def _load_idx_dataset(name: str, root: str | Path | None, download: bool) -> Dataset:
    paths = find_idx(name, root)
    if paths is None and download:
        why = torchvision_download(name)
        paths = find_idx(name, root)
    else:
        why = "" if download else "download=False, so no download was attempted."
    if paths is None:
        expected = [f"{sub}/{stem}.gz" for sub in IDX_DIRS[name] for stem in IDX_FILES]
        raise missing_error(name, expected, root, why)
    x_tr, y_tr = read_idx_split(paths[0], paths[1])
    x_te, y_te = read_idx_split(paths[2], paths[3])
    return Dataset(
        name=name,
        x_train=normalise(x_tr[:, None], name),
        y_train=y_tr.astype(np.int64),
        x_test=normalise(x_te[:, None], name),
        y_test=y_te.astype(np.int64),
        num_classes=10,
        note=f"{name}: {len(y_tr)} train / {len(y_te)} test, read from {paths[0].parent}",
    )


def _load_cifar10(root: str | Path | None, download: bool, subset_only: bool = False) -> Dataset:
    why = "" if download else "download=False, so no download was attempted."
    full = None if subset_only else find_cifar_full(root)
    subset = None if full is not None else find_file(root, [CIFAR_SUBSET])
    if full is None and subset is None and download and not subset_only:
        why = torchvision_download("cifar10")
        full = find_cifar_full(root)
    if full is not None:
        x_tr, y_tr, x_te, y_te = read_cifar_full(str(full))
        name, note = "cifar10", f"CIFAR-10: {len(y_tr)} train / {len(y_te)} test"
    elif subset is not None:
        x_tr, y_tr, x_te, y_te = read_cifar_subset(str(subset))
        name, note = "cifar10-subset", f"CIFAR-10 subset: {len(y_tr)} train / {len(y_te)} test"
    else:
        expected = [CIFAR_SUBSET] if subset_only else (
            [f"{CIFAR_FULL_DIR}/{f}" for f in CIFAR_FULL_FILES] + [f"or {CIFAR_SUBSET}"])
        raise missing_error(name="cifar10", expected=expected, root=root, extra=why)
    return Dataset(name=name, x_train=normalise(x_tr, "cifar10"), y_train=y_tr,
                   x_test=normalise(x_te, "cifar10"), y_test=y_te, num_classes=10, note=note)


def _load_digits(root: str | Path | None, seed: int, test_fraction: float = 0.2) -> Dataset:
    path = find_file(root, [DIGITS]) or sklearn_digits_path()
    if path is None:
        raise missing_error("digits", [DIGITS], root, "or install scikit-learn (pip install scikit-learn), "
                       "which bundles the same file.")
    table = read_digits(str(path))
    x = (table[:, :64] / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    y = table[:, 64].astype(np.int64)
    train, test = _stratified_split(y, test_fraction, np.random.default_rng(seed))
    return Dataset(name="digits", x_train=x[train], y_train=y[train], x_test=x[test], y_test=y[test],
                   num_classes=10, note=f"sklearn 8x8 digits: {len(train)} train / {len(test)} test")


def _stratified_split(y: np.ndarray, test_fraction: float, rng: np.random.Generator
                      ) -> tuple[np.ndarray, np.ndarray]:
    train, test = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        n_test = int(round(test_fraction * len(idx)))
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


# --------------------------------------------------------------------------- entry point

def load_dataset(name: str, root: str | Path | None = None, *, download: bool = True,
                 seed: int = 0, **options) -> Dataset:
    """Load one of DATASETS. `seed` drives synthetic generation and the digits split; `options` go to
    make_synthetic (synthetic) or set `test_fraction` (digits)."""
    key = canonical_name(name)
    if key == "cifar10_subset":  # the name a subset Dataset carries, so load_dataset(ds.name) works
        return _load_cifar10(root, download, subset_only=True)
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    if key == "synthetic":
        return make_synthetic(rng=np.random.default_rng(seed), **options)
    allowed = {"test_fraction"} if key == "digits" else set()
    unknown = set(options) - allowed
    if unknown:
        raise ValueError(f"options {sorted(unknown)} are not accepted for {key!r}"
                         f"{'; allowed: ' + ', '.join(sorted(allowed)) if allowed else ''}")
    if key == "digits":
        return _load_digits(root, seed, **options)
    if key == "cifar10":
        return _load_cifar10(root, download)
    return _load_idx_dataset(key, root, download)
