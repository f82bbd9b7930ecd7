"""A run's life in its directory: files written atomically, finished runs read back, resume=False starts
afresh, an interrupt while writing the final model, throttled live writes, plain-dict checkpoints.
Faults are injected at public seams: `runs.assemble`, `runs.save_model`, `runs.write_results`,
`loop.local_train_many`."""

import csv
import json

import pytest
import torch

from fedgs_lite import loop, runs
from fedgs_lite.config import ExperimentConfig
from fedgs_lite.history import History
from fedgs_lite.loop import run_experiment
from fedgs_lite.rundir import CHECKPOINT_FILE, final_params, load_checkpoint, load_history

TIMING = ("wall_time", "round_seconds")


@pytest.fixture(autouse=True)
def _tiny_runs_use_one_thread(one_torch_thread):
    yield


def tiny(**kw) -> ExperimentConfig:
    base = dict(num_clients=10, clients_per_round=3, rounds=4, epochs=None, steps=2, batch_size=8,
                mode="LN-0.5", device="cpu", checkpoint_every=0)
    return ExperimentConfig(**{**base, **kw})


def results(h: History) -> dict:
    return {k: v for k, v in h.to_dict().items() if k not in TIMING}


def assert_same_params(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_run_dir_files_and_finished_run_is_not_recomputed(tmp_path, monkeypatch):
    cfg = tiny(sampler="uniform", rounds=3)
    h = run_experiment(cfg, tmp_path, progress=False)
    assert json.loads((tmp_path / "config.json").read_text()) == cfg.to_dict()
    assert results(load_history(tmp_path)) == results(h)
    with (tmp_path / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 and float(rows[-1]["test_accuracy"]) == h.test_accuracy[-1]
    assert not (tmp_path / CHECKPOINT_FILE).exists()  # finished: the model is kept instead
    assert not list(tmp_path.glob("*.tmp"))
    assert_same_params(final_params(tmp_path), h.final_params)

    def boom(*a, **k):
        raise AssertionError("a finished run must not train again")

    monkeypatch.setattr(loop, "local_train_many", boom)
    again = run_experiment(cfg, tmp_path, progress=False)
    assert results(again) == results(h)
    assert again.wall_time == h.wall_time
    assert_same_params(again.final_params, h.final_params)
    with pytest.raises(ValueError, match="different run"):
        run_experiment(cfg.replace(seed=5), tmp_path, progress=False)
    with pytest.raises(AssertionError, match="must not train"):
        run_experiment(cfg, tmp_path, progress=False, resume=False)


def test_resume_false_clears_an_earlier_runs_results(tmp_path, monkeypatch):
    first = tiny(sampler="uniform", rounds=3)
    run_experiment(first, tmp_path, progress=False)
    other = first.replace(seed=5)
    straight = run_experiment(other, progress=False)
    real = runs.assemble

    def interrupt(*a, **k):  # e.g. Ctrl-C while the dataset loads, or CUDA out of memory
        raise KeyboardInterrupt

    monkeypatch.setattr(runs, "assemble", interrupt)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(other, tmp_path, progress=False, resume=False)
    monkeypatch.setattr(runs, "assemble", real)
    assert not (tmp_path / "final_model.pt").exists()
    # The first run's finished history must not be returned as this run's.
    again = run_experiment(other, tmp_path, progress=False)
    assert results(again) == results(straight)
    assert_same_params(again.final_params, straight.final_params)


def test_interrupt_while_writing_the_final_model_does_not_mark_the_run_finished(tmp_path, monkeypatch):
    cfg = tiny(sampler="fedgs", rounds=4, checkpoint_every=2)
    straight = run_experiment(cfg, progress=False)
    real = runs.save_model

    def interrupt(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(runs, "save_model", interrupt)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(cfg, tmp_path, progress=False)
    monkeypatch.setattr(runs, "save_model", real)
    assert not load_history(tmp_path).finished
    resumed = run_experiment(cfg, tmp_path, progress=False)
    assert results(resumed) == results(straight)
    assert_same_params(final_params(tmp_path), straight.final_params)


def test_live_history_writes_are_throttled_between_checkpoints(tmp_path, monkeypatch):
    writes = []
    real = runs.write_results
    monkeypatch.setattr(runs, "write_results", lambda rd, h: (writes.append(h.rounds_done), real(rd, h)))
    cfg = tiny(sampler="uniform", rounds=6, eval_every=1)
    monkeypatch.setattr(runs, "LIVE_SAVE_SECONDS", 0.0)
    run_experiment(cfg, tmp_path / "every", progress=False)
    assert writes == [1, 2, 3, 4, 5, 6]
    writes.clear()
    monkeypatch.setattr(runs, "LIVE_SAVE_SECONDS", 1e9)
    h = run_experiment(cfg.replace(checkpoint_every=4), tmp_path / "throttled", progress=False)
    assert writes == [4, 6]  # the checkpoint and the end
    assert results(load_history(tmp_path / "throttled")) == results(h)


def test_a_checkpoint_is_a_plain_dict_that_loads_without_pickled_objects(tmp_path):
    cfg = tiny(sampler="fedgs", rounds=6, checkpoint_every=3)
    run_experiment(cfg, tmp_path, progress=False, stop_after=3)
    state = load_checkpoint(tmp_path, cfg.run_id)  # torch.load(weights_only=True) inside
    assert set(state) == {"run_id", "round", "params", "rng_avail", "rng_sampler", "torch_gen", "sampler",
                          "history"}
    assert state["round"] == 3 and sum(state["sampler"]["counts"]) == 3 * 3  # FedGS's counts, as ints
    assert state["history"]["selected"] == load_history(tmp_path).selected
    with pytest.raises(ValueError, match="belongs to run"):
        load_checkpoint(tmp_path, "someone-else")


def test_a_stateful_user_sampler_without_state_dict_is_warned_about(tmp_path):
    from fedgs_lite.samplers import UniformSampler, register_sampler, unregister_sampler

    class Counting(UniformSampler):  # has state (update) but nothing a checkpoint could keep
        def update(self, selected, round_idx):
            pass

    register_sampler("counting", lambda context, **_: Counting(name="counting"))
    try:
        with pytest.warns(RuntimeWarning, match="no state_dict"):
            run_experiment(tiny(sampler="counting", rounds=2), tmp_path, progress=False)
    finally:
        unregister_sampler("counting")
