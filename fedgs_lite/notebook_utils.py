"""What the notebooks share: their header (badges, the Colab install cell) and `record` for the tests.

Every notebook opens with a title and `badges_markdown(name)`, then `COLAB_INSTALL`, then one cell
tagged `parameters` that ends with `record_path = None` (tests/test_notebooks.py checks this header).
Notebooks record a few numbers (client counts, count variances, accuracies) with `record`; the
papermill tests pass a `record_path` parameter and assert on the JSON written there.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from fedgs_lite.files import atomic_write_text

# GitHub owner/name used by every badge (README and notebooks); change it in one place.
REPO_SLUG = "fedgs-lite/fedgs_lite"
BRANCH = "main"


def binder_url(notebook: str | None = None, slug: str = REPO_SLUG) -> str:
    """Binder link opening JupyterLab on `notebook` (a file name inside notebooks/), or the tree."""
    base = f"https://mybinder.org/v2/gh/{slug}/HEAD"
    if notebook is None:
        return base + "?urlpath=lab/tree/notebooks/00_quickstart.ipynb"
    return base + "?labpath=" + quote(f"notebooks/{notebook}", safe="")


def colab_url(notebook: str, slug: str = REPO_SLUG, branch: str = BRANCH) -> str:
    return f"https://colab.research.google.com/github/{slug}/blob/{branch}/notebooks/{notebook}"


def badges_markdown(notebook: str, slug: str = REPO_SLUG) -> str:
    """The two badges every notebook shows under its title."""
    return (f"[![Binder](https://mybinder.org/badge_logo.svg)]({binder_url(notebook, slug)}) "
            f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"({colab_url(notebook, slug)})")


# The second cell of every notebook, verbatim.
COLAB_INSTALL = (
    "# On Google Colab, install fedgs_lite first (locally and on Binder it is already installed).\n"
    "import subprocess\n"
    "import sys\n"
    "\n"
    'if "google.colab" in sys.modules:\n'
    f'    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "git+https://github.com/{REPO_SLUG}"],\n'
    "                   check=True)")


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        v = float(value)
        return v if np.isfinite(v) else None  # JSON has no NaN/inf
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, bool | int | str):
        return value
    raise TypeError(f"record: cannot store a value of type {type(value).__name__} in JSON")


def record(path: str | os.PathLike | None, **values: Any) -> None:
    """Merge `values` into the JSON object at `path` (created when missing), silently: it returns
    nothing, so a notebook cell that ends with it shows students nothing.

    `path=None` records nothing (the values are still checked), so notebooks call this unconditionally.
    Numpy scalars and arrays are converted; NaN and infinities become null. The file is replaced
    atomically.
    """
    clean = {k: _jsonable(v) for k, v in values.items()}
    if path is None:
        return
    target = Path(path)
    current: dict[str, Any] = {}
    if target.exists():
        current = json.loads(target.read_text() or "{}")
        if not isinstance(current, dict):
            raise ValueError(f"record: {target} does not hold a JSON object")
    current.update(clean)
    atomic_write_text(target, json.dumps(current, indent=2, sort_keys=True))


def load_record(path: str | os.PathLike) -> dict[str, Any]:
    return json.loads(Path(path).read_text())
