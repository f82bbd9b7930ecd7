"""Client availability modes: the probability p_i(t) that client i can be reached in round t.

Each mode turns per-client statistics (data size, label histogram: `ClientStats`) into probabilities
p_i(t); `masks.Availability` draws the rounds' masks from them. `MODES` holds one row per built-in mode
(its rule, the authors' name, its FedGS and FLGo default beta, its beta range and a description).

A mode is named by a spec string ``"KEY"`` or ``"KEY-beta"`` (``"LN"``, ``"LN-0.1"``, ``"MDF-1e-4"``).
Keys are case-insensitive and canonicalised to upper case; the authors' long names (``"LogNormal"``,
``"MoreDataFirst"``, ...) are accepted as aliases. Without a beta the authors' FedGS default is used
(faithful to the paper); FLGo's differ (``FLGO_DEFAULT_BETAS``): HOMO's 0.8 gives p = 0.2, FLGo's 0.2
gives p = 0.8.

Details taken from the authors' code (``utils/systemic_simulator.py`` in WwZzz/FedGS):
- SLN's factor is the table ``0.4 * sin(linspace(0, 2 pi, 24)) + 0.5`` indexed by ``t mod 24``, i.e.
  step 2 pi / 23 (rounds 0 and 23 share the factor 0.5).
- YC: with r = (1 + t mod T) / T and T = 10 L, client i gets the bonus when r lies in
  (l/L, (l+1)/L] for one of its labels l. That is exactly "label (t mod T) // 10 is active"; we use
  this integer form, which avoids the float boundary cases. (FLGo's YC differs: T = 24 and one
  interval [min label, max label] / max label per client.)
- LN/SLN draw T_i once, at construction, from the rng given to :func:`make_availability`. The authors
  use sigma = -ln(1 - beta - 1e-6); we use -ln(1 - beta), so beta = 0 gives the ideal mode exactly.

Add your own mode with :func:`register_mode`; built-in modes are registered the same way.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from fedgs_lite.masks import Availability, ClientStats
from fedgs_lite.masks import Periodic as _Periodic  # the rules' schedules; the aliases keep their bodies
from fedgs_lite.masks import Static as _Static  # as first written
from fedgs_lite.registry import Registry

SLN_PERIOD = 24
YC_ROUNDS_PER_LABEL = 10


# --------------------------------------------------------------------------------------------------
# Built-in modes


def _ideal(stats: ClientStats, beta: float | None, rng: np.random.Generator) -> _Static:
    return _Static(np.ones(stats.num_clients))


def _more_data_first(stats: ClientStats, beta: float | None, rng: np.random.Generator) -> _Static:
    if beta > 0 and stats.sizes.max() <= 0:
        raise ValueError("MDF needs at least one client with data (all sizes are 0)")
    return _Static(stats.size_power(beta))


def _less_data_first(stats: ClientStats, beta: float | None, rng: np.random.Generator) -> _Static:
    if beta > 0 and np.any(stats.sizes <= 0):
        raise ValueError("LDF with beta > 0 needs every client to hold data (|D_i|^-beta is infinite at 0)")
    return _Static(stats.size_power(-beta))


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


_UNIT = _range_check(0.0, 1.0, True)
_UNIT_OPEN = _range_check(0.0, 1.0, False)
_NONNEG = _range_check(0.0, math.inf, True)


# --------------------------------------------------------------------------------------------------
# The modes: one row each


@dataclass(frozen=True)
class Mode:
    """One built-in availability mode: its rule, its names and defaults, and what it favours."""

    rule: Callable[[ClientStats, float | None, np.random.Generator], Any]
    author_name: str                  # the authors' (and FLGo's) long name, accepted as an alias
    fedgs_beta: float | None          # default beta in the authors' FedGS code (the kit's default)
    flgo_beta: float | None           # default beta in the later FLGo framework
    beta_check: Callable[[float], str | None] | None  # None: the mode takes no beta
    doc: str


MODES: dict[str, Mode] = {
    "IDL": Mode(_ideal, "ideal", None, None, None,
                "Ideal: every client is available in every round (p = 1)."),
    "MDF": Mode(_more_data_first, "MoreDataFirst", 1e-5, 1e-4, _NONNEG,
                "More Data First: p_i = |D_i|^beta / max_j |D_j|^beta, so clients with more data are "
                "available more often (beta = 0 is ideal; larger beta, stronger bias)."),
    "LDF": Mode(_less_data_first, "LessDataFirst", 0.1, 0.5, _NONNEG,
                "Less Data First: p_i = |D_i|^-beta / max_j |D_j|^-beta, so clients with less data are "
                "available more often (the largest clients are the hardest to reach)."),
    "YMF": Mode(_y_max_first, "YMaxFirst", 0.1, 0.1, _UNIT,
                "Y-Max First: p_i = beta * (smallest label of i)/(L-1) + 1 - beta, so clients whose labels "
                "are all large class indices are available more often (availability tied to label skew)."),
    "YFF": Mode(_fewer_y_first, "FewerYFirst", 0.1, 0.2, _UNIT,
                "Fewer-Y First (authors' rule): p_i = beta * (number of labels of i)/L + 1 - beta, so "
                "clients holding more distinct labels are available more often, despite the name."),
    "HOMO": Mode(_homogeneous, "Homogeneous", 0.8, 0.2, _UNIT_OPEN,  # beta = 1: nobody is ever available
                 "Homogeneous: every client has the same p = 1 - beta (the authors' default 0.8 gives 0.2); "
                 "unbiased but sparse."),
    "LN": Mode(_lognormal, "LogNormal", 0.1, 0.1, _UNIT_OPEN,
               "Log-Normal: p_i = T_i / max T with T_i ~ LogNormal(0, -ln(1-beta)) drawn once, so each "
               "client gets a fixed random rate unrelated to its data (beta = 0 is ideal; larger beta "
               "spreads the rates, leaving a few clients almost always reachable and many rarely)."),
    "SLN": Mode(_sin_lognormal, "SinLogNormal", 0.1, 0.1, _UNIT_OPEN,
                "Sin-Log-Normal: LN's p_i times a daily wave 0.4 sin(2 pi (t mod 24)/23) + 0.5, so who is "
                "available also depends on the round (time-varying availability)."),
    "YC": Mode(_y_cycle, "YCycle", 0.5, 0.5, _UNIT,
               "Y-Cycle: every 10 rounds one label is 'active' (cycling through all L labels); clients "
               "holding it get p = 1, the others 1 - beta, so the available data drifts over time."),
}
FEDGS_DEFAULT_BETAS = {key: mode.fedgs_beta for key, mode in MODES.items()}
FLGO_DEFAULT_BETAS = {key: mode.flgo_beta for key, mode in MODES.items()}
AUTHOR_NAMES = {key: mode.author_name for key, mode in MODES.items()}


# --------------------------------------------------------------------------------------------------
# Registry: built-in modes are registered exactly like users' (register_mode)

REGISTRY = Registry("availability mode", lambda name: str(name).strip().upper(),
                    "case-insensitive, also the authors' long names; write 'KEY' or 'KEY-beta', e.g. "
                    "'LN-0.1'")


def register_mode(key: str, factory: Callable[..., Any], default_beta: float | None = None, doc: str = "",
                  *, takes_beta: bool = True, beta_check: Callable[[float], str | None] | None = None,
                  aliases: tuple[str, ...] = (), overwrite: bool = False) -> None:
    """Add an availability mode, usable as ``make_availability("KEY-beta", stats, rng)``.

    ``factory(stats: ClientStats, beta: float | None, rng) -> probs`` where probs is either a
    callable ``probs(t) -> (N,) array in [0, 1]`` or, for a static mode, an (N,) array. beta is the
    number in the spec, else ``default_beta`` (may be None); ``beta_check(beta)`` returns None or what
    beta must be (else the factory checks its own range). Registering an existing key (or alias)
    raises unless ``overwrite=True``. The built-in modes are registered by this same function.
    """
    if default_beta is not None and not math.isfinite(float(default_beta)):
        raise ValueError(f"default_beta must be a finite number or None, got {default_beta!r}")
    REGISTRY.register(key, factory, aliases=aliases, overwrite=overwrite, takes_beta=takes_beta,
                      default_beta=None if default_beta is None else float(default_beta),
                      doc=doc or f"User mode {str(key).upper()}.", beta_check=beta_check)


for _key, _mode in MODES.items():
    register_mode(_key, _mode.rule, _mode.fedgs_beta, _mode.doc, takes_beta=_mode.beta_check is not None,
                  beta_check=_mode.beta_check, aliases=(_mode.author_name,))
REGISTRY.mark_builtin()


def unregister_mode(key: str) -> None:
    """Remove a user mode (built-in modes cannot be removed, only overwritten)."""
    REGISTRY.unregister(key)


def available_modes() -> tuple[str, ...]:
    """All registered mode keys (built-ins first, then user modes in registration order)."""
    return REGISTRY.names()


def describe_mode(key: str) -> str:
    """One-paragraph description of a mode (key, alias or full spec): rule, what it favours, defaults."""
    if not isinstance(key, str):
        raise TypeError(f"mode must be a string, got {type(key).__name__}")
    entry = REGISTRY.get(key.split("-", 1)[0].strip())
    mode = MODES.get(entry.name)
    mode = mode if mode is not None and entry.factory is mode.rule else None  # not overwritten by a user
    text = entry.info["doc"]
    if mode is not None and mode.fedgs_beta is not None:
        text += f" Default beta {mode.fedgs_beta:g} (authors' FedGS code; FLGo uses {mode.flgo_beta:g})."
    elif mode is None and entry.info["default_beta"] is not None:
        text += f" Default beta {entry.info['default_beta']:g}."
    return text


# --------------------------------------------------------------------------------------------------
# Parsing and binding


_NUMBER_RE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


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
    name, sep, rest = spec.strip().partition("-")
    if not name:
        raise ValueError(f"empty availability mode {spec!r}; choose one of {', '.join(available_modes())}")
    entry = REGISTRY.get(name)
    key, info = entry.name, entry.info
    if not sep:
        return key, info["default_beta"]
    if not info["takes_beta"]:
        raise ValueError(f"mode {key} takes no beta, got {spec!r}; write just {key!r}")
    if not _NUMBER_RE.match(rest):
        raise ValueError(f"malformed availability mode {spec!r}: {rest!r} after '-' is not a number; "
                         f"write 'KEY-beta' with one number, e.g. '{key}-0.1'")
    beta = float(rest)
    problem = "a finite number" if not math.isfinite(beta) else (
        info["beta_check"](beta) if info.get("beta_check") is not None else None)
    if problem is not None:
        raise ValueError(f"beta {beta:g} out of range for {key} in {spec!r}: {key} needs {problem}")
    return key, beta


def canonical_spec(key: str, beta: float | None) -> str:
    """``("LN", 0.1)`` -> ``"LN-0.1"``; ``("IDL", None)`` -> ``"IDL"``. Round-trips through parse_mode."""
    return key if beta is None else f"{key}-{_format_beta(beta)}"


def make_availability(spec: str, stats: ClientStats, rng: np.random.Generator) -> Availability:
    """Bind the mode named by ``spec`` to the clients in ``stats``.

    ``rng`` is used only by modes with construction-time randomness (LN, SLN: the T_i draw).
    """
    if not isinstance(stats, ClientStats):
        raise TypeError(f"stats must be a ClientStats (e.g. ClientStats.from_federated(fed)), "
                        f"got {type(stats).__name__}")
    key, beta = parse_mode(spec)
    schedule = REGISTRY.get(key).factory(stats, beta, rng)
    if isinstance(schedule, np.ndarray | list | tuple):
        schedule = _Static(np.asarray(schedule, dtype=float))
    if not callable(schedule):
        raise ValueError(f"mode {key}: factory must return probs(t) or an (N,) array, "
                         f"got {type(schedule).__name__}")
    avail = Availability(canonical_spec(key, beta), key, beta, stats.num_clients, schedule)
    avail.check_reachable()  # fail early on a bad shape or range, or a round nobody can be in
    return avail
