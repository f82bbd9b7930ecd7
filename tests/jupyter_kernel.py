"""The "python3" Jupyter kernel that the notebook and browser tests run: this environment's Python.

The environment carries its own python3 kernelspec (`pip install ipykernel` puts one there); where it has
none, one is installed into the environment (`ipykernel install --sys-prefix`). Never into the user's
~/.local/share/jupyter: `ipykernel install --user` would replace the python3 kernel the user runs
everywhere else. Setting JUPYTER_PREFER_ENV_PATH=1 makes the environment's kernelspec win over a user one.

Usage: python tests/jupyter_kernel.py [PREFIX]   (PREFIX defaults to sys.prefix)
"""

from __future__ import annotations

import sys
from pathlib import Path

NAME = "python3"


def env_kernelspec_dir(prefix: str | Path = sys.prefix) -> Path:
    return Path(prefix) / "share" / "jupyter" / "kernels" / NAME


def ensure_env_kernelspec(prefix: str | Path = sys.prefix) -> Path | None:
    """The environment's python3 kernelspec folder, installed there when missing. None when the prefix
    is read-only: ipykernel's built-in python3 kernel (this interpreter) then serves."""
    spec = env_kernelspec_dir(prefix)
    if (spec / "kernel.json").is_file():
        return spec
    from ipykernel.kernelspec import install

    try:
        return Path(install(kernel_name=NAME, prefix=str(prefix)))
    except PermissionError:
        return None


if __name__ == "__main__":
    where = ensure_env_kernelspec(*sys.argv[1:2])
    print(f"python3 kernel: {where}" if where else
          f"python3 kernel: {sys.prefix} is read-only, using ipykernel's built-in kernel")
