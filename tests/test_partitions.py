import numpy as np
import pytest

from fedgs_lite.data import Dataset, make_synthetic
from fedgs_lite.partitions import SCHEMES, FederatedDataset, describe, partition


def toy(n: int = 1000, classes: int = 10, seed: int = 0) -> Dataset:
    g = np.random.default_rng(seed)
    y = g.integers(0, classes, n).astype(np.int64)
    x = g.standard_normal((n, 4)).astype(np.float32)
    return Dataset("toy", x, y, x[:10], y[:10], classes)


def assert_disjoint_cover(fed: FederatedDataset, n: int) -> None:
    joined = np.concatenate(fed.client_indices)
    np.testing.assert_array_equal(np.sort(joined), np.arange(n))


def recount(fed: FederatedDataset) -> np.ndarray:
    hist = np.zeros((fed.num_clients, fed.dataset.num_classes), dtype=np.int64)
    for i, idx in enumerate(fed.client_indices):
        for label in fed.dataset.y_train[idx]:
            hist[i, label] += 1
    return hist


def mean_entropy(fed: FederatedDataset) -> float:
    p = fed.label_distributions
    return float(-(p * np.log(np.where(p > 0, p, 1.0))).sum(axis=1).mean())


@pytest.mark.parametrize("scheme", [s for s in SCHEMES if s != "natural"])
def test_every_sample_assigned_once_and_histograms_match(scheme, rng):
    ds = toy()
    fed = partition(ds, 20, scheme, rng=rng)
    assert fed.num_clients == 20 and fed.scheme == scheme
    assert_disjoint_cover(fed, len(ds.y_train))
    np.testing.assert_array_equal(fed.label_histograms, recount(fed))
    np.testing.assert_array_equal(fed.sizes, [len(i) for i in fed.client_indices])
    assert fed.sizes.min() >= 1
    np.testing.assert_allclose(fed.label_distributions.sum(axis=1), 1.0)


def test_iid_sizes_are_balanced(rng):
    fed = partition(toy(1003), 10, "iid", rng=rng)
    assert fed.sizes.max() - fed.sizes.min() <= 1


@pytest.mark.parametrize("k", [1, 2, 3, 10])
def test_label_skew_gives_exactly_k_labels(k, rng):
    fed = partition(toy(), 15, "label_skew", rng=rng, classes_per_client=k)
    np.testing.assert_array_equal((fed.label_histograms > 0).sum(axis=1), k)
    assert_disjoint_cover(fed, 1000)


def test_label_skew_covers_all_classes_when_possible(rng):
    # N * k = 10 = C: every class must be held by exactly one client
    fed = partition(toy(), 5, "label_skew", rng=rng, classes_per_client=2)
    np.testing.assert_array_equal((fed.label_histograms > 0).sum(axis=0), 1)
    assert_disjoint_cover(fed, 1000)


def test_label_skew_drops_unheld_classes(rng):
    fed = partition(toy(), 3, "label_skew", rng=rng, classes_per_client=2)
    held = (fed.label_histograms > 0).sum(axis=0)
    assert (held > 0).sum() == 6
    joined = np.concatenate(fed.client_indices)
    assert len(np.unique(joined)) == len(joined)
    np.testing.assert_array_equal(np.isin(fed.dataset.y_train[joined], np.flatnonzero(held)), True)


def test_label_skew_varies_with_rng():
    a = partition(toy(), 20, "label_skew", rng=np.random.default_rng(0))
    b = partition(toy(), 20, "label_skew", rng=np.random.default_rng(1))
    assert not np.array_equal(a.label_histograms, b.label_histograms)
    c = partition(toy(), 20, "label_skew", rng=np.random.default_rng(0))
    np.testing.assert_array_equal(a.label_histograms, c.label_histograms)


def test_dirichlet_skew_grows_as_alpha_shrinks():
    ds = toy(3000)
    entropies = [np.mean([mean_entropy(partition(ds, 20, "dirichlet", rng=np.random.default_rng(s),
                                                 dirichlet_alpha=a)) for s in range(3)])
                 for a in (100.0, 1.0, 0.1)]
    assert entropies[0] > entropies[1] > entropies[2]


def test_dirichlet_tiny_alpha_still_fills_every_client(rng):
    fed = partition(toy(500), 50, "dirichlet", rng=rng, dirichlet_alpha=0.001)
    assert fed.sizes.min() >= 1
    assert_disjoint_cover(fed, 500)


def test_size_imbalance_sizes_vary_with_sigma(rng):
    ds = toy(5000)
    flat = partition(ds, 30, "size_imbalance", rng=rng, size_sigma=0.0)
    skewed = partition(ds, 30, "size_imbalance", rng=rng, size_sigma=1.5)
    assert flat.sizes.max() - flat.sizes.min() <= 1
    assert skewed.sizes.std() > 5 * max(flat.sizes.std(), 1.0)
    assert skewed.sizes.sum() == 5000


def test_natural_uses_dataset_clients(rng):
    ds = make_synthetic(8, rng=np.random.default_rng(0))
    fed = partition(ds, 8, "natural", rng=rng)
    for a, b in zip(fed.client_indices, ds.natural_clients, strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="8 natural clients"):
        partition(ds, 5, "natural", rng=rng)


def test_holdout_splits_every_client_and_reuses_natural_splits(rng):
    ds = toy(1000)
    fed = partition(ds, 10, "label_skew", rng=rng, holdout=0.25)
    joined = np.concatenate(fed.client_indices + fed.valid_indices)
    np.testing.assert_array_equal(np.sort(joined), np.arange(1000))
    np.testing.assert_array_equal(fed.valid_sizes, [len(v) for v in fed.valid_indices])
    np.testing.assert_array_equal(fed.sizes, [int(n * 0.75) for n in fed.sizes + fed.valid_sizes])
    np.testing.assert_array_equal(fed.label_histograms, recount(fed))  # training parts only
    assert f"validation={fed.valid_sizes.sum()}" in repr(fed) and fed.valid_sizes.sum() >= 250
    one = partition(toy(12), 12, "iid", rng=rng, holdout=0.5)  # a single sample stays for training
    np.testing.assert_array_equal(one.sizes, 1)
    assert one.valid_sizes.sum() == 0
    natural = partition(make_synthetic(6, rng=np.random.default_rng(0)), 6, "natural", rng=rng, holdout=0.2)
    assert natural.valid_sizes.min() >= 1 and natural.scheme == "natural"
    for bad in (-0.1, 1.0, "0.2", True):
        with pytest.raises(ValueError, match="holdout"):
            partition(ds, 5, "iid", rng=rng, holdout=bad)


def test_dirichlet_lognormal_skew_overrides_alpha_and_validates(rng):
    ds = toy(2000)
    fed = partition(ds, 20, "dirichlet_lognormal", rng=rng, skew=0.9)
    assert (fed.label_histograms > 0).sum(axis=1).mean() < 4  # Dirichlet(0.03 p): few labels each
    with pytest.raises(ValueError, match="skew"):
        partition(ds, 20, "dirichlet_lognormal", rng=rng, skew=2.0)
    with pytest.raises(ValueError, match="dirichlet_alpha"):
        partition(ds, 20, "dirichlet_lognormal", rng=rng, dirichlet_alpha=0.0)
    with pytest.raises(ValueError, match="size_sigma"):
        partition(ds, 20, "dirichlet_lognormal", rng=rng, size_sigma=-1.0)


def test_bad_requests_raise(rng):
    ds = toy(100)
    with pytest.raises(ValueError, match="only 100"):
        partition(ds, 101, "iid", rng=rng)
    with pytest.raises(ValueError, match="exceeds"):
        partition(ds, 5, "label_skew", rng=rng, classes_per_client=11)
    with pytest.raises(ValueError, match=">= 1"):
        partition(ds, 5, "label_skew", rng=rng, classes_per_client=0)
    for alpha in (0.0, -1.0):
        with pytest.raises(ValueError, match="dirichlet_alpha"):
            partition(ds, 5, "dirichlet", rng=rng, dirichlet_alpha=alpha)
    with pytest.raises(ValueError, match="size_sigma"):
        partition(ds, 5, "size_imbalance", rng=rng, size_sigma=-1.0)
    with pytest.raises(ValueError) as err:
        partition(ds, 5, "shards", rng=rng)
    assert all(s in str(err.value) for s in SCHEMES)
    with pytest.raises(ValueError, match="natural clients"):
        partition(ds, 5, "natural", rng=rng)
    with pytest.raises(ValueError, match="num_clients"):
        partition(ds, 0, "iid", rng=rng)


def test_label_skew_too_many_holders_raises(rng):
    ds = toy(30, classes=3)
    with pytest.raises(ValueError, match="samples but"):
        partition(ds, 30, "label_skew", rng=rng, classes_per_client=3)




def test_describe_mentions_key_numbers(rng):
    fed = partition(toy(), 10, "label_skew", rng=rng, classes_per_client=3)
    text = describe(fed)
    assert "label_skew" in text and "10 clients" in text
    assert "min 3, mean 3.0, max 3" in text
