"""Client samplers: who trains this round, given who is available.

Every sampler follows one small protocol (`Sampler`): a `name` and
`select(available, m, round_idx, rng) -> ids`, plus an optional `update(selected, round_idx)` hook the
simulator and trainer call after each round. A user-written sampler is any object with those members;
nothing is subclassed.

`available` is either a boolean mask of length N or an array of client ids. Shared rules:
- an empty availability, m < 1 or ids outside 0..N-1 raise ValueError;
- when m exceeds the number of available clients every available client is selected (MD still draws
  m times with replacement, as the authors do);
- returned ids are int64; all samplers but MD return distinct, sorted ids.
Samplers with state (FedGS's sampling counts) reset through `fresh()`, which returns an identical,
unused copy, so one config reruns identically.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from fedgs_lite.solvers import FAST_STARTS

SAMPLERS = ("uniform", "md", "poc", "fedgs")


@runtime_checkable
class Sampler(Protocol):
    """What a trainer or the simulator needs from a sampler (`update` is optional)."""

    name: str

    def select(self, available: np.ndarray, m: int, round_idx: int,
               rng: np.random.Generator) -> np.ndarray: ...


def available_ids(available: np.ndarray, num_clients: int | None = None) -> np.ndarray:
    """Normalise a boolean mask or an id array to sorted int64 ids, checking it against num_clients."""
    a = np.asarray(available)
    if a.ndim != 1:
        raise ValueError(f"available must be a 1-D boolean mask or id array, got shape {a.shape}")
    if a.dtype == bool:
        if num_clients is not None and a.size != num_clients:
            raise ValueError(f"availability mask has length {a.size} but the sampler knows "
                             f"{num_clients} clients")
        ids = np.flatnonzero(a).astype(np.int64)
    else:
        if a.size and not np.issubdtype(a.dtype, np.integer):
            raise ValueError(f"available ids must be integers (or pass a boolean mask), got {a.dtype}")
        ids = np.sort(a.astype(np.int64))
        if ids.size and ids[0] < 0:
            raise ValueError(f"available ids must be >= 0, got {int(ids[0])}")
        if num_clients is not None and ids.size and ids[-1] >= num_clients:
            raise ValueError(f"available id {int(ids[-1])} is out of range: clients are 0..{num_clients - 1}")
        if ids.size > 1 and np.any(ids[1:] == ids[:-1]):
            raise ValueError("available ids contain duplicates")
    if ids.size == 0:
        raise ValueError("no client is available: availability must contain at least one client")
    return ids


def _check_m(m: int) -> int:
    if isinstance(m, bool) or int(m) != m or m < 1:
        raise ValueError(f"m (clients per round) must be an integer >= 1, got {m!r}")
    return int(m)


def _as_sizes(sizes, what: str) -> np.ndarray:
    s = np.asarray(sizes, dtype=float)
    if s.ndim != 1 or s.size == 0:
        raise ValueError(f"{what}: sizes must be a non-empty 1-D array (one data size per client)")
    if np.any(s < 0) or not np.all(np.isfinite(s)):
        raise ValueError(f"{what}: sizes must be finite and non-negative")
    return s


def _size_probs(sizes: np.ndarray, ids: np.ndarray) -> np.ndarray:
    w = sizes[ids]
    total = w.sum()
    # Clients without data could never be drawn; if that is everyone available, fall back to uniform.
    return w / total if total > 0 else np.full(ids.size, 1.0 / ids.size)


@dataclass
class UniformSampler:
    """Uniform without replacement among the available clients (min(m, |A|) ids)."""

    name: str = "uniform"

    def fresh(self) -> UniformSampler:
        """An unused copy with the same configuration (state such as counts is reset)."""
        return dataclasses.replace(self)

    def select(self, available, m, round_idx, rng):
        ids = available_ids(available)
        k = min(_check_m(m), ids.size)
        return np.sort(rng.choice(ids, size=k, replace=False))


@dataclass
class MDSampler:
    """Multinomial Distribution sampling: m draws with replacement, P(i) proportional to data size,
    among the available clients (duplicates allowed; the trainer averages the m models uniformly)."""

    sizes: np.ndarray
    name: str = "md"

    def __post_init__(self):
        self.sizes = _as_sizes(self.sizes, "MDSampler")

    def fresh(self) -> MDSampler:
        """An unused copy with the same configuration (state such as counts is reset)."""
        return dataclasses.replace(self)

    def select(self, available, m, round_idx, rng):
        ids = available_ids(available, self.sizes.size)
        m = _check_m(m)
        return np.sort(rng.choice(ids, size=m, replace=True, p=_size_probs(self.sizes, ids)))


@dataclass
class PowerOfChoiceSampler:
    """Power-of-Choice: the m available clients with the largest loss under the current global model.

    loss_fn(ids) -> losses for those ids. With d set, d candidates are first drawn proportional to size
    without replacement (Cho et al.'s original); without d every available client is a candidate (the
    FedGS authors' version). Ties are broken at random.
    """

    loss_fn: Callable[[np.ndarray], np.ndarray]
    sizes: np.ndarray | None = None
    d: int | None = None
    name: str = "poc"

    def __post_init__(self):
        if not callable(self.loss_fn):
            raise ValueError("PowerOfChoiceSampler needs a callable loss_fn(ids) -> losses")
        if self.sizes is not None:
            self.sizes = _as_sizes(self.sizes, "PowerOfChoiceSampler")
        if self.d is not None and (isinstance(self.d, bool) or int(self.d) != self.d or self.d < 1):
            raise ValueError(f"d (number of candidates) must be an integer >= 1 or None, got {self.d!r}")

    def fresh(self) -> PowerOfChoiceSampler:
        """An unused copy with the same configuration (state such as counts is reset)."""
        return dataclasses.replace(self)

    def select(self, available, m, round_idx, rng):
        n = None if self.sizes is None else self.sizes.size
        ids = available_ids(available, n)
        m = min(_check_m(m), ids.size)
        cand = ids
        if self.d is not None and self.d < ids.size:
            if self.d < m:
                raise ValueError(f"Power-of-Choice needs d >= m candidates, got d={self.d}, m={m}")
            if self.sizes is None:
                p = None
            else:
                p = _size_probs(self.sizes, ids)
                if np.count_nonzero(p) < self.d:  # not enough clients with data: uniform candidates
                    p = None
            cand = rng.choice(ids, size=int(self.d), replace=False, p=p)
        losses = np.asarray(self.loss_fn(cand), dtype=float).reshape(-1)
        if losses.size != cand.size:
            raise ValueError(f"loss_fn returned {losses.size} losses for {cand.size} clients")
        order = np.lexsort((rng.random(cand.size), -losses))  # largest loss first, random tie-break
        return np.sort(cand[order[:m]]).astype(np.int64)


@dataclass
class FedGSSampler:
    """FedGS: each round pick m available clients that are far apart on the 3DG and rarely sampled.

    Keeps the sampling counts v (length K); each round scores the available clients with
    `objective.count_penalty`, solves the selection problem with `solvers.solve_selection` (method
    `solver`: "fast", "exact" or "brute"; `starts` > 1 = multi-start "fast") and adds 1 to the
    selected clients' counts. `last_result` holds the round's SelectionResult (solver, status, gap).
    A single available client is selected.
    """

    distances: np.ndarray
    alpha: float = 0.1
    solver: str = "fast"
    num_clients: int | None = None
    time_limit: float = 5.0
    starts: int = FAST_STARTS
    name: str = "fedgs"
    counts: np.ndarray = field(init=False, repr=False)
    last_result: Any = field(init=False, default=None, repr=False)

    def __post_init__(self):
        d = np.asarray(self.distances, dtype=float)
        if d.ndim != 2 or d.shape[0] != d.shape[1] or d.shape[0] == 0:
            raise ValueError(f"FedGSSampler: distances must be a square (K, K) matrix, got {d.shape}")
        if not np.all(np.isfinite(d)) or np.any(d < 0):
            raise ValueError("FedGSSampler: distances must be finite and non-negative")
        if self.num_clients is not None and self.num_clients != d.shape[0]:
            raise ValueError(f"FedGSSampler: num_clients={self.num_clients} but distances is {d.shape}")
        if not np.isfinite(self.alpha) or self.alpha < 0:
            raise ValueError(f"FedGSSampler: alpha must be >= 0, got {self.alpha}")
        self.distances = d
        self.num_clients = d.shape[0]
        self.counts = np.zeros(d.shape[0], dtype=np.int64)

    def fresh(self) -> FedGSSampler:
        """An unused copy with the same configuration (state such as counts is reset)."""
        return dataclasses.replace(self)

    def select(self, available, m, round_idx, rng):
        from fedgs_lite.objective import count_penalty
        from fedgs_lite.solvers import solve_selection

        ids = available_ids(available, self.num_clients)
        m = min(_check_m(m), ids.size)  # the authors' M = min(N_t, clients_per_round)
        u = count_penalty(self.counts, ids, m)
        res = solve_selection(self.distances[np.ix_(ids, ids)], u, self.alpha, m, self.solver,
                              time_limit=self.time_limit, rng=rng, starts=self.starts)
        chosen = np.sort(ids[np.asarray(res.selected, dtype=np.int64)])
        self.counts[chosen] += 1
        self.last_result = res
        return chosen


_USER_SAMPLERS: dict[str, Callable[..., Sampler]] = {}
_ALIASES = {"mdsample": "md", "powerofchoice": "poc", "power_of_choice": "poc", "uniformsample": "uniform"}


def _sampler_key(name: str) -> str:
    key = str(name).lower().replace("-", "_")
    return _ALIASES.get(key, key)


def register_sampler(name: str, factory: Callable[..., Sampler], *, overwrite: bool = False) -> None:
    """Make a user sampler available by name to make_sampler, ExperimentConfig and the CLI.

    `factory(*, sizes, distances, loss_fn, **options)` returns an object with `name` and
    `select(available, m, round_idx, rng)` (optionally `update(selected, round_idx)`); it receives the
    clients' data sizes, the label 3DG's distance matrix and a loss callback (ids -> global-model
    losses), and may ignore any of them (accept `**_`).
    """
    key = _sampler_key(name)
    if not key.isidentifier():
        raise ValueError(f"sampler name {name!r} must be a simple identifier like 'round_robin'")
    if key in SAMPLERS or (key in _USER_SAMPLERS and not overwrite):
        raise ValueError(f"sampler {key!r} is already defined; pass overwrite=True to replace a user sampler"
                         if key in _USER_SAMPLERS else f"{key!r} is a built-in sampler; choose another name")
    if not callable(factory):
        raise ValueError("factory must be callable: factory(*, sizes, distances, loss_fn, **options)")
    _USER_SAMPLERS[key] = factory


def unregister_sampler(name: str) -> None:
    _USER_SAMPLERS.pop(_sampler_key(name), None)


def available_samplers() -> tuple[str, ...]:
    """Built-in sampler names followed by the registered user samplers."""
    return SAMPLERS + tuple(_USER_SAMPLERS)


def make_sampler(name: str, *, sizes=None, distances=None, loss_fn=None, **kw) -> Sampler:
    """Build a sampler by name (SAMPLERS or a registered one); extra keywords go to the sampler."""
    key = _sampler_key(name)
    if key in _USER_SAMPLERS:
        return _USER_SAMPLERS[key](sizes=sizes, distances=distances, loss_fn=loss_fn, **kw)
    if key not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; choose one of {', '.join(available_samplers())}")
    try:
        if key == "uniform":
            return UniformSampler(**kw)
        if key == "md":
            if sizes is None:
                raise ValueError("sampler 'md' needs sizes= (data size per client)")
            return MDSampler(sizes, **kw)
        if key == "poc":
            if loss_fn is None:
                raise ValueError("sampler 'poc' needs loss_fn= (ids -> global-model losses on them)")
            return PowerOfChoiceSampler(loss_fn, sizes=sizes, **kw)
        if distances is None:
            raise ValueError("sampler 'fedgs' needs distances= (the 3DG distance matrix, e.g. "
                             "build_3dg(label_features(fed)).distances)")
        return FedGSSampler(distances, **kw)
    except TypeError as e:  # an option this sampler does not take
        raise ValueError(f"bad options for sampler {key!r}: {e}") from None


def fresh_sampler(sampler: Sampler) -> Sampler:
    """An unused copy of a sampler (its `fresh()` when it has one, else the object itself)."""
    fresh = getattr(sampler, "fresh", None)
    return fresh() if callable(fresh) else sampler
