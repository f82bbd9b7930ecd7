from pathlib import Path

import numpy as np
import pytest

from fedgs_lite import data, readers
from fedgs_lite.data import DATASETS, load_dataset, make_synthetic
from fedgs_lite.readers import resolve_data_roots


@pytest.fixture
def no_default_roots(tmp_path, monkeypatch) -> Path:
    """Point the repo data/ folder and the CWD at empty folders, so only root/FEDGS_DATA can match."""
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setattr(readers, "REPO_DATA_DIR", empty / "repo_data")
    monkeypatch.chdir(empty)
    monkeypatch.delenv("FEDGS_DATA", raising=False)
    return empty


def test_synthetic_shapes_and_natural_clients():
    ds = make_synthetic(num_clients=12, rng=np.random.default_rng(0))
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert ds.input_shape == (60,)
    assert ds.num_classes == 10
    assert len(ds.natural_clients) == 12
    joined = np.concatenate(ds.natural_clients)
    np.testing.assert_array_equal(np.sort(joined), np.arange(len(ds.y_train)))
    assert ds.y_train.min() >= 0 and ds.y_train.max() < 10
    # each client keeps about test_fraction of its samples for the global test set
    assert 0.15 < len(ds.y_test) / (len(ds.y_test) + len(ds.y_train)) < 0.25
    sizes = np.array([len(c) for c in ds.natural_clients])
    assert sizes.std() > 0  # power-law sizes, not equal


def test_synthetic_default_is_modest_and_deterministic():
    a = load_dataset("synthetic", seed=3)
    b = load_dataset("synthetic", seed=3)
    c = load_dataset("synthetic", seed=4)
    assert len(a.natural_clients) == 30
    assert 1000 < len(a.y_train) + len(a.y_test) < 10000
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_train, b.y_train)
    assert a.x_train.shape != c.x_train.shape or not np.array_equal(a.x_train, c.x_train)


def test_synthetic_alpha_beta_make_clients_differ():
    # with alpha = beta = 0 the clients share the input and model means, so their mean inputs are closer
    def spread(alpha, beta):
        ds = make_synthetic(20, alpha, beta, rng=np.random.default_rng(1))
        means = np.stack([ds.x_train[i].mean(axis=0) for i in ds.natural_clients])
        return means.std(axis=0).mean()

    assert spread(0.0, 0.0) < spread(1.0, 1.0)


def test_synthetic_bad_arguments():
    with pytest.raises(ValueError, match="num_clients"):
        make_synthetic(0, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="test_fraction"):
        make_synthetic(5, rng=np.random.default_rng(0), test_fraction=1.5)


@pytest.mark.parametrize("arg", ["alpha", "beta", "size_mu", "size_sigma", "test_fraction"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_synthetic_generator_parameters_must_be_finite(arg, value):
    """NaN alpha used to pass (NaN < 0 is False) and made every label 0."""
    with pytest.raises(ValueError, match=f"synthetic data needs finite numbers, got {arg}="):
        make_synthetic(5, rng=np.random.default_rng(0), **{arg: value})


def write_idx(path, array: np.ndarray) -> None:
    import gzip

    dims = b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    header = (0x0800 | array.ndim).to_bytes(4, "big") + dims
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_idx_images_and_labels_of_different_lengths_are_refused(no_default_roots, tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for stem, n in (("train-images-idx3-ubyte", 12), ("train-labels-idx1-ubyte", 11),
                    ("t10k-images-idx3-ubyte", 4), ("t10k-labels-idx1-ubyte", 4)):
        shape = (n, 28, 28) if "images" in stem else (n,)
        write_idx(folder / f"{stem}.gz", rng.integers(0, 10, shape))
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte.gz holds 12 images but .*"
                                         r"train-labels-idx1-ubyte.gz holds 11 labels"):
        load_dataset("mnist", tmp_path, download=False)


def test_synthetic_paper_setting_loads_and_checks_its_split():
    a = load_dataset("synthetic", seed=1, **data.SYNTHETIC_PAPER)
    b = load_dataset("synthetic", seed=1, **data.SYNTHETIC_PAPER)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert len(a.natural_valid) == 30 and a.local_optima.shape == (30, 61, 10)
    joined = np.concatenate(a.natural_clients + a.natural_valid)
    np.testing.assert_array_equal(np.sort(joined), np.arange(len(a.y_train)))
    assert "75/15/10" in a.note
    with pytest.raises(ValueError, match="split"):
        make_synthetic(5, rng=np.random.default_rng(0), split="random")
    with pytest.raises(ValueError, match="test_fraction"):
        make_synthetic(5, rng=np.random.default_rng(0), split="authors", test_fraction=0.1)
    with pytest.raises(ValueError, match="min_samples >= 10"):
        make_synthetic(5, rng=np.random.default_rng(0), split="authors", min_samples=5)


def test_digits_loads_all_samples_stratified():
    ds = load_dataset("digits", seed=0)
    assert len(ds.y_train) + len(ds.y_test) == 1797
    assert ds.x_train.shape[1:] == (1, 8, 8) and ds.x_train.dtype == np.float32
    assert 0.0 <= ds.x_train.min() and ds.x_train.max() <= 1.0
    assert len(ds.y_test) == pytest.approx(0.2 * 1797, abs=10)
    # stratified: every class has about 20% of its samples in the test split
    share = np.bincount(ds.y_test, minlength=10) / (
        np.bincount(ds.y_test, minlength=10) + np.bincount(ds.y_train, minlength=10))
    assert np.all(np.abs(share - 0.2) < 0.02)
    other = load_dataset("digits", seed=1)
    assert not np.array_equal(ds.y_test, other.y_test) or not np.array_equal(ds.x_test, other.x_test)


def test_digits_from_data_root(data_root, no_default_roots, monkeypatch):
    monkeypatch.setattr(data, "sklearn_digits_path", lambda: None)
    ds = load_dataset("digits", data_root, download=False)
    assert len(ds.y_train) + len(ds.y_test) == 1797


@pytest.mark.parametrize("name", ["fashion_mnist", "mnist"])
def test_idx_datasets_from_shared_root(name, data_root):
    ds = load_dataset(name, data_root, download=False)
    assert ds.x_train.shape == (60000, 1, 28, 28) and ds.x_test.shape == (10000, 1, 28, 28)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert ds.num_classes == 10
    np.testing.assert_array_equal(np.unique(ds.y_train), np.arange(10))
    assert abs(float(ds.x_train[:5000].mean())) < 0.1  # normalised
    assert 0.8 < float(ds.x_train[:5000].std()) < 1.2


def test_torchvision_layout_is_accepted(data_root, no_default_roots, tmp_path):
    raw = tmp_path / "tv" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for f in (data_root / "fashion-mnist").glob("*.gz"):
        (raw / f.name).symlink_to(f)
    ds = load_dataset("fashion-mnist", tmp_path / "tv", download=False)
    assert len(ds.y_train) == 60000


def test_idx_header_is_checked(tmp_path):
    bad = tmp_path / "bad-idx.gz"
    import gzip

    with gzip.open(bad, "wb") as f:
        f.write((0x0803).to_bytes(4, "big") + (5).to_bytes(4, "big") * 3 + bytes(10))
    with pytest.raises(ValueError, match="header"):
        readers.read_idx(str(bad))


def test_cifar10_subset_is_labelled(data_root):
    ds = load_dataset("cifar10", data_root, download=False)
    assert ds.x_train.shape == (4000, 3, 32, 32) and ds.x_test.shape == (1000, 3, 32, 32)
    assert "subset" in ds.name and "subset" in ds.note.lower()
    assert ds.num_classes == 10
    assert abs(float(ds.x_train.mean())) < 0.1


def test_missing_dataset_names_expected_files(tmp_path, no_default_roots, monkeypatch):
    monkeypatch.setenv("FEDGS_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError) as err:
        load_dataset("mnist", download=False)
    msg = str(err.value)
    assert "train-images-idx3-ubyte.gz" in msg and "t10k-labels-idx1-ubyte.gz" in msg
    assert str(tmp_path) in msg
    with pytest.raises(FileNotFoundError, match="cifar10_subset.npz"):
        load_dataset("cifar10", download=False)


def test_unknown_dataset_lists_choices():
    with pytest.raises(ValueError) as err:
        load_dataset("imagenet")
    for name in DATASETS:
        assert name in str(err.value)
    with pytest.raises(ValueError, match="not accepted"):
        load_dataset("mnist", bogus=1)


def test_resolve_data_roots_order(tmp_path, no_default_roots, monkeypatch):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    monkeypatch.setenv("FEDGS_DATA", str(b))
    assert resolve_data_roots(a) == [a, b]
    assert resolve_data_roots(tmp_path / "missing") == [b]


def _fake_torchvision(monkeypatch, dataset_cls) -> None:
    import sys
    import types

    tv = types.ModuleType("torchvision")
    tvd = types.ModuleType("torchvision.datasets")
    tvd.MNIST = tvd.FashionMNIST = tvd.CIFAR10 = dataset_cls
    tv.datasets = tvd
    monkeypatch.setitem(sys.modules, "torchvision", tv)
    monkeypatch.setitem(sys.modules, "torchvision.datasets", tvd)


def test_download_failure_is_reported(no_default_roots, monkeypatch):
    def offline(root, train, download):
        raise OSError("network is unreachable")

    _fake_torchvision(monkeypatch, offline)
    with pytest.raises(FileNotFoundError, match="network is unreachable") as err:
        load_dataset("fashion_mnist", download=True)
    assert "t10k-images-idx3-ubyte.gz" in str(err.value)


def test_missing_torchvision_is_reported(no_default_roots, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "torchvision", None)  # makes the import fail
    with pytest.raises(FileNotFoundError, match="torchvision is not installed"):
        load_dataset("mnist", download=True)


def test_download_lands_where_the_loader_looks(data_root, no_default_roots, monkeypatch):
    calls = []

    def fake_mnist(root, train, download):
        calls.append(root)
        raw = Path(root) / "MNIST" / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        for f in (data_root / "mnist").glob("*.gz"):
            if not (raw / f.name).exists():
                (raw / f.name).symlink_to(f)

    _fake_torchvision(monkeypatch, fake_mnist)
    ds = load_dataset("mnist", download=True)
    assert len(calls) == 2 and len(ds.y_test) == 10000
