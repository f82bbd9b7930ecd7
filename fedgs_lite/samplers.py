"""Client samplers: who trains this round, given who is available.

Every sampler follows one small protocol (`Sampler`): a `name` and `select(available, m, round_idx,
rng) -> ids`, plus an optional `update(selected, round_idx)` hook called after each round and optional
`state_dict()` / `load_state_dict(d)` (plain values) that a checkpoint keeps. Nothing is subclassed.
Samplers are built by name from a `SamplerContext` (data sizes, the current global model's losses,
the 3DG) through one registry, `register_sampler(name, factory)` with `factory(context, **options)`;
the built-ins are registered exactly that way (FedProx is MD sampling whose registration also sets
the config's proximal term, `prox_mu` 0.01).

`available` is either a boolean mask of length N or an array of client ids. Shared rules:
- an empty availability, m < 1 or ids outside 0..N-1 raise ValueError;
- when m exceeds the number of available clients every available client is selected (MD still draws
  m times with replacement, as the authors do);
- returned ids are int64; all samplers but MD return distinct, sorted ids.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fedgs_lite.checks import canonical_name, positive_int
from fedgs_lite.masks import available_ids
from fedgs_lite.objective import count_penalty
from fedgs_lite.paper import FEDPROX_MU
from fedgs_lite.registry import Registry
from fedgs_lite.sampler_context import Sampler, SamplerContext
from fedgs_lite.solvers import FAST_STARTS, solve_selection


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

    def select(self, available, m, round_idx, rng):
        ids = available_ids(available)
        k = min(positive_int(m, "m (clients per round)"), ids.size)
        return np.sort(rng.choice(ids, size=k, replace=False))


@dataclass
class MDSampler:
    """Multinomial Distribution sampling: m draws with replacement, P(i) proportional to data size,
    among the available clients (duplicates allowed; the trainer averages the m models uniformly)."""

    sizes: np.ndarray
    name: str = "md"

    def __post_init__(self):
        self.sizes = _as_sizes(self.sizes, "MDSampler")

    def select(self, available, m, round_idx, rng):
        ids = available_ids(available, self.sizes.size)
        m = positive_int(m, "m (clients per round)")
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

    def select(self, available, m, round_idx, rng):
        n = None if self.sizes is None else self.sizes.size
        ids = available_ids(available, n)
        m = min(positive_int(m, "m (clients per round)"), ids.size)
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
    `solver`: "fast", "exact" (HiGHS), "gurobi" (the authors' BQP) or "brute"; `starts` > 1 =
    multi-start "fast") and adds 1 to the selected clients' counts. `last_result` holds the round's
    SelectionResult (solver, status, gap).
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

    def select(self, available, m, round_idx, rng):
        ids = available_ids(available, self.num_clients)
        m = min(positive_int(m, "m (clients per round)"), ids.size)  # the authors' M = min(N_t, M)
        u = count_penalty(self.counts, ids, m)
        res = solve_selection(self.distances[np.ix_(ids, ids)], u, self.alpha, m, self.solver,
                              time_limit=self.time_limit, rng=rng, starts=self.starts)
        chosen = np.sort(ids[np.asarray(res.selected, dtype=np.int64)])
        self.counts[chosen] += 1  # the counts are the sampler's own record of its picks (authors' code)
        self.last_result = res
        return chosen

    def fresh(self) -> FedGSSampler:
        return dataclasses.replace(self)  # an unused copy: the same settings, counts at zero

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps: the sampling counts, as plain ints."""
        return {"counts": self.counts.tolist()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.counts = np.asarray(state["counts"], dtype=np.int64)


# --------------------------------------------------------------------------- the registry

AGGREGATIONS = ("size", "uniform")  # FedAvg weights: data size, or equal
REGISTRY = Registry("sampler", canonical_name,
                    "add your own with fedgs_lite.register_sampler")


def register_sampler(name: str, factory: Callable[..., Sampler], *, aggregation: str = "size",
                     from_config: Mapping[str, str] | None = None, aliases: tuple[str, ...] = (),
                     config_defaults: Mapping[str, Any] | None = None, overwrite: bool = False) -> None:
    """Make a sampler available by name to make_sampler, ExperimentConfig and the CLI.

    `factory(context: SamplerContext, **options)` returns an object with `name` and
    `select(available, m, round_idx, rng)` (optionally `update`, `state_dict`, `load_state_dict`).
    aggregation: how a run weights the sampler's clients ("size": FedAvg by data size, "uniform":
    equally), unless the config says otherwise. from_config: factory option -> ExperimentConfig field,
    the options a run passes (e.g. {"alpha": "fedgs_alpha"}). config_defaults: ExperimentConfig fields
    the method sets when a config leaves them at their defaults (FedProx: {"prox_mu": 0.01}).
    """
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {', '.join(AGGREGATIONS)}, got {aggregation!r}")
    REGISTRY.register(name, factory, aliases=aliases, overwrite=overwrite, aggregation=aggregation,
                      from_config=dict(from_config or {}), config_defaults=dict(config_defaults or {}))


def unregister_sampler(name: str) -> None:
    """Remove a registered sampler (built-in samplers cannot be removed, only overwritten)."""
    REGISTRY.unregister(name)


def available_samplers() -> tuple[str, ...]:
    """Built-in sampler names followed by the registered user samplers."""
    return REGISTRY.names()


def config_options(name: str, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The options a run passes to sampler `name`: its `from_config` fields, read from `settings` (an
    ExperimentConfig's fields as a mapping; fields missing there are left to the factory's defaults)."""
    return {opt: settings[f] for opt, f in REGISTRY.get(name).info["from_config"].items() if f in settings}


def config_defaults(name: str) -> dict[str, Any]:
    """The config fields sampler `name` sets when a config leaves them at their defaults."""
    return dict(REGISTRY.get(name).info.get("config_defaults", {}))


def default_aggregation(name: str) -> str:
    """How a run weights sampler `name`'s clients unless its config says otherwise: "size" or "uniform"."""
    return REGISTRY.get(name).info["aggregation"]


def make_sampler(name: str, context: SamplerContext | None = None, *, sizes=None, distances=None,
                 loss_fn=None, **options) -> Sampler:
    """Build a sampler by name from `context` (or from sizes/distances/loss_fn given directly);
    `options` go to its factory (e.g. alpha=, solver= for FedGS, d= for Power-of-Choice)."""
    entry = REGISTRY.get(name)
    if context is None:
        context = SamplerContext(sizes=sizes, loss_fn=loss_fn,
                                 distances_fn=None if distances is None else lambda: distances)
    try:
        return entry.factory(context, **options)
    except TypeError as e:  # an option this sampler does not take
        raise ValueError(f"bad options for sampler {entry.name!r}: {e}") from None


def fresh_sampler(sampler: Sampler) -> Sampler:
    """An unused copy, so one sampler object reruns identically: its `fresh()` when it has one (a
    sampler with state, such as FedGS's counts), else the object itself (a stateless sampler)."""
    fresh = getattr(sampler, "fresh", None)
    return fresh() if callable(fresh) else sampler


def _fedgs(context: SamplerContext, **options) -> FedGSSampler:
    options.setdefault("num_clients", context.num_clients)
    return FedGSSampler(context.require("distances", "fedgs"), **options)


register_sampler("uniform", lambda context, **options: UniformSampler(**options), aliases=("uniformsample",))
register_sampler("md", lambda context, **options: MDSampler(context.require("sizes", "md"), **options),
                 aggregation="uniform", aliases=("mdsample",))  # the authors average MD's models uniformly
# Power-of-Choice ranks clients by the loss on their validation parts and averages uniformly, as the
# authors (fedgs:algorithm/powerofchoice.py:11-20; fedbase.py:221-222 `aggregate='uniform'`).
register_sampler("poc", lambda context, **options: PowerOfChoiceSampler(
    context.require("loss_fn", "poc"), sizes=context.sizes, **options), from_config={"d": "poc_d"},
    aggregation="uniform", aliases=("powerofchoice", "power_of_choice"))
# FedProx: MD sampling among the available clients plus the proximal term (fedgs:algorithm/fedprox.py
# :15-19, :38-41), mu 0.01 as the authors' Fashion-MNIST runs (fedgs:utils/fashion_niid.yml:11).
register_sampler("fedprox", lambda context, **options: MDSampler(
    context.require("sizes", "fedprox"), name="fedprox", **options), aggregation="uniform",
    config_defaults={"prox_mu": FEDPROX_MU}, aliases=("nfedprox",))
register_sampler("fedgs", _fedgs, from_config={"alpha": "fedgs_alpha", "solver": "solver"})
SAMPLERS = REGISTRY.mark_builtin()
