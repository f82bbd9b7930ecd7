"""Selection-problem instances for tests, benchmarks and notebooks: realistic and adversarial.

Each generator returns a `SelectionInstance` (distances_sub, u, alpha, m), the per-round FedGS problem
of objective.py, ready for `solvers.solve_selection`.

- `realistic`: the authors' way. Label histograms of a label-skew (2 of 10 classes per client) or
  Dirichlet partition -> `graph.build_3dg` -> D over all K clients; a simulated history of
  Bernoulli availability (log-normal client probabilities, as the LN mode) with M picked uniformly
  among the available each round gives the counts; this round's N available clients (drawn by the
  same probabilities) give D_sub = D[A, A] and u = `objective.count_penalty`.
- `planted_trap`: a metric instance (every distance in [0.5, 1], so the triangle inequality always
  holds) built so that greedy from *every* first client, followed by 1-swap local search, ends in a
  decoy set Z of near clients with a better u, while the optimum is a planted set P of M mutually far
  clients whose u is slightly worse. See the function for the inequalities that make it a trap.
- `near_ties`: D = 1 - eps * R and u within eps of each other: every subset is within ~eps of the
  optimum (relative), the case where solver tolerances decide the answer.
- `clustered`: Euclidean distances between points drawn from a few tight Gaussian clusters.
- `non_metric`: symmetric uniform random D (the triangle inequality fails often).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fedgs_lite.objective import count_penalty, pair_scale

FAMILIES = ("realistic", "planted_trap", "near_ties", "clustered", "non_metric")


@dataclass(frozen=True, eq=False)
class SelectionInstance:
    distances: np.ndarray     # (N, N) D_sub over the candidates
    u: np.ndarray             # (N,) linear term
    alpha: float
    m: int
    family: str
    planted: np.ndarray | None = None  # planted_trap: the planted optimum (positions)
    decoy: np.ndarray | None = None    # planted_trap: the decoy clients greedy + swap ends among

    def args(self) -> tuple[np.ndarray, np.ndarray, float, int]:
        """(distances, u, alpha, m): `solve_selection(*inst.args())`."""
        return self.distances, self.u, self.alpha, self.m


def _symmetric(rng: np.random.Generator, n: int, low: float, high: float) -> np.ndarray:
    a = rng.uniform(low, high, (n, n))
    a = np.triu(a, 1)
    return a + a.T


def _check(n: int, m: int) -> None:
    if int(n) != n or int(m) != m or m < 1 or n < m:
        raise ValueError(f"need integers 1 <= m <= n, got n={n}, m={m}")


def label_histograms(rng: np.random.Generator, k: int, scheme: str = "label_skew", *, classes: int = 10,
                     per_client: int = 2, dirichlet_alpha: float = 0.5) -> np.ndarray:
    """(k, classes) label counts of a label-skew or Dirichlet partition (log-normal client sizes)."""
    sizes = np.maximum(10, rng.lognormal(4.0, 1.0, k)).astype(int)
    if scheme == "label_skew":
        h = np.zeros((k, classes))
        for i in range(k):
            cs = rng.choice(classes, per_client, replace=False)
            h[i, cs] = rng.multinomial(sizes[i], rng.dirichlet(np.ones(per_client)))
        return h
    if scheme == "dirichlet":
        return np.stack([rng.multinomial(s, rng.dirichlet(np.full(classes, dirichlet_alpha))) for s in sizes])
    raise ValueError(f"unknown scheme {scheme!r}; choose 'label_skew' or 'dirichlet'")


def realistic(rng: np.random.Generator, n: int, m: int, *, alpha: float = 0.1, scheme: str = "label_skew",
              available_share: float | None = None, rounds: int | None = None,
              dirichlet_alpha: float = 0.5) -> SelectionInstance:
    """A round of FedGS as the authors ran it, with n available clients out of K = n / share."""
    from fedgs_lite.graph import build_3dg, label_features

    _check(n, m)
    share = float(rng.uniform(0.5, 1.0)) if available_share is None else float(available_share)
    k = max(n, int(round(n / share)))
    d = build_3dg(label_features(label_histograms(rng, k, scheme, dirichlet_alpha=dirichlet_alpha))).distances
    p = rng.lognormal(0.0, -np.log1p(-0.5), k)  # LN-0.5 availability probabilities
    p = p / p.max()
    counts = np.zeros(k, dtype=np.int64)
    for _ in range(int(rng.integers(5, 100)) if rounds is None else int(rounds)):
        avail = np.flatnonzero(rng.random(k) < p)
        if avail.size:
            counts[rng.choice(avail, min(m, avail.size), replace=False)] += 1
    ids = np.sort(rng.choice(k, n, replace=False, p=p / p.sum()))
    u = count_penalty(counts, ids, m)
    return SelectionInstance(d[np.ix_(ids, ids)], u, float(alpha), int(m), "realistic")


def planted_trap(rng: np.random.Generator, n: int, m: int, *, alpha: float = 1.0, noise: float = 0.01,
                 extra_decoys: int | None = None) -> SelectionInstance:
    """Metric instance where greedy (from any first client) + 1-swap ends in a decoy set, not the optimum.

    P: m planted clients, mutually at distance ~1. Z: m + extra decoys, mutually at d_zz = 0.6, their
    u higher by delta. Cross distances P-Z: d_pz = 0.52; fillers F: distances in [0.5, 0.7] and u lower
    than P. With s = pair_scale(alpha, m) and delta / s = 0.55:
    - greedy from any client adds a decoy next, because delta > s (1 - d_pz); after that decoys only
      get more attractive (d_zz > d_pz), so greedy ends inside Z;
    - Z is a 1-swap local optimum: bringing in one planted client changes the objective by
      -delta - s (m - 1)(d_zz - d_pz) < 0;
    - P beats Z when m delta < s C(m, 2)(1 - d_zz), i.e. m >= 4 here.
    Positions are shuffled; `planted` and `decoy` say where P and Z went. Needs m >= 4 and
    n >= 2m + extra_decoys.
    """
    _check(n, m)
    if m < 4:
        raise ValueError("planted_trap needs m >= 4 (for smaller m the far set cannot beat the decoys)")
    extra = max(1, m // 2) if extra_decoys is None else int(extra_decoys)
    nz = m + extra
    if n < m + nz:
        raise ValueError(f"planted_trap needs n >= {m + nz} for m={m} (m planted + {nz} decoys)")
    s = pair_scale(alpha, m)
    d_pz, d_zz = 0.52, 0.6
    d = _symmetric(rng, n, 0.5, 0.7)                       # fillers (and a base for everything)
    P, Z = np.arange(m), np.arange(m, m + nz)
    d[np.ix_(P, P)] = 1.0
    d[np.ix_(Z, Z)] = d_zz
    d[np.ix_(P, Z)] = d[np.ix_(Z, P)] = d_pz
    d = np.clip(d + _symmetric(rng, n, -noise, noise), 0.5, 1.0)   # jitter
    np.fill_diagonal(d, 0.0)
    u = np.full(n, -0.8 * s)                               # fillers: worse than P
    u[P] = -0.55 * s
    u[Z] = 0.0
    u += rng.uniform(-noise, noise, n) * s
    perm = rng.permutation(n)                              # new position of old client i: where(perm == i)
    inv = np.argsort(perm)
    d, u = d[np.ix_(perm, perm)], u[perm]
    return SelectionInstance(d, u, float(alpha), int(m), "planted_trap",
                             planted=np.sort(inv[P]), decoy=np.sort(inv[Z]))


def near_ties(rng: np.random.Generator, n: int, m: int, *, eps: float = 1e-8, alpha: float = 1.0,
              anchor: bool = False) -> SelectionInstance:
    """D = 1 - eps * R (R uniform in [0, 1], symmetric) and u = eps * s * r: all subsets within ~eps.

    anchor=True also puts clients 0 and 1 at distance 0, so the spread of D is 1 and subtracting the
    smallest distance (as the solvers' conditioning does) leaves the ties at eps relative.
    """
    _check(n, m)
    d = 1.0 - eps * _symmetric(rng, n, 0.0, 1.0)
    if anchor:
        d[0, 1] = d[1, 0] = 0.0
    np.fill_diagonal(d, 0.0)
    u = eps * pair_scale(alpha, m) * rng.random(n)
    return SelectionInstance(d, u, float(alpha), int(m), "near_ties")


def clustered(rng: np.random.Generator, n: int, m: int, *, alpha: float = 1.0, clusters: int | None = None,
              dim: int = 5) -> SelectionInstance:
    """Euclidean distances (max 1) between points of a few tight Gaussian clusters; u of a count history."""
    _check(n, m)
    k = int(rng.integers(2, max(3, m))) if clusters is None else int(clusters)
    centres = rng.normal(size=(k, dim))
    spread = rng.uniform(0.02, 0.3, k)
    lab = rng.integers(0, k, n)
    x = centres[lab] + rng.normal(size=(n, dim)) * spread[lab, None]
    d = np.linalg.norm(x[:, None] - x[None], axis=-1)
    d /= d.max()
    counts = rng.binomial(int(rng.integers(5, 60)), m / n, n)
    u = count_penalty(counts, np.arange(n), m)
    return SelectionInstance(d, u, float(alpha), int(m), "clustered")


def non_metric(rng: np.random.Generator, n: int, m: int, *, alpha: float = 1.0) -> SelectionInstance:
    """Symmetric uniform [0, 1] distances: the triangle inequality fails for many triples."""
    _check(n, m)
    d = _symmetric(rng, n, 0.0, 1.0)
    counts = rng.binomial(int(rng.integers(5, 60)), m / n, n)
    u = count_penalty(counts, np.arange(n), m)
    return SelectionInstance(d, u, float(alpha), int(m), "non_metric")


def make_instance(family: str, rng: np.random.Generator, n: int, m: int, **kwargs) -> SelectionInstance:
    """One instance of `family` (one of FAMILIES)."""
    makers = {"realistic": realistic, "planted_trap": planted_trap, "near_ties": near_ties,
              "clustered": clustered, "non_metric": non_metric}
    if family not in makers:
        raise ValueError(f"unknown family {family!r}; choose one of {', '.join(FAMILIES)}")
    return makers[family](rng, n, m, **kwargs)
