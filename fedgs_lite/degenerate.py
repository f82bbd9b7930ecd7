"""When an availability mode cannot favour any client: degenerate modes, found and explained in one line.

MDF or LDF on clients of equal size give everyone p = 1 (they are IDL there); YFF on 2 labels per client
gives everyone the same p (it is HOMO there). A grid cell run under such a mode is another mode's run
under a borrowed name, so a run warns (`DegenerateModeWarning`, when its federation is built), its
History keeps the reason and the grid summary says so (the authors studied size-based modes on their
`dist 4` partitions, where sizes differ).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fedgs_lite.availability import MODES, REGISTRY, canonical_spec, make_availability, parse_mode
from fedgs_lite.masks import ClientStats, Periodic, Static


class DegenerateModeWarning(UserWarning):
    """A run's availability mode gives every client the same probability on its federation."""


UNIFORM_BY_DESIGN = ("IDL", "HOMO")  # every client the same p is what these modes mean
DEGENERATE_ROUNDS = 240  # rounds checked for a user mode whose period is unknown


def degenerate_cause(key: str, beta: float | None, stats: ClientStats) -> str:
    """The reason, in words, that a built-in mode gives every client the same p on these clients."""
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
                      rounds: int = DEGENERATE_ROUNDS) -> str | None:
    """Why mode `spec` is degenerate on these clients, in one line, or None when it is not.

    Degenerate: every client has the same probability in every round, so the mode cannot favour any
    client (e.g. MDF or LDF on equal-size clients is IDL, YFF on 2 labels per client is HOMO). IDL and
    HOMO are uniform by design and never reported. `clients` is a ClientStats or a FederatedDataset.
    `rng` seeds LN/SLN's draw (default: a fixed seed; their spread depends only on beta). Periodic
    built-in modes are checked over their whole period, a user mode over `rounds` rounds.
    """
    stats = clients if isinstance(clients, ClientStats) else ClientStats.from_federated(clients)
    key, beta = parse_mode(spec)
    builtin = key in MODES and REGISTRY.get(key).factory is MODES[key].rule
    if stats.num_clients < 2 or (builtin and key in UNIFORM_BY_DESIGN):
        return None
    avail = make_availability(spec, stats, np.random.default_rng(0) if rng is None else rng)
    if isinstance(avail.schedule, Static):
        ts = np.zeros(1, dtype=np.int64)
    elif isinstance(avail.schedule, Periodic):
        ts = np.arange(len(avail.schedule.table))
    else:
        ts = np.arange(int(rounds))
    p = avail.probs_many(ts)
    if np.ptp(p, axis=1).max() > 1e-12:
        return None
    level = p[:, 0]
    if np.all(level == 1.0):
        same = "the same as IDL"
    elif np.ptp(level) <= 1e-12:
        same = f"the same as {canonical_spec('HOMO', float(1.0 - level[0]))}"
    else:
        same = "p changes with the round but never between clients"
    where = f"p = {level[0]:.3g}" if np.ptp(level) <= 1e-12 else "the same p"
    return (f"{avail.spec} is degenerate on these {stats.num_clients} clients: "
            f"{degenerate_cause(key, beta, stats)}, so every client has {where} in every round ({same})")
