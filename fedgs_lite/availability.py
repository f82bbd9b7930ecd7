"""Client availability modes: the probability that client i can be reached in round t.

FedGS studies client sampling when clients come and go ("arbitrary client availability"). Each mode
below turns per-client statistics (data size, label histogram) into probabilities ``p_i(t)``; in every
round each client is available independently with probability ``p_i(t)`` (a Bernoulli draw), and if
nobody is available the whole draw is repeated, as the authors' simulator does (so the mask is drawn
conditionally on "at least one client available").

A mode is named by a spec string ``"KEY"`` or ``"KEY-beta"`` (``"LN"``, ``"LN-0.1"``, ``"MDF-1e-4"``).
Keys are case-insensitive and canonicalised to upper case; the authors' long names (``"LogNormal"``,
``"MoreDataFirst"``, ...) are accepted as aliases. With L classes, |D_i| client i's data size and
"labels of i" the classes with a nonzero count in its histogram:

======  ===============  ===========================================================  =======  =====
key     authors' name    rule                                                         FedGS    FLGo
======  ===============  ===========================================================  =======  =====
IDL     ideal            p = 1                                                        -        -
MDF     MoreDataFirst    p_i = |D_i|^beta / max_j |D_j|^beta            (beta >= 0)   1e-5     1e-4
LDF     LessDataFirst    p_i = |D_i|^-beta / max_j |D_j|^-beta          (beta >= 0)   0.1      0.5
YMF     YMaxFirst        p_i = beta * min(labels of i) / (L-1) + 1 - beta  (0..1)     0.1      0.1
YFF     FewerYFirst      p_i = beta * (number of labels of i) / L + 1 - beta  (0..1)  0.1      0.2
HOMO    Homogeneous      p_i = 1 - beta                                     (0..1)    0.8      0.2
LN      LogNormal        p_i = T_i / max_j T_j, T_i ~ LogNormal(0, -ln(1-beta))  [0,1)  0.1     0.1
SLN     SinLogNormal     LN's p_i * (0.4 sin(2 pi (t mod 24) / 23) + 0.5)      [0,1)  0.1      0.1
YC      YCycle           p_i(t) = beta * [i holds label (t mod 10L) // 10] + 1 - beta  0.5     0.5
======  ===============  ===========================================================  =======  =====

Defaults: the kit uses the authors' FedGS defaults (``FEDGS_DEFAULT_BETAS``, faithful to the paper);
the later FLGo framework's defaults are kept in ``FLGO_DEFAULT_BETAS`` (pass them explicitly, e.g.
``f"HOMO-{FLGO_DEFAULT_BETAS['HOMO']}"``). Note HOMO's default differs in meaning: the authors' 0.8
gives p = 0.2, FLGo's 0.2 gives p = 0.8.

Details taken from the authors' code (``utils/systemic_simulator.py`` in WwZzz/FedGS):
- SLN's factor is the table ``0.4 * sin(linspace(0, 2 pi, 24)) + 0.5`` indexed by ``t mod 24``, i.e.
  step 2 pi / 23 (rounds 0 and 23 share the factor 0.5).
- YC: with r = (1 + t mod T) / T and T = 10 L, client i gets the bonus when r lies in
  (l/L, (l+1)/L] for one of its labels l. That is exactly "label (t mod T) // 10 is active"; we use
  this integer form, which avoids the float boundary cases. (FLGo's YC differs: T = 24 and one
  interval [min label, max label] / max label per client.)
- LN/SLN draw T_i once, at construction, from the rng given to :func:`make_availability`. The authors
  use sigma = -ln(1 - beta - 1e-6); we use -ln(1 - beta), so beta = 0 gives the ideal mode exactly.

Add your own mode with :func:`register_mode`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fedgs_lite._plot import figure_and_axes

MODES = ("IDL", "MDF", "LDF", "YMF", "YFF", "HOMO", "LN", "SLN", "YC")

FEDGS_DEFAULT_BETAS: dict[str, float | None] = {
    "IDL": None, "MDF": 1e-5, "LDF": 0.1, "YMF": 0.1, "YFF": 0.1, "HOMO": 0.8, "LN": 0.1, "SLN": 0.1,
    "YC": 0.5,
}
FLGO_DEFAULT_BETAS: dict[str, float | None] = {
    "IDL": None, "MDF": 1e-4, "LDF": 0.5, "YMF": 0.1, "YFF": 0.2, "HOMO": 0.2, "LN": 0.1, "SLN": 0.1,
    "YC": 0.5,
}
AUTHOR_NAMES: dict[str, str] = {
    "IDL": "ideal", "MDF": "MoreDataFirst", "LDF": "LessDataFirst", "YMF": "YMaxFirst",
    "YFF": "FewerYFirst", "HOMO": "Homogeneous", "LN": "LogNormal", "SLN": "SinLogNormal",
    "YC": "YCycle",
}

SLN_PERIOD = 24
YC_ROUNDS_PER_LABEL = 10
# Below this chance of drawing a non-empty mask the redraw loop would effectively never end.
_MIN_NONEMPTY_PROB = 1e-6


# --------------------------------------------------------------------------------------------------
# Client statistics


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
        """From a :class:`~fedgs_lite.partition.FederatedDataset` (uses its sizes and histograms)."""
        return cls(sizes=np.asarray(fed.sizes), label_histograms=np.asarray(fed.label_histograms))

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


# --------------------------------------------------------------------------------------------------
# Probability schedules: what a mode factory builds


class _Static:
    """p(t) does not depend on t."""

    def __init__(self, p: np.ndarray) -> None:
        self.p = np.asarray(p, dtype=float)

    def __call__(self, t: int) -> np.ndarray:
        return self.p.copy()

    def many(self, ts: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.p, (len(ts), self.p.size))


class _Periodic:
    """p(t) = table[t mod period]; table has shape (period, N)."""

    def __init__(self, table: np.ndarray) -> None:
        self.table = np.asarray(table, dtype=float)

    def __call__(self, t: int) -> np.ndarray:
        return self.table[t % len(self.table)].copy()

    def many(self, ts: np.ndarray) -> np.ndarray:
        return self.table[np.asarray(ts) % len(self.table)]


# --------------------------------------------------------------------------------------------------
# Built-in modes


def _ideal(stats: ClientStats, beta: float | None, rng: np.random.Generator) -> _Static:
    return _Static(np.ones(stats.num_clients))


def _more_data_first(stats: ClientStats, beta: float | None, rng: np.random.Generator) -> _Static:
    c = stats.sizes.astype(float) ** beta
    if c.max() <= 0:
        raise ValueError("MDF needs at least one client with data (all sizes are 0)")
    return _Static(c / c.max())


def _less_data_first(stats: ClientStats, beta: float | None, rng: np.random.Generator) -> _Static:
    if beta > 0 and np.any(stats.sizes <= 0):
        raise ValueError("LDF with beta > 0 needs every client to hold data (|D_i|^-beta is infinite at 0)")
    c = stats.sizes.astype(float) ** (-beta)
    return _Static(c / c.max())


def _y_max_first(stats: ClientStats, beta: float | None, rng: np.random.Generator) -> _Static:
    has = stats.has_label
    if not np.all(has.any(axis=1)):
        empty = np.flatnonzero(~has.any(axis=1)).tolist()
        raise ValueError(f"YMF needs every client to hold at least one label; clients {empty} hold none")
    min_label = has.argmax(axis=1).astype(float)  # first True = smallest class index held
    return _Static(beta * min_label / max(1, stats.num_classes - 1) + (1.0 - beta))


def _fewer_y_first(stats: ClientStats, beta: float | None, rng: np.random.Generator) -> _Static:
    n_labels = stats.has_label.sum(axis=1).astype(float)
    return _Static(beta * n_labels / stats.num_classes + (1.0 - beta))


def _homogeneous(stats: ClientStats, beta: float | None, rng: np.random.Generator) -> _Static:
    return _Static(np.full(stats.num_clients, 1.0 - beta))


def _lognormal_q(n: int, beta: float, rng: np.random.Generator) -> np.ndarray:
    sigma = -math.log1p(-beta)
    tk = rng.lognormal(0.0, sigma, size=n)
    return tk / tk.max()


def _lognormal(stats: ClientStats, beta: float | None, rng: np.random.Generator) -> _Static:
    return _Static(_lognormal_q(stats.num_clients, beta, rng))


def sln_factor(t: int | np.ndarray) -> np.ndarray:
    """SLN's time factor in round t: the authors' table 0.4 sin(linspace(0, 2 pi, 24)) + 0.5."""
    table = 0.4 * np.sin(np.linspace(0.0, 2.0 * np.pi, SLN_PERIOD)) + 0.5
    return table[np.asarray(t) % SLN_PERIOD]


def _sin_lognormal(stats: ClientStats, beta: float | None, rng: np.random.Generator) -> _Periodic:
    q = _lognormal_q(stats.num_clients, beta, rng)
    return _Periodic(sln_factor(np.arange(SLN_PERIOD))[:, None] * q[None, :])


def _y_cycle(stats: ClientStats, beta: float | None, rng: np.random.Generator) -> _Periodic:
    period = YC_ROUNDS_PER_LABEL * stats.num_classes
    active_label = np.arange(period) // YC_ROUNDS_PER_LABEL  # (T,)
    bonus = stats.has_label[:, active_label].T.astype(float)  # (T, N)
    return _Periodic(beta * bonus + (1.0 - beta))


def _range_check(lo: float, hi: float, hi_closed: bool) -> Callable[[float], str | None]:
    hi_txt = "<=" if hi_closed else "<"
    text = f"{lo} <= beta" + (f" {hi_txt} {hi}" if math.isfinite(hi) else "")

    def check(beta: float) -> str | None:
        ok = lo <= beta and (beta <= hi if hi_closed else beta < hi)
        return None if ok else text

    return check


# --------------------------------------------------------------------------------------------------
# Registry


@dataclass(frozen=True)
class _Mode:
    key: str
    factory: Callable[..., Any]
    default_beta: float | None
    doc: str
    takes_beta: bool = True
    beta_check: Callable[[float], str | None] | None = None
    aliases: tuple[str, ...] = ()


_UNIT = _range_check(0.0, 1.0, True)
_UNIT_OPEN = _range_check(0.0, 1.0, False)
_NONNEG = _range_check(0.0, math.inf, True)

_DOCS = {
    "IDL": "Ideal: every client is available in every round (p = 1).",
    "MDF": "More Data First: p_i = |D_i|^beta / max_j |D_j|^beta, so clients with more data are "
           "available more often (beta = 0 is ideal; larger beta, stronger bias).",
    "LDF": "Less Data First: p_i = |D_i|^-beta / max_j |D_j|^-beta, so clients with less data are "
           "available more often (the largest clients are the hardest to reach).",
    "YMF": "Y-Max First: p_i = beta * (smallest label of i)/(L-1) + 1 - beta, so clients whose labels "
           "are all large class indices are available more often (availability tied to label skew).",
    "YFF": "Fewer-Y First (authors' rule): p_i = beta * (number of labels of i)/L + 1 - beta, so "
           "clients holding more distinct labels are available more often, despite the name.",
    "HOMO": "Homogeneous: every client has the same p = 1 - beta (the authors' default 0.8 gives 0.2); "
            "unbiased but sparse.",
    "LN": "Log-Normal: p_i = T_i / max T with T_i ~ LogNormal(0, -ln(1-beta)) drawn once, so each "
          "client gets a fixed random rate unrelated to its data (beta = 0 is ideal; larger beta spreads "
          "the rates, leaving a few clients almost always reachable and many rarely).",
    "SLN": "Sin-Log-Normal: LN's p_i times a daily wave 0.4 sin(2 pi (t mod 24)/23) + 0.5, so who is "
           "available also depends on the round (time-varying availability).",
    "YC": "Y-Cycle: every 10 rounds one label is 'active' (cycling through all L labels); clients "
          "holding it get p = 1, the others 1 - beta, so the available data drifts over time.",
}

_BUILTINS: dict[str, tuple[Callable[..., Any], Callable[[float], str | None] | None]] = {
    "IDL": (_ideal, None), "MDF": (_more_data_first, _NONNEG), "LDF": (_less_data_first, _NONNEG),
    "YMF": (_y_max_first, _UNIT), "YFF": (_fewer_y_first, _UNIT), "HOMO": (_homogeneous, _UNIT),
    "LN": (_lognormal, _UNIT_OPEN), "SLN": (_sin_lognormal, _UNIT_OPEN), "YC": (_y_cycle, _UNIT),
}

_REGISTRY: dict[str, _Mode] = {
    key: _Mode(key, fn, FEDGS_DEFAULT_BETAS[key], _DOCS[key], takes_beta=key != "IDL", beta_check=chk,
               aliases=(AUTHOR_NAMES[key].upper(),))
    for key, (fn, chk) in _BUILTINS.items()
}
_KEY_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_NUMBER_RE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def available_modes() -> tuple[str, ...]:
    """All registered mode keys (built-ins first, then user modes in registration order)."""
    return tuple(_REGISTRY)


def _allowed_text() -> str:
    names = ", ".join(available_modes())
    return (f"allowed keys: {names} (case-insensitive; also the authors' long names "
            f"{', '.join(AUTHOR_NAMES.values())}); write 'KEY' or 'KEY-beta', e.g. 'LN-0.1'")


def _lookup(name: str) -> _Mode:
    upper = name.upper()
    if upper in _REGISTRY:
        return _REGISTRY[upper]
    for mode in _REGISTRY.values():
        if upper in mode.aliases:
            return mode
    raise ValueError(f"unknown availability mode {name!r}; {_allowed_text()}")


def register_mode(key: str, factory: Callable[..., Any], default_beta: float | None = None, doc: str = "",
                  *, overwrite: bool = False) -> None:
    """Add a user availability mode, usable as ``make_availability("KEY-beta", stats, rng)``.

    ``factory(stats: ClientStats, beta: float | None, rng) -> probs`` where probs is either a
    callable ``probs(t) -> (N,) array in [0, 1]`` or, for a static mode, an (N,) array. beta is the
    number in the spec, else ``default_beta`` (may be None); the factory checks its own range and
    should raise ValueError for a bad beta. Registering an existing key (or a built-in alias) raises
    unless ``overwrite=True``.
    """
    if not isinstance(key, str) or not _KEY_RE.match(key):
        raise ValueError(
            f"mode key must be letters, digits or '_' starting with a letter (no '-'), got {key!r}")
    if not callable(factory):
        raise ValueError("factory must be callable: factory(stats, beta, rng) -> probs(t) or (N,) array")
    if default_beta is not None and not math.isfinite(float(default_beta)):
        raise ValueError(f"default_beta must be a finite number or None, got {default_beta!r}")
    upper = key.upper()
    taken = upper in _REGISTRY or any(upper in m.aliases for m in _REGISTRY.values())
    if taken and not overwrite:
        raise ValueError(f"availability mode {upper!r} already exists; pass overwrite=True to replace it")
    for other in list(_REGISTRY.values()):
        if upper in other.aliases:  # the new key shadows an alias: drop it so lookups stay unambiguous
            _REGISTRY[other.key] = _Mode(other.key, other.factory, other.default_beta, other.doc,
                                         other.takes_beta, other.beta_check,
                                         tuple(a for a in other.aliases if a != upper))
    kept_aliases = _REGISTRY[upper].aliases if upper in _REGISTRY else ()
    _REGISTRY[upper] = _Mode(upper, factory, None if default_beta is None else float(default_beta),
                             doc or f"User mode {upper}.", aliases=kept_aliases)


def unregister_mode(key: str) -> None:
    """Remove a user mode (built-in modes cannot be removed, only overwritten)."""
    upper = key.upper()
    if upper in _BUILTINS:
        raise ValueError(f"{upper!r} is a built-in mode and cannot be removed")
    if upper not in _REGISTRY:
        raise ValueError(f"no user mode {upper!r}; registered: {', '.join(available_modes())}")
    del _REGISTRY[upper]


def describe_mode(key: str) -> str:
    """One-paragraph description of a mode (key, alias or full spec): rule, what it favours, defaults."""
    name = key.split("-", 1)[0].strip() if isinstance(key, str) else key
    if not isinstance(name, str):
        raise TypeError(f"mode must be a string, got {type(key).__name__}")
    mode = _lookup(name)
    text = mode.doc
    builtin = mode.key in _BUILTINS and mode.factory is _BUILTINS[mode.key][0]
    if builtin and mode.key != "IDL":
        text += (f" Default beta {FEDGS_DEFAULT_BETAS[mode.key]:g} (authors' FedGS code; "
                 f"FLGo uses {FLGO_DEFAULT_BETAS[mode.key]:g}).")
    elif mode.default_beta is not None:
        text += f" Default beta {mode.default_beta:g}."
    return text


# --------------------------------------------------------------------------------------------------
# Parsing


def _format_beta(beta: float) -> str:
    short = f"{beta:g}"
    return short if float(short) == beta else repr(beta)


def parse_mode(spec: str) -> tuple[str, float | None]:
    """Split a spec: ``"LN-0.1"`` -> ``("LN", 0.1)``, ``"IDL"`` -> ``("IDL", None)``.

    Without a number the mode's default beta is returned.

    Raises ValueError for an unknown key, a malformed beta, a beta out of the mode's range, or a beta
    given to a mode that takes none.
    """
    if not isinstance(spec, str):
        raise TypeError(f"availability mode must be a string like 'LN-0.1', got {type(spec).__name__}")
    text = spec.strip()
    name, sep, rest = text.partition("-")
    if not name:
        raise ValueError(f"empty availability mode {spec!r}; {_allowed_text()}")
    mode = _lookup(name)
    if not sep:
        return mode.key, mode.default_beta
    if not mode.takes_beta:
        raise ValueError(f"mode {mode.key} takes no beta, got {spec!r}; write just {mode.key!r}")
    if not _NUMBER_RE.match(rest):
        raise ValueError(f"malformed availability mode {spec!r}: {rest!r} after '-' is not a number; "
                         f"write 'KEY-beta' with one number, e.g. '{mode.key}-0.1'")
    beta = float(rest)
    problem = mode.beta_check(beta) if mode.beta_check is not None else None
    if problem is not None:
        raise ValueError(f"beta {beta:g} out of range for {mode.key} in {spec!r}: {mode.key} needs {problem}")
    return mode.key, beta


def canonical_spec(key: str, beta: float | None) -> str:
    """``("LN", 0.1)`` -> ``"LN-0.1"``; ``("IDL", None)`` -> ``"IDL"``. Round-trips through parse_mode."""
    return key if beta is None else f"{key}-{_format_beta(beta)}"


# --------------------------------------------------------------------------------------------------
# Availability


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
    _schedule: Callable[[int], np.ndarray] = field(repr=False)

    def probs(self, t: int) -> np.ndarray:
        """Float (N,): probability that each client is available in round t (before the redraw rule)."""
        return _check_probs(self._schedule(int(t)), self.num_clients, f"{self.spec} at round {t}")

    def probs_many(self, ts: np.ndarray) -> np.ndarray:
        """Float (len(ts), N): probs for several rounds at once (vectorised for built-in modes)."""
        ts = np.asarray(ts, dtype=np.int64)
        many = getattr(self._schedule, "many", None)
        if many is not None:
            return _check_probs(many(ts), self.num_clients, self.spec).reshape(len(ts), self.num_clients)
        if len(ts) == 0:
            return np.zeros((0, self.num_clients))
        return np.stack([self.probs(int(t)) for t in ts])

    def _guard(self, nonempty: np.ndarray, ts: np.ndarray) -> None:
        bad = nonempty < _MIN_NONEMPTY_PROB
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


def make_availability(spec: str, stats: ClientStats, rng: np.random.Generator) -> Availability:
    """Bind the mode named by ``spec`` to the clients in ``stats``.

    ``rng`` is used only by modes with construction-time randomness (LN, SLN: the T_i draw).
    """
    if not isinstance(stats, ClientStats):
        raise TypeError(f"stats must be a ClientStats (e.g. ClientStats.from_federated(fed)), "
                        f"got {type(stats).__name__}")
    key, beta = parse_mode(spec)
    schedule = _REGISTRY[key].factory(stats, beta, rng)
    if isinstance(schedule, np.ndarray | list | tuple):
        schedule = _Static(np.asarray(schedule, dtype=float))
    if not callable(schedule):
        raise ValueError(f"mode {key}: factory must return probs(t) or an (N,) array, "
                         f"got {type(schedule).__name__}")
    avail = Availability(canonical_spec(key, beta), key, beta, stats.num_clients, schedule)
    avail.probs(0)  # fail early on a bad shape or range
    return avail


# --------------------------------------------------------------------------------------------------
# Degenerate modes

_UNIFORM_BY_DESIGN = ("IDL", "HOMO")  # every client the same p is what these modes mean
_DEGENERATE_ROUNDS = 240  # rounds checked for a user mode whose period is unknown


def _degenerate_cause(key: str, beta: float | None, stats: ClientStats) -> str:
    if beta == 0:
        return "beta = 0 switches its rule off"
    sizes, has = np.asarray(stats.sizes), stats.has_label
    if key in ("MDF", "LDF") and np.ptp(sizes) == 0:
        return f"every client holds {int(sizes[0])} training samples"
    if key == "YFF":
        return f"every client holds {int(has[0].sum())} of the {stats.num_classes} labels"
    if key == "YMF":
        return f"every client's smallest label is {int(has[0].argmax())}"
    if key == "YC":
        return "every client holds the same labels"
    return "its rule gives every client the same probability here"


def degenerate_reason(spec: str, clients: Any, *, rng: np.random.Generator | None = None,
                      rounds: int = _DEGENERATE_ROUNDS) -> str | None:
    """Why mode `spec` is degenerate on these clients, in one line, or None when it is not.

    Degenerate: every client has the same probability in every round, so the mode cannot favour any
    client (e.g. MDF or LDF on equal-size clients is IDL, YFF on 2 labels per client is HOMO). IDL and
    HOMO are uniform by design and never reported. `clients` is a ClientStats or a FederatedDataset.
    `rng` seeds LN/SLN's draw (default: a fixed seed; their spread depends only on beta). Periodic
    built-in modes are checked over their whole period, a user mode over `rounds` rounds.
    """
    stats = clients if isinstance(clients, ClientStats) else ClientStats.from_federated(clients)
    key, beta = parse_mode(spec)
    builtin = key in _BUILTINS and _REGISTRY[key].factory is _BUILTINS[key][0]
    if stats.num_clients < 2 or (builtin and key in _UNIFORM_BY_DESIGN):
        return None
    avail = make_availability(spec, stats, np.random.default_rng(0) if rng is None else rng)
    schedule = avail._schedule
    if isinstance(schedule, _Static):
        ts = np.zeros(1, dtype=np.int64)
    elif isinstance(schedule, _Periodic):
        ts = np.arange(len(schedule.table))
    else:
        ts = np.arange(int(rounds))
    p = avail.probs_many(ts)
    if np.ptp(p, axis=1).max() > 1e-12:
        return None
    level = p[:, 0]
    if np.all(level == 1.0):
        same = "the same as IDL"
    elif np.ptp(level) <= 1e-12:
        same = f"the same as HOMO-{_format_beta(float(1.0 - level[0]))}"
    else:
        same = "p changes with the round but never between clients"
    where = f"p = {level[0]:.3g}" if np.ptp(level) <= 1e-12 else "the same p"
    return (f"{avail.spec} is degenerate on these {stats.num_clients} clients: "
            f"{_degenerate_cause(key, beta, stats)}, so every client has {where} in every round ({same})")


# --------------------------------------------------------------------------------------------------
# Summaries and plots


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


def plot_availability_heatmap(trace: np.ndarray, ax: Any = None, *, sort: bool = False,
                              title: str | None = None) -> Any:
    """Clients x rounds heatmap of a bool (N, T) trace (dark = available). Returns the Figure.

    ``sort=True`` orders clients by mean availability (most available on top); y tick labels then
    show the original client ids.
    """
    from matplotlib.colors import ListedColormap

    trace = _check_trace(trace)
    n, t = trace.shape
    fig, ax = figure_and_axes(ax, (8.0, float(np.clip(1.5 + 0.15 * n, 2.5, 8.0))))
    order = np.argsort(-trace.mean(axis=1), kind="stable") if sort else np.arange(n)
    ax.imshow(trace[order].astype(np.uint8), aspect="auto", interpolation="nearest",
              cmap=ListedColormap(["#f2f2f2", "#1f4e79"]), vmin=0, vmax=1,
              extent=(-0.5, t - 0.5, n - 0.5, -0.5))
    ax.set_xlabel("round")
    ax.set_ylabel("client (sorted by mean availability)" if sort else "client")
    if n <= 40:
        ax.set_yticks(np.arange(n))
        ax.set_yticklabels([str(i) for i in order], fontsize=8 if n > 20 else 10)
    mean = trace.mean() if trace.size else float("nan")
    ax.set_title(title if title is not None else f"availability (dark = available), mean {mean:.2f}")
    return fig


def plot_availability_probs(probs: np.ndarray, ax: Any = None, *, title: str | None = None) -> Any:
    """Bar chart of per-client availability probabilities (N,), with their mean. Returns the Figure."""
    probs = np.asarray(probs, dtype=float)
    if probs.ndim != 1 or probs.size == 0:
        raise ValueError(f"probs must be a non-empty 1-D array, got shape {probs.shape}")
    n = probs.size
    fig, ax = figure_and_axes(ax, (float(np.clip(2.0 + 0.2 * n, 5.0, 10.0)), 3.0))
    ax.bar(np.arange(n), probs, color="#1f4e79", width=0.8)
    ax.axhline(probs.mean(), color="#c0504d", linestyle="--", linewidth=1, label=f"mean {probs.mean():.2f}")
    ax.set_xlim(-0.6, n - 0.4)
    ax.set_ylim(0.0, 1.05)
    ax.set_xlabel("client")
    ax.set_ylabel("P(available)")
    if n <= 40:
        ax.set_xticks(np.arange(n))
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(title if title is not None else "per-client availability probability")
    return fig
