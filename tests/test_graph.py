import warnings

import networkx as nx
import numpy as np
import pytest

from fedgs_lite.graph import (
    Graph3DG,
    build_3dg,
    cosine_similarity,
    edge_lengths,
    edge_scores,
    floyd_warshall_python,
    label_features,
    normalise_distances,
    shortest_paths,
)


def label_skew_hist(rng, n=20, classes=10, per_client=2):
    h = np.zeros((n, classes), dtype=np.int64)
    for i in range(n):
        cs = rng.choice(classes, per_client, replace=False)
        h[i, cs] = rng.integers(1, 50, per_client)
    return h


def test_label_features_normalises_rows_and_keeps_empty_clients_zero():
    h = np.array([[2, 2, 0], [0, 0, 0], [1, 0, 3]])
    f = label_features(h)
    np.testing.assert_allclose(f, [[0.5, 0.5, 0], [0, 0, 0], [0.25, 0, 0.75]])

    class Holder:
        label_histograms = h

    np.testing.assert_allclose(label_features(Holder()), f)
    with pytest.raises(ValueError):
        label_features(np.array([1, 2, 3]))


def test_cosine_similarity_min_max_range_and_orthogonal_pairs():
    f = np.array([[1.0, 0, 0], [1.0, 1.0, 0], [0, 0, 1.0], [1.0, 0, 0]])
    s = cosine_similarity(f)
    off = s[~np.eye(4, dtype=bool)]
    assert off.min() == pytest.approx(0.0) and off.max() == pytest.approx(1.0)
    assert s[0, 3] == pytest.approx(1.0)      # identical rows
    assert s[0, 2] == pytest.approx(0.0)      # orthogonal rows
    assert s[0, 1] == pytest.approx(np.sqrt(0.5))
    np.testing.assert_allclose(np.diag(s), 1.0)
    np.testing.assert_allclose(s, s.T)


def test_negative_cosine_is_shifted_into_unit_range():
    f = np.array([[1.0, 0], [-1.0, 0], [0, 1.0], [1.0, 1.0]])
    s = cosine_similarity(f)
    top = np.sqrt(0.5)  # largest raw cosine (45 degrees), smallest is -1
    assert s[0, 1] == pytest.approx(0.0)
    assert s[0, 2] == pytest.approx(1 / (top + 1))
    assert s[0, 3] == pytest.approx(1.0)


def test_normalisation_rules_differ_only_when_every_cosine_is_positive():
    same = np.array([[1.0, 1.0], [2.0, 1.0], [1.0, 3.0]])  # all cosines in (0.7, 1)
    authors, offdiag = cosine_similarity(same), cosine_similarity(same, normalise="offdiagonal")
    off = ~np.eye(3, dtype=bool)
    raw = (same / np.linalg.norm(same, axis=1, keepdims=True)) @ (same / np.linalg.norm(same, axis=1,
                                                                                           keepdims=True)).T
    np.testing.assert_allclose(authors[off], raw[off] / raw[off].max())  # s / s_max
    assert offdiag[off].min() == pytest.approx(0.0) and offdiag[off].max() == pytest.approx(1.0)
    twins = np.array([[1.0, 0.0], [1.0, 0.0], [2.0, 0.0]])  # equal cosines: authors' 1, raw clip 1
    np.testing.assert_allclose(cosine_similarity(twins), 1.0)
    with_zero = np.array([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0]])  # a zero row stays isolated in both rules
    for rule, top in (("authors", 1.0), ("offdiagonal", np.sqrt(0.5))):  # one valid pair: 0.707 / 0.707
        s = cosine_similarity(with_zero, normalise=rule)
        assert s[1, 0] == s[1, 2] == 0.0 and s[0, 2] == pytest.approx(top)
    with pytest.raises(ValueError, match="normalise"):
        cosine_similarity(same, normalise="diagonal")
    with pytest.raises(ValueError, match="normalise"):
        build_3dg(same, normalise="minmax")


def test_distances_are_symmetric_zero_diagonal_and_in_unit_interval(rng):
    g = build_3dg(label_features(label_skew_hist(rng, 30)))
    d = g.distances
    np.testing.assert_allclose(d, d.T)
    np.testing.assert_array_equal(np.diag(d), 0.0)
    assert d.min() >= 0 and d.max() == pytest.approx(1.0)
    assert isinstance(g, Graph3DG)
    assert sorted(g.graph.nodes) == list(range(30))
    for a, b, attrs in g.graph.edges(data=True):
        assert attrs["similarity"] > g.epsilon
        assert attrs["similarity"] == g.similarity[a, b]
        assert attrs["length"] == pytest.approx(np.exp(-attrs["similarity"] ** 2 / g.sigma))


def test_edges_follow_epsilon(rng):
    f = rng.random((15, 6))
    g = build_3dg(f, epsilon=0.3)
    s = cosine_similarity(f)
    expected = {(i, j) for i in range(15) for j in range(i + 1, 15) if s[i, j] > 0.3}
    got = {(min(a, b), max(a, b)) for a, b in g.graph.edges()}
    assert got == expected


def test_csgraph_equals_python_floyd_warshall(rng):
    f = rng.normal(size=(25, 8))
    s = cosine_similarity(f)
    lengths = edge_lengths(s, epsilon=0.6, sigma=0.05)
    fast = shortest_paths(lengths)
    slow = floyd_warshall_python(lengths)
    np.testing.assert_array_equal(np.isinf(fast), np.isinf(slow))
    finite = np.isfinite(slow)
    np.testing.assert_allclose(fast[finite], slow[finite], rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(build_3dg(f, 0.6, 0.05).distances, normalise_distances(slow), rtol=1e-12)


def test_shortest_paths_use_short_hops():
    # a path of similar clients: 0-1-2 are close, 0 and 2 are not linked directly
    f = np.array([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    g = build_3dg(f, epsilon=0.5, sigma=0.5)
    assert not g.graph.has_edge(0, 2)
    len01 = g.graph.edges[0, 1]["length"]
    len12 = g.graph.edges[1, 2]["length"]
    top = len01 + len12  # the largest finite distance
    assert g.distances[0, 2] == pytest.approx(1.0)
    assert g.distances[0, 1] == pytest.approx(len01 / top)
    assert g.distances[0, 3] == 1.0  # client 3 is unreachable: largest finite value


def test_disconnected_graph_gets_largest_finite_distance():
    f = np.array([[1.0, 0, 0], [1.0, 0.3, 0], [1.0, 0.6, 0], [0, 0, 1.0], [0, 0.1, 1.0]])
    g = build_3dg(f, epsilon=0.5, sigma=0.5)
    assert nx.number_connected_components(g.graph) == 2
    np.testing.assert_array_equal(g.distances[:3, 3:], 1.0)
    inner = g.distances[:3, :3][~np.eye(3, dtype=bool)]
    assert inner.min() < 1.0


def test_graph_without_edges_gives_ones_off_diagonal_and_says_so():
    f = np.eye(4)
    with pytest.warns(RuntimeWarning, match="the 3DG has no edge: no two of the 4 clients"):
        g = build_3dg(f)
    assert g.graph.number_of_edges() == 0
    np.testing.assert_array_equal(g.distances, 1.0 - np.eye(4))


@pytest.mark.parametrize("scale", [1e-300, 1e-200, 1e200, 1e300])
def test_features_of_any_scale_give_the_graph_of_unit_scale(rng, scale):
    f = label_features(label_skew_hist(rng, 12))
    reference = build_3dg(f)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no collapse to warn about
        g = build_3dg(f * scale)
    np.testing.assert_allclose(g.distances, reference.distances, rtol=1e-9, atol=1e-12)
    assert g.graph.number_of_edges() == reference.graph.number_of_edges() > 0


def test_a_sigma_so_small_that_every_edge_length_underflows_is_warned_about(rng):
    f = label_features(label_skew_hist(rng, 12))
    with pytest.warns(RuntimeWarning, match=r"of the 3DG's \d+ edges have length .* = 0: sigma=1e-05 "):
        g = build_3dg(f, sigma=1e-5)
    assert set(np.unique(g.distances)) <= {0.0, 1.0}  # only who is connected is left
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build_3dg(f, sigma=0.01)  # the quoted variant keeps distinct distances: no warning


def test_single_client():
    g = build_3dg(np.array([[0.3, 0.7]]))
    np.testing.assert_array_equal(g.distances, [[0.0]])
    assert g.graph.number_of_nodes() == 1


def test_zero_feature_row_is_isolated(rng):
    f = rng.random((6, 4))
    f[2] = 0.0
    g = build_3dg(f, epsilon=0.0)
    s = g.similarity
    assert np.all(np.delete(s[2], 2) == 0.0)
    assert g.graph.degree[2] == 0
    assert np.all(np.delete(g.distances[2], 2) == 1.0)


def test_bad_features_raise():
    with pytest.raises(ValueError, match="NaN or inf"):
        build_3dg(np.array([[1.0, np.nan], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="NaN or inf"):
        build_3dg(np.array([[1.0, np.inf], [0.0, 1.0]]))
    with pytest.raises(ValueError):
        build_3dg(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="sigma"):
        build_3dg(np.eye(3), sigma=0.0)


def test_edge_scores_on_hand_made_graphs():
    oracle = nx.Graph([(0, 1), (1, 2), (2, 3)])
    pred = nx.Graph([(1, 0), (2, 3), (0, 3)])  # two right (one reversed), one wrong
    sc = edge_scores(pred, oracle)
    assert sc["precision"] == pytest.approx(2 / 3)
    assert sc["recall"] == pytest.approx(2 / 3)
    assert sc["f1"] == pytest.approx(2 / 3)
    sc = edge_scores(nx.Graph([(0, 1)]), oracle)
    assert sc == pytest.approx({"precision": 1.0, "recall": 1 / 3, "f1": 0.5})
    empty = nx.empty_graph(4)
    assert edge_scores(empty, empty) == {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    assert edge_scores(empty, oracle) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert edge_scores(oracle, empty) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}


def test_edge_scores_of_identical_features_are_perfect(rng):
    f = label_features(label_skew_hist(rng, 12))
    g = build_3dg(f)
    assert edge_scores(g.graph, build_3dg(f).graph)["f1"] == 1.0
    assert edge_scores(g, g)["precision"] == 1.0  # Graph3DG accepted too


