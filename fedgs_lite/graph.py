"""The 3DG (data-distribution-dependency graph) and its shortest-path distance matrix D.

Pipeline, as in the authors' code: client features -> cosine similarity, min-max normalised to
[0, 1] -> an edge (i, j) wherever similarity > epsilon, of length exp(-s^2 / sigma), so similar
clients are close -> all-pairs shortest paths -> D divided by its largest finite entry, with pairs
that stay unreachable set to that largest value (1 after normalisation).

Features can be anything with one row per client: label distributions (`label_features`), the
authors' oracle (`oracle_features`: label distributions on image tasks, each client's generating model
on the synthetic task), flattened model updates or mean logits (computed by `features.py` as plain
(N, P) arrays).

Documented edge cases:
- NaN or inf in the features raises ValueError.
- A zero feature row has no cosine similarity; it gets similarity 0 to every other client, so it is
  isolated and at distance 1 from everyone. Zero rows are left out of the min-max range.
- Min-max normalisation, `normalise="authors"` (the default): the authors' matrix has a zero
  diagonal when they take its min and max (`oracle_fedgs.py:171-172`), so the range always includes
  0: s' = (s - min(0, s_min)) / (max(0, s_max) - min(0, s_min)), i.e. s / s_max when every cosine is
  positive. `normalise="offdiagonal"` uses the off-diagonal pairs only, (s - s_min) / (s_max - s_min),
  which is what "min-max normalised" usually means. The two agree whenever some pair of clients has
  cosine similarity 0 or less (e.g. any label-skew partition); on features whose cosines are all
  positive (round-0 logits, 0.73-1.0) they differ a lot, so the authors' rule is the default.
- If the range is empty (all off-diagonal similarities equal under "offdiagonal", all zero under
  "authors"), the raw cosine clipped to [0, 1] is used instead (identical clients stay 1, orthogonal
  ones 0).
- A graph without any edge gives D = 1 everywhere off the diagonal; N = 1 gives D = [[0]].
- Features of any scale give the same graph (rows whose norm would overflow or underflow are rescaled
  first). A 3DG that cannot tell clients apart warns: no edge at all (D = 1 everywhere), or every
  edge length exp(-s^2/sigma) underflowed to 0 (sigma below about 1/745, D = 0 everywhere); FedGS's
  diversity term is then the same for every selection.
- Shortest paths are in paths.py (with a progress bar on request). Memory: about three N x N float64
  matrices at the peak (5000 clients: 0.6 GB), see `memory_bytes`.
- Defaults EPSILON = 0.01, SIGMA = 0.1 are what the authors' code actually ran: their servers set
  attributes epsilon = 0.1 and sigma = 0.01 (the values usually quoted, and the ones in the project's
  reference notes), but call `create_adj_from_graph(self.graph)` without them, so that method's own
  defaults 0.01 and 0.1 build the graph. `build_3dg(f, 0.1, 0.01)` gives the quoted variant.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cached_property

import networkx as nx
import numpy as np

from fedgs_lite.partitions import label_distributions
from fedgs_lite.paths import floyd_warshall_python, shortest_paths  # noqa: F401 (public here too)

EPSILON = 0.01  # edge when similarity > EPSILON (the authors' effective value, see above)
SIGMA = 0.1     # edge length exp(-s^2 / SIGMA)
NORMALISATIONS = ("authors", "offdiagonal")  # min-max range of the similarities, see above
PEAK_MATRICES = 3  # N x N float64 matrices alive at once while a 3DG is built


@dataclass(frozen=True, eq=False)
class Graph3DG:
    """A built 3DG: the distance matrix D, the similarities it came from and (on demand) the graph."""

    distances: np.ndarray      # (N, N) normalised shortest-path distances, 0 on the diagonal
    similarity: np.ndarray     # (N, N) min-max normalised cosine similarity, 1 on the diagonal
    epsilon: float
    sigma: float

    @property
    def num_clients(self) -> int:
        return int(self.distances.shape[0])

    @cached_property
    def graph(self) -> nx.Graph:
        """networkx graph, nodes 0..N-1, edge attributes "similarity" and "length".

        Built on first use: at N = 1000 it takes longer than D itself and the samplers never need it.
        """
        n = self.num_clients
        lengths = edge_lengths(self.similarity, self.epsilon, self.sigma)
        iu, ju = np.triu_indices(n, k=1)
        keep = np.isfinite(lengths[iu, ju])
        iu, ju = iu[keep], ju[keep]
        graph = nx.Graph()
        graph.add_nodes_from(range(n))
        graph.add_edges_from(
            (int(i), int(j), {"similarity": float(s), "length": float(ln)})
            for i, j, s, ln in zip(iu, ju, self.similarity[iu, ju], lengths[iu, ju], strict=True)
        )
        return graph


def label_features(fed_or_histograms) -> np.ndarray:
    """(N, C) label distributions from a FederatedDataset, a ClientStats or an (N, C) histogram array.

    Rows are normalised to sum to 1; a client without samples keeps a zero row.
    """
    return label_distributions(getattr(fed_or_histograms, "label_histograms", fed_or_histograms))


def oracle_features(fed) -> np.ndarray:
    """The authors' `oracle` client features (`oracle_fedgs.py:93-112`): on the synthetic task each
    client's own optimal model, W_k and b_k of the generator flattened (dim x C, then b_k) into one row
    of (dim + 1) * C; on every other task the label distributions (`label_features`).

    The local optima are used only when the federation's clients are the generator's devices
    (scheme "natural"); any other split of synthetic data gets label distributions.
    """
    optima = getattr(fed.dataset, "local_optima", None)
    if optima is not None and fed.scheme == "natural":
        optima = np.asarray(optima, dtype=float)
        if optima.shape[0] != fed.num_clients:
            raise ValueError(f"the dataset has {optima.shape[0]} local optima but the federation "
                             f"{fed.num_clients} clients")
        return optima.reshape(optima.shape[0], -1)
    return label_features(fed)


def _check_features(features) -> np.ndarray:
    f = np.asarray(features, dtype=float)
    if f.ndim == 1:
        raise ValueError(f"features must be an (N, P) matrix with one row per client, got shape {f.shape}")
    if f.ndim > 2:
        f = f.reshape(f.shape[0], -1)
    if f.shape[0] == 0:
        raise ValueError("features must have at least one row (client)")
    if not np.all(np.isfinite(f)):
        raise ValueError("features contain NaN or inf; fix the client features before building the 3DG")
    return f


def row_norms(f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(features, their row norms) with rows whose norm overflows or underflows scaled by their largest
    entry first (cosines do not change with a row's scale); other rows are left bit for bit."""
    with np.errstate(over="ignore", under="ignore"):
        norms = np.linalg.norm(f, axis=1)
    peak = np.abs(f).max(axis=1)
    bad = (peak > 0) & ~((norms > 1e-150) & (norms < 1e150))
    if bad.any():
        f = f.copy()
        f[bad] /= peak[bad, None]
        norms[bad] = np.linalg.norm(f[bad], axis=1)
    return f, norms


def off_diagonal_range(raw: np.ndarray, nonzero: np.ndarray) -> tuple[float, float]:
    """Min and max of raw[i, j] over i != j, both rows nonzero (no N x N copy in the usual case)."""
    if not nonzero.all():
        idx = np.flatnonzero(nonzero)
        raw = raw[np.ix_(idx, idx)]
    diagonal = raw.diagonal().copy()
    np.fill_diagonal(raw, np.inf)
    lo = raw.min()
    np.fill_diagonal(raw, -np.inf)
    hi = raw.max()
    np.fill_diagonal(raw, diagonal)
    return float(lo), float(hi)


def cosine_similarity(features: np.ndarray, normalise: str = "authors") -> np.ndarray:
    """Pairwise cosine similarity, min-max normalised to [0, 1].

    normalise="authors": the range includes the zero diagonal, as the authors' code does;
    "offdiagonal": only the off-diagonal pairs count (see the module docstring). Diagonal is 1. Zero
    rows get similarity 0 to everyone else.
    """
    if normalise not in NORMALISATIONS:
        raise ValueError(f"normalise must be one of {', '.join(NORMALISATIONS)}, got {normalise!r}")
    f, norms = row_norms(_check_features(features))
    nonzero = norms > 0
    unit = np.divide(f, norms[:, None], out=np.zeros_like(f), where=nonzero[:, None])
    sim = unit @ unit.T  # worked on in place: one N x N matrix
    np.clip(sim, -1.0, 1.0, out=sim)
    if nonzero.sum() >= 2:
        lo, hi = off_diagonal_range(sim, nonzero)
        if normalise == "authors":  # their diagonal holds 0 when they take the min and max
            lo, hi = min(lo, 0.0), max(hi, 0.0)
        if hi > lo:
            sim -= lo
            sim /= hi - lo
        else:
            np.clip(sim, 0.0, 1.0, out=sim)
    sim[~nonzero] = 0.0
    sim[:, ~nonzero] = 0.0
    np.fill_diagonal(sim, 1.0)
    return sim


def edge_lengths(similarity: np.ndarray, epsilon: float = EPSILON, sigma: float = SIGMA) -> np.ndarray:
    """(N, N) edge lengths exp(-s^2/sigma) where s > epsilon, inf where there is no edge, 0 diagonal."""
    s = np.asarray(similarity, dtype=float)
    lengths = np.square(s)  # exp(-(s**2) / sigma), step by step in place
    np.negative(lengths, out=lengths)
    lengths /= sigma
    np.exp(lengths, out=lengths)
    lengths[~(s > epsilon)] = np.inf
    np.fill_diagonal(lengths, 0.0)
    return lengths


def normalise_distances(raw: np.ndarray, copy: bool = True) -> np.ndarray:
    """Divide by the largest finite entry; unreachable pairs get 1 (the authors' rule).

    When no pair is reachable (or every finite distance is 0) the finite entries are left as they are.
    copy=False works in place on `raw` (a float64 array).
    """
    d = np.array(raw, dtype=float) if copy else raw
    finite = np.isfinite(d)
    top = float(np.max(d, where=finite, initial=0.0))  # distances are >= 0
    if top > 0:
        np.divide(d, top, out=d, where=finite)
    d[~finite] = 1.0
    np.fill_diagonal(d, 0.0)
    return d


def build_3dg(features: np.ndarray, epsilon: float = EPSILON, sigma: float = SIGMA,
              normalise: str = "authors", progress: bool = False) -> Graph3DG:
    """Build the 3DG and the normalised distance matrix D from any (N, P) client feature matrix.

    `normalise` picks the similarities' min-max range (see `cosine_similarity`); `progress` shows a bar
    over the shortest paths (O(N^3): minutes at 5000 clients). Warns when the 3DG collapsed."""
    if not np.isfinite(epsilon):
        raise ValueError(f"epsilon must be a finite number, got {epsilon}")
    if not (np.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be a finite number > 0, got {sigma}")
    sim = cosine_similarity(features, normalise)
    lengths = edge_lengths(sim, epsilon, sigma)
    if (why := collapsed(lengths, epsilon, sigma)) is not None:
        warnings.warn(why, RuntimeWarning, stacklevel=2)
    distances = normalise_distances(shortest_paths(lengths, progress), copy=False)
    return Graph3DG(distances=distances, similarity=sim, epsilon=float(epsilon), sigma=float(sigma))


def collapsed(lengths: np.ndarray, epsilon: float, sigma: float) -> str | None:
    """Why a 3DG on 3 or more clients (its edge lengths) can hardly tell clients apart, or None: it has no
    edge, or most edge lengths exp(-s^2/sigma) underflowed to 0."""
    n = len(lengths)
    if n < 3:
        return None
    edges = int(np.isfinite(lengths).sum()) - n  # both directions, the zero diagonal left out
    if edges == 0:
        return (f"the 3DG has no edge: no two of the {n} clients have similarity above epsilon={epsilon:g}, "
                "so every distance is 1 and FedGS's diversity term is the same for every selection")
    zero = int((lengths == 0).sum()) - n
    if 2 * zero < edges:
        return None
    return (f"{zero // 2} of the 3DG's {edges // 2} edges have length exp(-s^2/sigma) = 0: sigma={sigma:g} "
            "is so small that it underflows (it must be above about 1/745 = 0.0013 for the closest clients), "
            "so the distances hardly tell clients apart and FedGS's diversity term loses its meaning")


def memory_bytes(num_clients: int) -> int:
    """About how much memory building a 3DG of `num_clients` clients takes at its peak."""
    return PEAK_MATRICES * 8 * int(num_clients) ** 2


def _edge_set(graph) -> set[tuple[int, int]]:
    if isinstance(graph, Graph3DG):
        graph = graph.graph
    return {(min(a, b), max(a, b)) for a, b in graph.edges() if a != b}


def edge_scores(graph: nx.Graph, oracle: nx.Graph) -> dict[str, float]:
    """Precision, recall and F1 of graph's undirected edges against the oracle's (self-loops ignored).

    If both edge sets are empty the graphs agree and all three are 1. Otherwise a ratio whose
    denominator is empty is 0 (no predicted edges: precision 0; no oracle edges: recall 0), and F1 is
    0 when precision + recall is 0.
    """
    pred, true = _edge_set(graph), _edge_set(oracle)
    if not pred and not true:
        return {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    hits = len(pred & true)
    precision = hits / len(pred) if pred else 0.0
    recall = hits / len(true) if true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def label_3dg(fed_or_histograms, epsilon: float = EPSILON, sigma: float = SIGMA, *,
              progress: bool = False) -> Graph3DG:
    """The oracle 3DG: built from the clients' label distributions."""
    return build_3dg(label_features(fed_or_histograms), epsilon, sigma, progress=progress)
