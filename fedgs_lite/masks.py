"""Availability masks: client statistics, a mode bound to them, and each round's draw of who is reachable.

`Availability.draw(t, rng)` is one round's boolean mask: every client is available independently with
its probability p_i(t), and a draw where nobody is available is repeated (the authors' simulator), so
masks are drawn conditionally on "at least one client available". `trace` draws many rounds at once,
identically to round-by-round draws. `availability_summary` describes a drawn trace, `available_ids`
turns a mask (or an id array) into checked, sorted ids.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True, eq=False)
class ClientStats:
    """What availability modes may depend on: data sizes (N,) and label histograms (N, C)."""

    sizes: np.ndarray
    label_histograms: np.ndarray

    def __post_init__(self) -> None:
        sizes = np.asarray(self.sizes)
        hist = np.asarray(self.label_histograms)
        if sizes.ndim != 1 or sizes.size == 0:
            raise ValueError(f"sizes must be a non-empty 1-D array, got shape {sizes.shape}")
        if hist.ndim != 2 or hist.shape[0] != sizes.size or hist.shape[1] == 0:
            raise ValueError(
                f"label_histograms must have shape (N={sizes.size}, C>=1), got {hist.shape}")
        if not (np.all(np.isfinite(sizes)) and np.all(sizes >= 0)):
            raise ValueError("sizes must be finite and non-negative")
        if not (np.all(np.isfinite(hist)) and np.all(hist >= 0)):
            raise ValueError("label_histograms must be finite and non-negative")
        object.__setattr__(self, "sizes", sizes)
        object.__setattr__(self, "label_histograms", hist)

    @classmethod
    def from_federated(cls, fed: Any) -> ClientStats:
        """From a :class:`~fedgs_lite.partitions.FederatedDataset`, as the authors' simulator reads a
        client: the training sizes (MDF, LDF) and the labels of its training and validation parts
        (YMF, YFF, YC; fedgs:utils/systemic_simulator.py:104,114,128,146-148)."""
        hist = np.asarray(fed.label_histograms)
        valid = getattr(fed, "valid_label_histograms", None)
        return cls(sizes=np.asarray(fed.sizes), label_histograms=hist if valid is None else hist + valid)

    @property
    def num_clients(self) -> int:
        return int(self.sizes.size)

    @property
    def num_classes(self) -> int:
        return int(self.label_histograms.shape[1])

    @property
    def has_label(self) -> np.ndarray:
        """Bool (N, C): client i holds class c (nonzero count)."""
        return self.label_histograms > 0

    def size_power(self, power: float) -> np.ndarray:
        """|D_i|^power / max_j |D_j|^power (MDF, LDF): computed so, or, where that overflows to NaN
        (MDF-200: 1000^200 is inf), as the same number (|D_i| / |D_extreme|)^power, which cannot."""
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            c = self.sizes.astype(float) ** power
            p = c / c.max()
            if not np.all(np.isfinite(p)):
                s = self.sizes.astype(float)
                p = (s / (s.max() if power > 0 else s.min())) ** power
        return p


class Static:
    """A schedule p(t) that does not depend on t (what a static mode's rule returns)."""

    def __init__(self, p: np.ndarray) -> None:
        self.p = np.asarray(p, dtype=float)

    def __call__(self, t: int) -> np.ndarray:
        return self.p.copy()

    def many(self, ts: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.p, (len(ts), self.p.size))


class Periodic:
    """A schedule p(t) = table[t mod period]; table has shape (period, N)."""

    def __init__(self, table: np.ndarray) -> None:
        self.table = np.asarray(table, dtype=float)

    def __call__(self, t: int) -> np.ndarray:
        return self.table[t % len(self.table)].copy()

    def many(self, ts: np.ndarray) -> np.ndarray:
        return self.table[np.asarray(ts) % len(self.table)]


# Below this chance of drawing a non-empty mask the redraw loop would effectively never end.
MIN_NONEMPTY_PROB = 1e-6


def _check_probs(p: Any, n: int, where: str) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    if p.shape[-1:] != (n,):
        raise ValueError(f"{where}: probabilities must have length N={n}, got shape {p.shape}")
    if not np.all(np.isfinite(p)) or p.min(initial=0.0) < -1e-12 or p.max(initial=0.0) > 1 + 1e-12:
        raise ValueError(f"{where}: probabilities must be finite and in [0, 1], got range "
                         f"[{np.nanmin(p):.4g}, {np.nanmax(p):.4g}]")
    return np.clip(p, 0.0, 1.0)


def _nonempty_prob(p: np.ndarray) -> np.ndarray:
    """P(at least one client available) for each row of p, computed stably."""
    with np.errstate(divide="ignore"):
        return -np.expm1(np.log1p(-p).sum(axis=-1))



@dataclass(frozen=True, eq=False)
class Availability:
    """A mode bound to a set of clients: ``probs(t)``, ``draw(t, rng)``, ``trace(rounds, rng)``."""

    spec: str
    key: str
    beta: float | None
    num_clients: int
    schedule: Callable[[int], np.ndarray] = field(repr=False)

    def probs(self, t: int) -> np.ndarray:
        """Float (N,): probability that each client is available in round t (before the redraw rule)."""
        return _check_probs(self.schedule(int(t)), self.num_clients, f"{self.spec} at round {t}")

    def probs_many(self, ts: np.ndarray) -> np.ndarray:
        """Float (len(ts), N): probs for several rounds at once (vectorised for built-in modes)."""
        ts = np.asarray(ts, dtype=np.int64)
        many = getattr(self.schedule, "many", None)
        if many is not None:
            return _check_probs(many(ts), self.num_clients, self.spec).reshape(len(ts), self.num_clients)
        if len(ts) == 0:
            return np.zeros((0, self.num_clients))
        return np.stack([self.probs(int(t)) for t in ts])

    def check_reachable(self) -> None:
        """Fail now, not in round t: probabilities of a bad shape or range, or (a static or periodic
        schedule, whose every round is known) a round in which every p is 0, so nobody is ever there."""
        self.probs(0)
        if isinstance(self.schedule, Static | Periodic):
            rounds = len(self.schedule.table) if isinstance(self.schedule, Periodic) else 1
            p = self.probs_many(np.arange(rounds))
            if (empty := np.flatnonzero(p.max(axis=1) <= 0)).size:
                raise ValueError(f"{self.spec} makes no client available in round {int(empty[0])} (every p "
                                 "is 0 there), so that round could never be trained; choose another beta")

    def _guard(self, nonempty: np.ndarray, ts: np.ndarray) -> None:
        bad = nonempty < MIN_NONEMPTY_PROB
        if np.any(bad):
            t = int(np.asarray(ts)[np.argmax(bad)])
            raise ValueError(
                f"{self.spec}: in round {t} the chance that any client is available is "
                f"{float(nonempty[np.argmax(bad)]):.3g} (all p are (nearly) 0), so redrawing until someone "
                f"is available would never end; choose a mode/beta with some p > 0")

    def draw(self, t: int, rng: np.random.Generator) -> np.ndarray:
        """Bool (N,): independent Bernoulli(p_i(t)) per client, redrawn while nobody is available.

        Each attempt consumes exactly one ``rng.random(N)``; ``trace`` consumes the rng identically.
        Raises ValueError when the chance of a non-empty draw is below 1e-6 (e.g. all p = 0), where the
        redraw loop would in effect never end.
        """
        p = self.probs(t)
        self._guard(_nonempty_prob(p)[None], np.array([t]))
        while True:
            mask = rng.random(self.num_clients) < p
            if mask.any():
                return mask

    def trace(self, rounds: int, rng: np.random.Generator, start: int = 0) -> np.ndarray:
        """Bool (N, rounds): the masks of rounds start..start+rounds-1.

        Identical (values and final rng state) to calling ``draw(t, rng)`` for each round in order, but
        vectorised: uniforms for a block of rounds are drawn at once; when a round comes out empty the
        rng is rewound to that round and the redraw is done exactly as ``draw`` would.
        """
        if isinstance(rounds, bool) or int(rounds) != rounds or rounds < 0:
            raise ValueError(f"rounds must be a non-negative integer, got {rounds!r}")
        rounds, n = int(rounds), self.num_clients
        ts = np.arange(start, start + rounds, dtype=np.int64)
        p_all = self.probs_many(ts)
        self._guard(_nonempty_prob(p_all), ts)
        out = np.empty((rounds, n), dtype=bool)
        i, block = 0, rounds
        while i < rounds:
            b = min(block, rounds - i)
            state = rng.bit_generator.state
            masks = rng.random((b, n)) < p_all[i:i + b]
            empty = ~masks.any(axis=1)
            if not empty.any():
                out[i:i + b] = masks
                i += b
                block = 2 * block
                continue
            k = int(np.argmax(empty))
            out[i:i + k] = masks[:k]
            # rewind and consume exactly what draw() would have: k good rounds + the empty attempt
            rng.bit_generator.state = state
            rng.random((k + 1) * n)
            p = p_all[i + k]
            while True:
                mask = rng.random(n) < p
                if mask.any():
                    break
            out[i + k] = mask
            i += k + 1
            block = max(8, 2 * (k + 1))  # empties are frequent here: keep blocks short
        return out.T.copy()


def _check_trace(trace: Any) -> np.ndarray:
    trace = np.asarray(trace)
    if trace.ndim != 2:
        raise ValueError(f"trace must be a 2-D (clients, rounds) array, got shape {trace.shape}")
    if trace.dtype != bool:
        if not np.isin(trace, (0, 1)).all():
            raise ValueError("trace must be boolean (or 0/1)")
        trace = trace.astype(bool)
    return trace


def availability_summary(trace: np.ndarray) -> dict[str, Any]:
    """Numbers describing a bool (N, T) trace."""
    trace = _check_trace(trace)
    n, t = trace.shape
    if t == 0:
        raise ValueError("trace has no rounds")
    per_client = trace.mean(axis=1)
    per_round = trace.sum(axis=0)
    return {
        "num_clients": n,
        "rounds": t,
        "mean_availability": float(trace.mean()),
        "client_fraction": per_client,  # fraction of rounds each client is available
        "min_client_fraction": float(per_client.min()),
        "max_client_fraction": float(per_client.max()),
        "mean_available_per_round": float(per_round.mean()),
        "min_available_per_round": int(per_round.min()),
        "max_available_per_round": int(per_round.max()),
        "never_available": np.flatnonzero(per_client == 0),
    }


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
