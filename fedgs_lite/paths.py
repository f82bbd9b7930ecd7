"""All-pairs shortest paths of the 3DG: Floyd-Warshall in numpy blocks, scipy's Dijkstra, a progress bar.

`shortest_paths` uses the method scipy's `shortest_path(method="auto")` picks (Dijkstra with fewer than
N^2/4 graph entries, else Floyd-Warshall), so its result is scipy's bit for bit (tested), but it can show
a progress bar: Floyd-Warshall runs in numpy over blocks of rows (the same additions and comparisons in
the same order as scipy's loop, and as fast on a 2-core CPU, measured), Dijkstra in chunks of sources.
At 5000 clients this is the minutes-long part of a simulation. `floyd_warshall_python` is the
authors' pure-Python triple loop, kept for tests and benchmarks.
"""

from __future__ import annotations

import numpy as np

FW_BLOCK = 64  # rows per numpy step of Floyd-Warshall (as fast as scipy's loop on 2 cores, measured)


def steps(n: int, progress: bool, what: str):
    if not progress:
        return range(n)
    from tqdm.auto import tqdm

    return tqdm(range(n), desc=what, leave=False, dynamic_ncols=True, mininterval=0.5)


def floyd_warshall(lengths: np.ndarray, progress: bool = False) -> np.ndarray:
    """All-pairs shortest paths of an undirected graph (inf: no edge) by Floyd-Warshall in numpy blocks of
    rows: the same additions and comparisons in the same order as scipy's method="FW", so bit for bit
    its result (tested), with a progress bar over the N pivots on request."""
    d = np.minimum(lengths, lengths.T)
    np.fill_diagonal(d, 0.0)
    n = len(d)
    tmp = np.empty((min(FW_BLOCK, n), n))
    for k in steps(n, progress, f"3DG paths, {n} clients"):
        for a in range(0, n, FW_BLOCK):
            rows = d[a:a + FW_BLOCK]
            t = tmp[:len(rows)]
            np.add(rows[:, k, None], d[k][None, :], out=t)
            np.minimum(rows, t, out=rows)
    return d


def shortest_paths(lengths: np.ndarray, progress: bool = False) -> np.ndarray:
    """All-pairs shortest path lengths (inf where unreachable): the method scipy's "auto" picks, Dijkstra
    on graphs with fewer than N^2/4 entries, else Floyd-Warshall; with a progress bar on request."""
    lengths = np.asarray(lengths, dtype=float)
    n = len(lengths)
    if np.isfinite(lengths).sum() >= n * n / 4:
        return floyd_warshall(lengths, progress)
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import shortest_path

    # inf marks a missing edge, so edges whose length underflowed to 0 stay (explicit zeros, as
    # csgraph_from_dense keeps them, without its three dense temporaries).
    rows, cols = np.nonzero(np.isfinite(lengths))
    g = csr_matrix((lengths[rows, cols], (rows, cols)), shape=lengths.shape)
    del rows, cols
    out, chunk = np.empty((n, n)), max(1, n // 100)
    for i in steps(-(-n // chunk), progress, f"3DG paths, {n} clients"):
        sources = np.arange(i * chunk, min((i + 1) * chunk, n))
        out[sources] = shortest_path(g, method="D", directed=False, indices=sources)
    return out


def floyd_warshall_python(lengths) -> np.ndarray:
    """The authors' pure-Python Floyd-Warshall triple loop (raw distances). For tests and benchmarks."""
    dis = np.array(lengths, dtype=float)
    n = len(dis)
    for k in range(n):
        for i in range(n):
            for j in range(n):
                if dis[i][k] + dis[k][j] < dis[i][j]:
                    dis[i][j] = dis[i][k] + dis[k][j]
    return dis
