"""The run directory's layout: one run per folder, finished runs read back, a fresh start clears it."""

import pytest

from fedgs_lite.config import ExperimentConfig
from fedgs_lite.history import History
from fedgs_lite.rundir import (
    CONFIG_FILE,
    HISTORY_FILE,
    METRICS_FILE,
    is_done,
    load_history,
    prepare,
    write_results,
)


def test_prepare_writes_the_config_and_reads_back_only_a_finished_run_of_the_same_config(tmp_path):
    cfg = ExperimentConfig(rounds=2)
    assert prepare(tmp_path, cfg, resume=True) is None
    assert ExperimentConfig.from_json((tmp_path / CONFIG_FILE).read_text()) == cfg
    h = History.start(cfg)
    h.record_eval(0, 2.0, 0.1)
    write_results(tmp_path, h)
    assert not is_done(tmp_path) and prepare(tmp_path, cfg, resume=True) is None  # partial: train on
    h.finished = True
    write_results(tmp_path, h)
    assert is_done(tmp_path) and load_history(tmp_path).test_accuracy == [0.1]
    assert prepare(tmp_path, cfg, resume=True).finished
    with pytest.raises(ValueError, match="different run"):
        prepare(tmp_path, cfg.replace(seed=1), resume=True)
    assert prepare(tmp_path, cfg.replace(seed=1), resume=False) is None  # a fresh start clears the old run
    assert not (tmp_path / HISTORY_FILE).exists() and not (tmp_path / METRICS_FILE).exists()
    assert ExperimentConfig.from_json((tmp_path / CONFIG_FILE).read_text()).seed == 1


def test_is_done_is_false_for_a_missing_or_broken_history(tmp_path):
    assert not is_done(tmp_path)
    (tmp_path / HISTORY_FILE).write_text("{not json")
    assert not is_done(tmp_path)
