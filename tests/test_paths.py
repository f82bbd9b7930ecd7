"""The 3DG's shortest paths: scipy's result bit for bit whichever method scipy would pick, the same with
a progress bar, and the memory a 3DG takes at its peak within graph.memory_bytes."""

import tracemalloc

import numpy as np
import pytest
from scipy.sparse.csgraph import csgraph_from_dense, shortest_path

from fedgs_lite.graph import label_3dg, memory_bytes
from fedgs_lite.partitions import federate
from fedgs_lite.paths import floyd_warshall, floyd_warshall_python, shortest_paths


def random_lengths(rng, n: int, edge_share: float, zeros: float = 0.05, symmetric: bool = True):
    w = rng.random((n, n)) * rng.choice([1e-6, 1.0, 3.0], (n, n))
    w[rng.random((n, n)) < zeros] = 0.0  # edges whose length underflowed
    if symmetric:
        w = (w + w.T) / 2
    mask = rng.random((n, n)) < edge_share
    lengths = np.where(mask | mask.T, w, np.inf)
    np.fill_diagonal(lengths, 0.0)
    return lengths


def scipy_auto(lengths):
    return shortest_path(csgraph_from_dense(lengths, null_value=np.inf), method="auto", directed=False)


@pytest.mark.parametrize("edge_share", [0.05, 0.12, 0.2, 0.5, 1.0])
@pytest.mark.parametrize("symmetric", [True, False])
def test_shortest_paths_equal_scipys_auto_bit_for_bit(rng, edge_share, symmetric):
    for n in (1, 2, 7, 65, 130):  # around the block size, and an uneven last block
        lengths = random_lengths(rng, n, edge_share, symmetric=symmetric)
        expected = scipy_auto(lengths)
        np.testing.assert_array_equal(shortest_paths(lengths), expected)
        np.testing.assert_array_equal(shortest_paths(lengths, progress=True), expected)


def test_floyd_warshall_equals_scipys_and_the_authors_loop(rng):
    lengths = random_lengths(rng, 40, 1.0)
    expected = shortest_path(csgraph_from_dense(lengths, null_value=np.inf), method="FW", directed=False)
    np.testing.assert_array_equal(floyd_warshall(lengths), expected)
    np.testing.assert_allclose(floyd_warshall(lengths), floyd_warshall_python(lengths))


@pytest.mark.parametrize("classes", [None, 1], ids=["dense, Floyd-Warshall", "sparse, Dijkstra"])
def test_a_3dg_takes_no_more_memory_than_its_estimate(classes):
    kw = {} if classes is None else {"classes_per_client": classes}
    fed = federate("synthetic", 600, "iid" if classes is None else "label_skew", seed=0, **kw)
    label_3dg(fed)  # warm up (imports, caches)
    tracemalloc.start()
    g = label_3dg(fed)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    estimate = memory_bytes(600)
    assert 0.5 * estimate < peak <= estimate + 2**20, (peak, estimate)
    assert g.distances.shape == (600, 600)
