"""Argument checks shared by every module: what counts as an int, and one message format for bad values."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def canonical_name(name: str) -> str:
    """The one spelling of a dataset, model or sampler name: "Fashion-MNIST" -> "fashion_mnist"."""
    return str(name).lower().replace("-", "_")


def is_int(x: Any) -> bool:
    """A Python or numpy integer, but not a bool."""
    return isinstance(x, int | np.integer) and not isinstance(x, bool)


def is_finite(x: Any) -> bool:
    """A finite Python or numpy number (not a bool)."""
    number = isinstance(x, int | float | np.integer | np.floating) and not isinstance(x, bool)
    return number and math.isfinite(x)


def check(ok: bool, message: str) -> None:
    """Raise ValueError(message) unless ok."""
    if not ok:
        raise ValueError(message)


def positive_int(value: Any, what: str) -> int:
    """`value` as an int when it is an integer >= 1 (integral floats such as 3.0 pass), else ValueError."""
    ok = not isinstance(value, bool) and isinstance(value, int | float | np.integer | np.floating) \
        and math.isfinite(value) and int(value) == value and value >= 1
    check(ok, f"{what} must be an integer >= 1, got {value!r}")
    return int(value)
