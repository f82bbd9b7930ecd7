import numpy as np
import pytest

from fedgs_lite.metrics import (
    count_variance,
    jain_index,
    label_coverage,
    label_coverage_rounds,
    mean_pairwise_distance,
    mean_pairwise_distance_rounds,
)


def test_count_variance_hand_computed():
    # mean 2, squared deviations 4, 0, 4, 0 -> 8 / 4
    assert count_variance([0, 2, 4, 2]) == pytest.approx(2.0)
    assert count_variance([3, 3, 3]) == 0.0
    rows = count_variance(np.array([[0, 2, 4, 2], [1, 1, 1, 1]]))
    np.testing.assert_allclose(rows, [2.0, 0.0])


def test_jain_index_hand_computed():
    assert jain_index([5, 5, 5, 5]) == pytest.approx(1.0)
    assert jain_index([4, 0, 0, 0]) == pytest.approx(0.25)      # one client holds everything: 1/N
    assert jain_index([1, 2, 3]) == pytest.approx(36 / (3 * 14))
    assert jain_index([0, 0, 0]) == 1.0                          # nobody picked yet: perfectly even
    np.testing.assert_allclose(jain_index(np.array([[0, 0], [2, 0]])), [1.0, 0.5])


@pytest.mark.parametrize("fn", [count_variance, jain_index])
def test_count_metrics_reject_empty(fn):
    with pytest.raises(ValueError, match="at least one client"):
        fn([])


def test_jain_rejects_negative_counts():
    with pytest.raises(ValueError, match="non-negative"):
        jain_index([1, -1])


HIST = np.array([
    [5, 0, 0, 0],   # client 0: class 0
    [0, 3, 3, 0],   # client 1: classes 1, 2
    [2, 0, 0, 0],   # client 2: class 0
    [0, 0, 0, 0],   # client 3: no data
])  # class 3 is held by nobody, so 3 classes can be covered


def test_label_coverage_hand_computed():
    assert label_coverage([0], HIST) == pytest.approx(1 / 3)
    assert label_coverage([0, 2], HIST) == pytest.approx(1 / 3)
    assert label_coverage([0, 1], HIST) == pytest.approx(1.0)
    assert label_coverage([0, 0, 1], HIST) == pytest.approx(1.0)  # MD-style duplicates
    assert label_coverage([3], HIST) == 0.0
    assert label_coverage([], HIST) == 0.0
    with pytest.raises(ValueError, match="0..3"):
        label_coverage([4], HIST)


D = np.array([
    [0.0, 1.0, 0.5, 0.2],
    [1.0, 0.0, 0.4, 0.6],
    [0.5, 0.4, 0.0, 0.9],
    [0.2, 0.6, 0.9, 0.0],
])


def test_mean_pairwise_distance_hand_computed():
    assert mean_pairwise_distance([0, 1, 2], D) == pytest.approx((1.0 + 0.5 + 0.4) / 3)
    assert mean_pairwise_distance([2, 0, 2], D) == pytest.approx(0.5)  # duplicates count once
    assert mean_pairwise_distance([1], D) == 0.0
    assert mean_pairwise_distance([1, 1], D) == 0.0
    with pytest.raises(ValueError, match="square"):
        mean_pairwise_distance([0, 1], D[:3])


def test_round_variants_match_single_round_functions():
    selection = np.array([[1, 1, 0, 0], [2, 0, 0, 0], [0, 1, 1, 1], [0, 0, 0, 0]])
    per_round = [np.repeat(np.arange(4), row) for row in selection]
    np.testing.assert_allclose(label_coverage_rounds(selection, HIST),
                               [label_coverage(s, HIST) for s in per_round])
    np.testing.assert_allclose(mean_pairwise_distance_rounds(selection, D),
                               [mean_pairwise_distance(s, D) for s in per_round])
    with pytest.raises(ValueError, match="clients"):
        label_coverage_rounds(selection[:, :3], HIST)


def test_per_round_counts_counts_repeats_and_empty_rounds():
    from fedgs_lite.metrics import per_round_counts

    x = per_round_counts([[1, 1, 2], [], np.array([3])], 4)
    assert x.dtype == np.int64
    assert x.tolist() == [[0, 2, 1, 0], [0, 0, 0, 0], [0, 0, 0, 1]]
    assert per_round_counts([], 3).shape == (0, 3)
