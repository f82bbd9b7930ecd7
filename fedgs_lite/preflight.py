"""What a command checks before it makes a folder or trains: the dataset's files, the device, the
solver's packages and an output file's folder, each mistake one line that names the flag to change.

The same mistakes found later (inside a run) raise errors worded for the Python API; here they are
caught up front, so a command that cannot run says so at once and leaves nothing behind.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable
from pathlib import Path

from fedgs_lite.readers import dataset_found, resolve_data_roots


def check_dataset(name: str, root: str | Path | None) -> None:
    """A ValueError naming the folders searched when `name`'s files are in none of them."""
    if dataset_found(name, root):
        return
    roots = resolve_data_roots(root, existing_only=False)
    folders = ", ".join(f"{p}{'' if p.is_dir() else ' (missing)'}" for p in roots)
    hint = " or pip install scikit-learn (it ships the digits)" if name == "digits" else ""
    raise ValueError(f"dataset {name} not found in the data folders ({folders}); put its files in one (see "
                     f"data/README.md), or point --data-root or FEDGS_DATA at a folder holding them{hint}")


def check_device(device: str) -> None:
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ValueError("--device cuda, but torch sees no CUDA GPU here (torch.cuda.is_available() is "
                             "False); use --device cpu, or auto for a GPU when there is one")


# solver -> (the module it imports, what to say when it is missing)
SOLVER_NEEDS = {"exact": ("highspy", "HiGHS (highspy): pip install highspy (or the [exact] extra)"),
                "gurobi": ("gurobipy", "gurobipy: pip install gurobipy (or the [gurobi] extra)")}


def check_solver(solver: str) -> None:
    if solver not in SOLVER_NEEDS:
        return
    module, says = SOLVER_NEEDS[solver]
    try:
        importlib.import_module(module)
    except ImportError:
        raise ValueError(f"--solver {solver} needs {says}, or use --solver fast") from None


def check_configs(configs: Iterable) -> None:
    """The dataset, device and solver of every config (each distinct one checked once)."""
    for dataset, root in {(c.dataset, c.data_root) for c in configs}:
        check_dataset(dataset, root)
    for device in {c.device for c in configs}:
        check_device(device)
    for solver in {c.solver for c in configs if c.sampler == "fedgs"}:
        check_solver(solver)


def check_output_file(path: str | None, flag: str) -> None:
    """The folder a file will be written to exists and is writable."""
    if path is None:
        return
    folder = Path(path).expanduser().resolve().parent
    if not folder.is_dir():
        raise ValueError(f"{flag} {path}: the folder {folder} does not exist; create it or choose another "
                         "path")
    if not os.access(folder, os.W_OK):
        raise ValueError(f"{flag} {path}: the folder {folder} is not writable; choose another path")


def check_output_folder(path: str | Path | None, flag: str = "--out") -> None:
    """An output folder is a folder (or does not exist yet, and then its parent can be made)."""
    if path is None:
        return
    p = Path(path).expanduser()
    if p.exists() and not p.is_dir():
        raise ValueError(f"{flag} {path} is a file, not a folder; choose a folder")
    existing = next(a for a in (p.resolve(), *p.resolve().parents) if a.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK):
        raise ValueError(f"{flag} {path}: cannot create a folder under {existing}; choose another place")
