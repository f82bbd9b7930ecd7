"""History: one call records a round, its numbers by hand, JSON with NaN as null, CSV rows."""

import math

import numpy as np
import pytest

from fedgs_lite.config import ExperimentConfig
from fedgs_lite.history import CSV_COLUMNS, History


def recorded() -> History:
    h = History.start(ExperimentConfig(num_clients=4, sampler="md", clients_per_round=2))
    h.record_eval(0, 2.3, 0.1)
    h.record_round(np.array([True, True, False, True]), [0, 0], 1.5, 0.1, 0.01)  # MD may repeat
    h.record_round([1, 2, 3], np.array([1, 3]), 1.25, 0.0998, 0.02)              # ids work too
    h.record_eval(2, 1.0, 0.5)
    return h


def test_record_round_and_eval_by_hand():
    h = recorded()
    assert h.num_clients == 4 and h.label == "md" and h.rounds_done == 2
    assert h.available == [[0, 1, 3], [1, 2, 3]] and h.selected == [[0, 0], [1, 3]]
    assert h.train_loss == [1.5, 1.25] and h.lr == [0.1, 0.0998]
    assert h.counts.tolist() == [2, 1, 0, 1]
    assert h.counts_over_rounds().tolist() == [[2, 0, 0, 0], [2, 1, 0, 1]]
    assert h.count_variance() == pytest.approx(np.var([2, 1, 0, 1]))
    np.testing.assert_allclose(h.count_variance_curve(), [np.var([2, 0, 0, 0]), np.var([2, 1, 0, 1])])
    assert h.jain_index() == pytest.approx(16 / (4 * 6))
    assert (h.final_accuracy(), h.max_test_accuracy(), h.final_loss()) == (0.5, 0.5, 1.0)
    assert math.isnan(h.best_valid_accuracy()) and h.valid_loss[0] != h.valid_loss[0]  # no hold-out: NaN


def test_json_round_trip_writes_nan_as_null():
    h = recorded()
    h.test_loss[-1] = float("nan")
    d = h.to_dict()
    assert d["test_loss"] == [2.3, None] and "final_params" not in d
    back = History.from_json(h.to_json())
    assert math.isnan(back.test_loss[-1]) and back.selected == h.selected and back.config == h.config


def test_csv_rows_one_per_round_and_the_initial_evaluation():
    rows = recorded().to_csv_rows()
    assert [r["round"] for r in rows] == [0, 1, 2] and list(rows[0]) == list(CSV_COLUMNS)
    assert rows[0]["available"] == "" and rows[0]["test_accuracy"] == 0.1
    assert rows[1]["selected"] == "0 0" and rows[1]["available"] == 3 and rows[1]["test_loss"] == ""
    assert rows[2]["test_accuracy"] == 0.5
    empty = History.start(ExperimentConfig())
    assert empty.to_csv_rows() == [] and math.isnan(empty.final_accuracy())
    assert empty.count_variance_curve().size == 0


def test_the_authors_best_validation_metric_by_hand():
    # fedgs:utils/result_analysis.py:517-530: the test numbers at np.argmin(valid_loss), per run
    h = History.start(ExperimentConfig(num_clients=4))
    for r, (test_loss, acc, valid) in enumerate([(2.3, 0.10, 2.2), (1.1, 0.60, 0.9), (1.0, 0.55, 0.95),
                                                  (1.2, 0.70, 0.9)]):
        if r:
            h.record_round([0, 1], [1], 1.0, 0.1, 0.01)
        h.record_eval(r, test_loss, acc, valid)
    assert h.best_valid_index() == 1 and h.best_valid_round() == 1  # a tie keeps the first, as np.argmin
    assert (h.best_valid_accuracy(), h.best_valid_loss()) == (0.60, 1.1)
    # the test-picked numbers differ: both optimistic, neither is the authors' headline metric
    assert (h.max_test_accuracy(), h.min_test_loss()) == (0.70, 1.0)
    h.valid_loss[1] = float("nan")  # a diverged evaluation never wins
    assert h.best_valid_round() == 3
    back = History.from_json(h.to_json())
    assert math.isnan(back.valid_loss[1]) and back.best_valid_round() == 3
    old = {k: v for k, v in h.to_dict().items() if k != "valid_loss"}  # a history written before validation
    assert History.from_dict(old).best_valid_index() is None
    assert [r["valid_loss"] for r in h.to_csv_rows()] == [2.2, "", 0.95, 0.9]  # NaN: blank
