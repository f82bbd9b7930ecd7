import csv
import json
import math

import numpy as np
import pytest
import torch

from fedgs_lite import training
from fedgs_lite.experiment import (
    CHECKPOINT_FILE,
    ExperimentConfig,
    History,
    compare,
    comparison_table,
    final_params,
    load_history,
    plot_learning_curves,
    run_experiment,
)

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


# --------------------------------------------------------------------------- config

@pytest.mark.parametrize("kw, match", [
    (dict(dataset="imagenet"), "unknown dataset"),
    (dict(mode="NOPE-0.1"), "availability mode"),
    (dict(sampler="random"), "unknown sampler"),
    (dict(solver="cplex"), "unknown solver"),
    (dict(clients_per_round=0), "clients_per_round"),
    (dict(clients_per_round=31), "exceeds num_clients"),
    (dict(rounds=0), "rounds"),
    (dict(lr=0.0), "lr must be > 0"),
    (dict(lr=float("nan")), "lr must be > 0"),
    (dict(alpha=-0.1), "alpha must be >= 0"),
    (dict(proportion=0.0), "proportion"),
    (dict(proportion=1.5), "proportion"),
    (dict(epochs=None, steps=None), "epochs or steps"),
    (dict(batch_size=0), "batch_size"),
    (dict(aggregation="median"), "aggregation"),
    (dict(engine="jit"), "engine"),
    (dict(device="tpu"), "device"),
    (dict(graph_features="pixels"), "graph_features"),
    (dict(partition="natural", dataset="mnist"), "natural"),
    (dict(partition="stripes"), "unknown partition"),
    (dict(eval_every=0), "eval_every"),
    (dict(checkpoint_every=-1), "checkpoint_every"),
    (dict(momentum=1.0), "momentum"),
    (dict(lr_decay=1.5), "lr_decay"),
])
def test_config_rejects_bad_values(kw, match):
    with pytest.raises(ValueError, match=match):
        ExperimentConfig(**kw)


def test_config_derived_values():
    c = ExperimentConfig(num_clients=30, proportion=0.2)
    assert c.m == 6
    assert ExperimentConfig(num_clients=3, proportion=0.1).m == 1  # at least one client
    assert ExperimentConfig(clients_per_round=4).m == 4
    assert c.partition_scheme == "natural"
    assert ExperimentConfig(dataset="mnist", num_clients=100).partition_scheme == "label_skew"
    assert ExperimentConfig(sampler="md").aggregation_rule == "uniform"
    assert ExperimentConfig(sampler="fedgs").aggregation_rule == "size"
    assert ExperimentConfig(sampler="fedgs", graph_features="update").label == "fedgs-update"
    assert ExperimentConfig(dataset="Fashion-MNIST").dataset == "fashion_mnist"


def test_config_json_round_trip_and_run_id():
    c = tiny(sampler="fedgs", alpha=0.3, poc_d=None, name="mine", data_root="/somewhere")
    back = ExperimentConfig.from_json(c.to_json())
    assert back == c
    assert back.run_id == c.run_id
    # cosmetic fields do not change the id, result-relevant ones do
    assert c.replace(name="other", data_root=None, checkpoint_every=5).run_id == c.run_id
    assert c.replace(seed=1).run_id != c.run_id
    assert c.replace(mode="IDL").run_id != c.run_id
    with pytest.raises(ValueError, match="unknown ExperimentConfig fields"):
        ExperimentConfig.from_dict({**c.to_dict(), "colour": "red"})


def test_preset():
    c = ExperimentConfig.preset("synthetic", rounds=7)
    assert c.dataset == "synthetic" and c.rounds == 7
    with pytest.raises(ValueError, match="unknown preset"):
        ExperimentConfig.preset("imagenet")


# --------------------------------------------------------------------------- determinism

def test_same_seed_same_history_and_shared_availability_trace():
    a = run_experiment(tiny(sampler="fedgs"), progress=False)
    b = run_experiment(tiny(sampler="fedgs"), progress=False)
    assert results(a) == results(b)
    assert_same_params(a.final_params, b.final_params)
    assert a.rounds_done == 4 and a.finished and a.stopped_reason is None
    assert a.eval_rounds == [0, 1, 2, 3, 4]
    assert all(0 <= acc <= 1 for acc in a.test_accuracy)
    for avail, sel in zip(a.available, a.selected, strict=True):
        assert set(sel) <= set(avail) and len(sel) == min(3, len(avail))
    # separate streams: another sampler sees the same availability trace for the same seed
    u = run_experiment(tiny(sampler="uniform"), progress=False)
    assert u.available == a.available
    other = run_experiment(tiny(sampler="fedgs", seed=1), progress=False)
    assert other.available != a.available


def test_history_json_round_trip_counts_and_eval_every():
    h = run_experiment(tiny(sampler="md", rounds=5, eval_every=2), progress=False)
    assert h.eval_rounds == [0, 2, 4, 5]  # every 2 rounds and at the end
    assert all(len(s) == 3 for s in h.selected)  # MD draws M with replacement
    counts = h.counts
    assert counts.sum() == 15
    assert h.count_variance() == pytest.approx(float(np.var(counts)))
    assert h.counts_over_rounds()[-1].tolist() == counts.tolist()
    assert h.final_accuracy() == h.test_accuracy[-1]
    assert h.best_accuracy() == max(h.test_accuracy)
    back = History.from_json(h.to_json())
    assert results(back) == results(h)
    # NaN survives as null in JSON
    h.test_loss[-1] = float("nan")
    assert math.isnan(History.from_json(h.to_json()).test_loss[-1])
    rows = h.to_csv_rows()
    assert [r["round"] for r in rows] == list(range(6))
    assert rows[1]["test_loss"] == "" and rows[2]["test_accuracy"] == h.test_accuracy[1]


# --------------------------------------------------------------------------- run_dir, resume

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

    monkeypatch.setattr(training, "local_train", boom)
    again = run_experiment(cfg, tmp_path, progress=False)
    assert results(again) == results(h)
    assert again.wall_time == h.wall_time
    assert_same_params(again.final_params, h.final_params)
    with pytest.raises(ValueError, match="different run"):
        run_experiment(cfg.replace(seed=5), tmp_path, progress=False)
    with pytest.raises(AssertionError, match="must not train"):
        run_experiment(cfg, tmp_path, progress=False, resume=False)


@pytest.mark.parametrize("sampler", ["fedgs", "poc"])
def test_resume_equals_uninterrupted(tmp_path, sampler):
    cfg = tiny(sampler=sampler, rounds=6, checkpoint_every=3, momentum=0.5)
    straight = run_experiment(cfg, tmp_path / "straight", progress=False)

    part = run_experiment(cfg, tmp_path / "split", progress=False, stop_after=3)
    assert part.rounds_done == 3 and not part.finished
    assert (tmp_path / "split" / CHECKPOINT_FILE).exists()
    assert load_history(tmp_path / "split").rounds_done == 3
    resumed = run_experiment(cfg, tmp_path / "split", progress=False)
    assert resumed.finished and resumed.rounds_done == 6
    assert results(resumed) == results(straight)
    assert_same_params(resumed.final_params, straight.final_params)


def test_keyboard_interrupt_keeps_partial_results_and_resumes(tmp_path, monkeypatch):
    cfg = tiny(sampler="fedgs", rounds=6, checkpoint_every=2)
    straight = run_experiment(cfg, progress=False)
    real = training.local_train
    calls = []

    def interrupt_in_round_4(*args, **kwargs):
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "local_train", interrupt_in_round_4)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(cfg, tmp_path, progress=False)
    monkeypatch.setattr(training, "local_train", real)
    assert load_history(tmp_path).rounds_done == 4  # written on the way out
    resumed = run_experiment(cfg, tmp_path, progress=False)  # from the round-4 checkpoint
    assert results(resumed) == results(straight)
    assert_same_params(resumed.final_params, straight.final_params)


def test_divergence_stops_with_message_and_keeps_results(tmp_path, monkeypatch):
    cfg = tiny(sampler="uniform", rounds=5, lr=1e37, lr_decay=1.0)
    with pytest.warns(RuntimeWarning, match="diverged"):
        h = run_experiment(cfg, tmp_path, progress=False)
    assert "diverged" in h.stopped_reason and "smaller lr" in h.stopped_reason
    assert h.rounds_done < 5 and h.finished
    stored = load_history(tmp_path)
    assert stored.stopped_reason == h.stopped_reason
    assert stored.rounds_done == h.rounds_done
    assert stored.eval_rounds[0] == 0 and math.isfinite(stored.test_loss[0])
    monkeypatch.setattr(training, "local_train", lambda *a, **k: pytest.fail("recomputed"))
    assert run_experiment(cfg, tmp_path, progress=False).stopped_reason == h.stopped_reason


def test_divergence_mid_run_keeps_earlier_rounds(tmp_path, monkeypatch):
    real = training.local_train

    def diverge_in_round_2(model, params, data, clients, cfg, round_idx, *args, **kwargs):
        if round_idx == 2:
            raise training.DivergenceError(round_idx, clients)
        return real(model, params, data, clients, cfg, round_idx, *args, **kwargs)

    monkeypatch.setattr(training, "local_train", diverge_in_round_2)
    with pytest.warns(RuntimeWarning, match="diverged in round 2"):
        run_experiment(tiny(rounds=5), tmp_path, progress=False)
    stored = load_history(tmp_path)
    assert stored.rounds_done == 2 and stored.eval_rounds == [0, 1, 2]
    assert "round 2" in stored.stopped_reason


# --------------------------------------------------------------------------- comparisons

def test_compare_table_and_figure(tmp_path):
    cfgs = [tiny(sampler=s, rounds=3) for s in ("uniform", "fedgs")]
    hs = compare(cfgs, tmp_path, progress=False)
    assert list(hs) == ["uniform", "fedgs"]
    assert (tmp_path / "uniform" / "history.json").exists() and (tmp_path / "fedgs" / "history.json").exists()
    table = comparison_table(hs)
    lines = table.splitlines()
    assert len(lines) == 4 and "final acc" in lines[0] and "Jain" in lines[0]
    assert lines[2].startswith("uniform") and f"{hs['uniform'].final_accuracy():.4f}" in lines[2]
    fig = plot_learning_curves(hs, title="t")
    acc_ax, var_ax = fig.axes
    assert len(acc_ax.lines) == 2 and len(var_ax.lines) == 2
    assert list(acc_ax.lines[1].get_ydata()) == hs["fedgs"].test_accuracy
    assert np.allclose(var_ax.lines[0].get_ydata(), hs["uniform"].count_variance_curve())


@pytest.mark.parametrize("features", ["update", "logit"])
def test_image_dataset_with_learned_graph_features(data_root, features):
    cfg = tiny(dataset="digits", data_root=str(data_root), sampler="fedgs", graph_features=features, rounds=2,
               mode="YMF-0.5")
    assert cfg.partition_scheme == "label_skew"
    h = run_experiment(cfg, progress=False)
    assert h.finished and h.rounds_done == 2 and len(h.test_accuracy) == 3
    assert all(math.isfinite(x) for x in h.test_loss)
    assert h.final_params["0.weight"].shape[1] == 1  # the digits CNN's first conv sees one channel


def test_registered_user_sampler_trains_like_a_builtin():
    from dataclasses import dataclass

    from fedgs_lite.samplers import register_sampler, unregister_sampler

    @dataclass
    class LeastPicked:  # picks the available clients chosen least often so far
        num_clients: int
        name: str = "least_picked"

        def __post_init__(self):
            self.counts = np.zeros(self.num_clients, dtype=int)

        def select(self, available, m, round_idx, rng):
            ids = np.flatnonzero(available) if available.dtype == bool else np.asarray(available)
            order = ids[np.lexsort((rng.random(ids.size), self.counts[ids]))]
            return np.sort(order[:m])

        def update(self, selected, round_idx):
            self.counts[selected] += 1

    seen = {}

    def factory(*, sizes, distances, loss_fn, **_):
        seen.update(sizes=sizes, distances=distances, loss_fn=loss_fn)
        return LeastPicked(len(sizes))

    with pytest.raises(ValueError, match="unknown sampler 'least_picked'"):
        tiny(sampler="least_picked")
    register_sampler("least_picked", factory)
    try:
        with pytest.raises(ValueError, match="already defined"):
            register_sampler("least_picked", factory)
        with pytest.raises(ValueError, match="built-in"):
            register_sampler("fedgs", factory)
        h = run_experiment(tiny(sampler="least_picked", rounds=6, clients_per_round=3), progress=False)
    finally:
        unregister_sampler("least_picked")
    assert seen["distances"].shape == (10, 10) and callable(seen["loss_fn"])
    assert h.finished
    running = np.zeros(10, dtype=int)
    for available, selected in zip(h.available, h.selected, strict=True):
        selected, rest = np.asarray(selected), np.setdiff1d(available, selected)
        assert set(selected) <= set(available)
        # the user's rule was applied: nobody left out was picked less often than someone chosen
        assert rest.size == 0 or running[selected].max() <= running[rest].min()
        running[selected] += 1
    assert np.array_equal(running, np.asarray(h.counts))


# --------------------------------------------------------------------------- review regressions

def test_resume_false_clears_an_earlier_runs_results(tmp_path, monkeypatch):
    from fedgs_lite import experiment

    first = tiny(sampler="uniform", rounds=3)
    run_experiment(first, tmp_path, progress=False)
    other = first.replace(seed=5)
    straight = run_experiment(other, progress=False)
    real = experiment._setup

    def interrupt(*a, **k):  # e.g. Ctrl-C while the dataset loads, or CUDA out of memory
        raise KeyboardInterrupt

    monkeypatch.setattr(experiment, "_setup", interrupt)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(other, tmp_path, progress=False, resume=False)
    monkeypatch.setattr(experiment, "_setup", real)
    assert not (tmp_path / "final_model.pt").exists()
    # The first run's finished history must not be returned as this run's.
    again = run_experiment(other, tmp_path, progress=False)
    assert results(again) == results(straight)
    assert_same_params(again.final_params, straight.final_params)


def test_interrupt_while_writing_the_final_model_does_not_mark_the_run_finished(tmp_path, monkeypatch):
    from fedgs_lite import experiment

    cfg = tiny(sampler="fedgs", rounds=4, checkpoint_every=2)
    straight = run_experiment(cfg, progress=False)
    real = experiment._save_model

    def interrupt(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(experiment, "_save_model", interrupt)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(cfg, tmp_path, progress=False)
    monkeypatch.setattr(experiment, "_save_model", real)
    assert not load_history(tmp_path).finished
    resumed = run_experiment(cfg, tmp_path, progress=False)
    assert results(resumed) == results(straight)
    assert_same_params(final_params(tmp_path), straight.final_params)


def test_live_history_writes_are_throttled_between_checkpoints(tmp_path, monkeypatch):
    from fedgs_lite import experiment

    writes = []
    real = experiment._write_results
    monkeypatch.setattr(experiment, "_write_results",
                        lambda rd, h: (writes.append(h.rounds_done), real(rd, h)))
    cfg = tiny(sampler="uniform", rounds=6, eval_every=1)
    monkeypatch.setattr(experiment, "LIVE_SAVE_SECONDS", 0.0)
    run_experiment(cfg, tmp_path / "every", progress=False)
    assert writes == [1, 2, 3, 4, 5, 6]
    writes.clear()
    monkeypatch.setattr(experiment, "LIVE_SAVE_SECONDS", 1e9)
    h = run_experiment(cfg.replace(checkpoint_every=4), tmp_path / "throttled", progress=False)
    assert writes == [4, 6]  # the checkpoint and the end
    assert results(load_history(tmp_path / "throttled")) == results(h)


@pytest.mark.parametrize("sampler", ["md", "fedgs"])
def test_resume_with_eval_every_and_uneven_checkpoints(tmp_path, sampler):
    cfg = tiny(sampler=sampler, rounds=7, eval_every=2, checkpoint_every=3, lr_decay=0.9)
    straight = run_experiment(cfg, tmp_path / "straight", progress=False)
    assert straight.eval_rounds == [0, 2, 4, 6, 7]
    run_experiment(cfg, tmp_path / "split", progress=False, stop_after=5)
    resumed = run_experiment(cfg, tmp_path / "split", progress=False)
    assert results(resumed) == results(straight)
    assert_same_params(resumed.final_params, straight.final_params)
