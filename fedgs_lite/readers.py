"""Dataset files on disk: the folders they are looked up in and how each format is read.

Folders, in order: the repo's `data/`, `./data`, a `root` argument, `$FEDGS_DATA` (see data/README.md
for the accepted layouts). Formats: IDX (MNIST, Fashion-MNIST; gzipped or not), the CIFAR-10 python
pickles, the CIFAR-10 benchmark subset (.npz) and scikit-learn's digits CSV. `data.load_dataset` turns
them into a Dataset; nothing here builds one. A data folder is not trusted: the CIFAR-10 pickles are
read by `PlainUnpickler`, which builds only the dict, lists, bytes and uint8 array such a batch holds
and refuses anything else (a pickle can otherwise run any code), and the .npz is read without pickles.
"""

from __future__ import annotations

import codecs
import gzip
import os
import pickle
from functools import lru_cache
from pathlib import Path

import numpy as np

# The repo's own cache folder; a module attribute so tests can point it elsewhere.
REPO_DATA_DIR = Path(__file__).resolve().parent.parent / "data"

# Per-channel statistics of the full training sets (the usual torchvision normalisation).
NORMALISATION = {
    "mnist": ((0.1307,), (0.3081,)),
    "fashion_mnist": ((0.2860,), (0.3530,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
}
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
IDX_DIRS = {"mnist": ("mnist", "MNIST/raw"), "fashion_mnist": ("fashion-mnist", "FashionMNIST/raw")}
CIFAR_FULL_DIR = "cifar-10-batches-py"
CIFAR_FULL_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)
CIFAR_SUBSET = "cifar10-subset/cifar10_subset.npz"
DIGITS = "sklearn-digits/digits.csv.gz"


# --------------------------------------------------------------------------- look-up

def resolve_data_roots(root: str | Path | None = None, *, existing_only: bool = True) -> list[Path]:
    """Folders searched for datasets, in order: repo `data/`, `./data`, `root`, `$FEDGS_DATA`."""
    candidates = [REPO_DATA_DIR, Path.cwd() / "data"]
    if root is not None:
        candidates.append(Path(root).expanduser())
    env = os.environ.get("FEDGS_DATA")
    if env:
        candidates.append(Path(env).expanduser())
    out: list[Path] = []
    seen: set[Path] = set()
    for c in candidates:
        key = c.resolve()
        if key in seen or (existing_only and not c.is_dir()):
            continue
        seen.add(key)
        out.append(c)
    return out


def download_dir() -> Path:
    # An installed (non-editable) package has no repo data/ folder next to it: use ./data instead.
    return REPO_DATA_DIR if REPO_DATA_DIR.is_dir() else Path.cwd() / "data"


def missing_error(name: str, expected: list[str], root: str | Path | None,
                  extra: str = "") -> FileNotFoundError:
    searched = "\n".join(f"  - {p}{'' if p.is_dir() else ' (does not exist)'}"
                         for p in resolve_data_roots(root, existing_only=False))
    files = "\n".join(f"  - {e}" for e in expected)
    msg = (f"dataset {name!r} not found. Expected, inside one of the data folders:\n{files}\n"
           f"Folders searched (repo data/, ./data, the root argument, $FEDGS_DATA):\n{searched}\n"
           f"Put the files in one of them (see data/README.md), pass root=..., set FEDGS_DATA, or "
           f"call with download=True with torchvision installed and network access.")
    return FileNotFoundError(msg + (f"\n{extra}" if extra else ""))


def torchvision_download(name: str) -> str:
    """Download `name` with torchvision into the repo data folder; returns '' or why it failed."""
    try:
        import torchvision.datasets as tvd  # lazy: optional and heavy
    except ImportError:
        return "torchvision is not installed, so no download was attempted."
    cls = {"mnist": tvd.MNIST, "fashion_mnist": tvd.FashionMNIST, "cifar10": tvd.CIFAR10}[name]
    dest = download_dir()
    try:
        dest.mkdir(parents=True, exist_ok=True)
        for train in (True, False):
            cls(str(dest), train=train, download=True)
    except Exception as err:  # network errors come as URLError, OSError, RuntimeError...
        return f"torchvision download into {dest} failed: {type(err).__name__}: {err}"
    return ""


def find_file(root: str | Path | None, relpaths: list[str]) -> Path | None:
    for base in resolve_data_roots(root):
        for rel in relpaths:
            if (base / rel).exists():
                return base / rel
    return None


def idx_path(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.exists():
            return candidate
    return None


def find_idx(name: str, root: str | Path | None) -> list[Path] | None:
    for base in resolve_data_roots(root):
        for sub in IDX_DIRS[name]:
            paths = [idx_path(base / sub, stem) for stem in IDX_FILES]
            if all(p is not None for p in paths):
                return paths  # type: ignore[return-value]
    return None


def find_cifar_full(root: str | Path | None) -> Path | None:
    for base in resolve_data_roots(root):
        folder = base / CIFAR_FULL_DIR
        if all((folder / f).exists() for f in CIFAR_FULL_FILES):
            return folder
    return None


def cifar_variant(root: str | Path | None = None) -> str | None:
    """"full" when the complete CIFAR-10 is on disk, "subset" when only the benchmark subset is, else None."""
    if find_cifar_full(root) is not None:
        return "full"
    if find_file(root, [CIFAR_SUBSET]) is not None:
        return "subset"
    return None


def dataset_found(name: str, root: str | Path | None = None) -> bool:
    """Whether dataset `name`'s files are in the data folders (nothing is read; synthetic always is)."""
    if name == "synthetic":
        return True
    if name == "digits":
        return find_file(root, [DIGITS]) is not None or sklearn_digits_path() is not None
    if name == "cifar10":
        return cifar_variant(root) is not None
    return find_idx(name, root) is not None


def sklearn_digits_path() -> Path | None:
    """The digits file inside an installed scikit-learn, found without importing sklearn."""
    from importlib.util import find_spec

    try:
        spec = find_spec("sklearn")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    path = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz"
    return path if path.exists() else None


# --------------------------------------------------------------------------- formats

@lru_cache(maxsize=16)
def read_idx(path: str) -> np.ndarray:
    """Parse an IDX file (gzipped or not): magic, dims (big-endian int32), then uint8 data."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    magic = int.from_bytes(raw[:4], "big")
    if magic >> 8 != 0x08:  # 0x08 = unsigned byte data
        raise ValueError(f"{path} is not a uint8 IDX file (magic {magic:#x})")
    ndim = magic & 0xFF
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path}: header says {dims} but holds {data.size} values")
    data = data.reshape(dims)
    data.flags.writeable = False  # cached: callers must copy, never edit
    return data


def read_idx_split(images: Path, labels: Path) -> tuple[np.ndarray, np.ndarray]:
    """One split of an IDX dataset: (images (n, rows, cols), labels (n,) in 0..9), or a ValueError
    naming the files when they do not belong together."""
    x, y = read_idx(str(images)), read_idx(str(labels))
    if x.ndim != 3 or y.ndim != 1:
        raise ValueError(f"{images} and {labels} must hold images (n, rows, cols) and labels (n,), got "
                         f"shapes {x.shape} and {y.shape}")
    if len(x) != len(y):
        raise ValueError(f"{images} holds {len(x)} images but {labels} holds {len(y)} labels; replace the "
                         "files with a matching pair (see data/README.md)")
    if y.size and y.max() > 9:
        raise ValueError(f"{labels} holds label {int(y.max())}; MNIST-style labels are 0..9")
    return x, y


def normalise(x_uint8: np.ndarray, name: str) -> np.ndarray:
    """uint8 images -> float32 in [0, 1], minus the training set's mean, over its std, per channel."""
    mean, std = NORMALISATION[name]
    x = x_uint8.astype(np.float32)
    x *= 1.0 / 255.0
    shape = (1, -1) + (1,) * (x.ndim - 2)
    x -= np.asarray(mean, np.float32).reshape(shape)
    x /= np.asarray(std, np.float32).reshape(shape)
    return x


class PlainUnpickler(pickle.Unpickler):
    """Unpickles plain containers, numbers, strings, bytes and numpy arrays only: a pickle naming any
    other global (a function to call, a class to build) is refused before anything runs."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"): np.zeros(0).__reduce__()[0],  # numpy 1 name
               ("numpy._core.multiarray", "_reconstruct"): np.zeros(0).__reduce__()[0],  # numpy 2 name
               ("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
               ("_codecs", "encode"): codecs.encode}  # how Python 3's protocol 2 writes bytes

    def find_class(self, module: str, name: str):
        allowed = self.ALLOWED.get((module, name))
        if allowed is None:
            raise pickle.UnpicklingError(f"it names {module}.{name}, which a data file has no use for")
        return allowed


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 python batch: (images uint8 (n, 3, 32, 32), labels int64 (n,)), read by
    PlainUnpickler; a ValueError naming the file for anything else."""
    try:
        with open(path, "rb") as f:
            batch = PlainUnpickler(f, encoding="bytes").load()
        data, labels = np.asarray(batch[b"data"]), np.asarray(batch[b"labels"])
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape != (len(labels), 3072):
            raise ValueError(f"b'data' is {data.dtype} {data.shape}, not uint8 (n, 3072) for its "
                             f"{len(labels)} labels")
        if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer) or labels.min(initial=0) < 0 \
                or labels.max(initial=0) > 9:
            raise ValueError("b'labels' is not a list of labels 0..9")
    except Exception as err:  # noqa: BLE001 - a damaged or foreign file fails in many ways
        text = str(err).splitlines()[0][:160] if str(err) else ""
        why = text if isinstance(err, ValueError | pickle.UnpicklingError) else f"{type(err).__name__} {text}"
        raise ValueError(f"{path} is not a CIFAR-10 python batch and was not loaded ({why}); replace it "
                         "with the file from cifar-10-python.tar.gz (see data/README.md)") from None
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


@lru_cache(maxsize=2)
def read_cifar_full(folder: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    xs, ys = zip(*(read_cifar_batch(Path(folder) / fname) for fname in CIFAR_FULL_FILES), strict=True)
    return np.concatenate(xs[:5]), np.concatenate(ys[:5]), xs[5], ys[5]


@lru_cache(maxsize=2)
def read_cifar_subset(path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    with np.load(path) as z:
        # stored HWC; the models want CHW
        return (z["x_train"].transpose(0, 3, 1, 2), z["y_train"].astype(np.int64),
                z["x_test"].transpose(0, 3, 1, 2), z["y_test"].astype(np.int64))


@lru_cache(maxsize=2)
def read_digits(path: str) -> np.ndarray:
    table = np.loadtxt(path, delimiter=",", dtype=np.float32)
    table.flags.writeable = False
    return table
