"""What a sampler is and what it may use: the `Sampler` protocol and the `SamplerContext` of a run.

A sampler is any object with a `name` and `select(available, m, round_idx, rng) -> ids` (optionally
`update`, `state_dict`, `load_state_dict`); its factory is called with a SamplerContext, which holds
what a run can offer: the clients' data sizes, the current global model's per-client losses and the
3DG distances, built lazily. The built-in samplers and their registry are in samplers.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Sampler(Protocol):
    """What a trainer or the simulator needs from a sampler (`update` is optional)."""

    name: str

    def select(self, available: np.ndarray, m: int, round_idx: int,
               rng: np.random.Generator) -> np.ndarray: ...


@dataclass(frozen=True, eq=False)
class SamplerContext:
    """What a sampler factory may use. A run builds one per run (`assemble.build_sampler`); each field
    may be None where nobody provides it, and a sampler that needs it says so.

    sizes: (N,) data size per client. loss_fn(ids) -> the current global model's mean loss on each
    client's validation part, else its training data (Power-of-Choice); it reads the run's model at
    call time. distances_fn() -> the
    (N, N) 3DG distance matrix, built on first use of `distances` (so only FedGS pays for it).
    """

    sizes: np.ndarray | None = None
    loss_fn: Callable[[np.ndarray], np.ndarray] | None = None
    distances_fn: Callable[[], np.ndarray] | None = None

    @property
    def num_clients(self) -> int | None:
        return None if self.sizes is None else len(self.sizes)

    @cached_property
    def distances(self) -> np.ndarray | None:
        return None if self.distances_fn is None else np.asarray(self.distances_fn(), dtype=float)

    def require(self, what: str, sampler: str) -> Any:
        """sizes, loss_fn or distances; a ValueError saying what `sampler` needs when it is missing."""
        value = getattr(self, what)
        if value is None:
            why = {"sizes": "data size per client", "loss_fn": "ids -> global-model losses on them",
                   "distances": "the 3DG distance matrix, e.g. label_3dg(fed).distances"}[what]
            raise ValueError(f"sampler {sampler!r} needs {what}= ({why})")
        return value
