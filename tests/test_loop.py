"""The round loop: one run or a cohort in lockstep. A run is a pure function of its config (same seed,
same History); a resumed run equals the uninterrupted one; a cohort's runs equal the separate runs bit
for bit on a CPU; interrupts, deadlines and divergence act per run. Faults are injected at the loop's
public seam, `loop.local_train_many`."""

import math

import numpy as np
import pytest
import torch

from fedgs_lite import loop
from fedgs_lite.config import ExperimentConfig
from fedgs_lite.history import History
from fedgs_lite.loop import group_cohorts, run_cohort, run_experiment
from fedgs_lite.rundir import CHECKPOINT_FILE, load_history
from fedgs_lite.training import DeviceData

TIMING = ("wall_time", "round_seconds")
SAMPLERS = ("uniform", "md", "poc", "fedgs")


@pytest.fixture(autouse=True)
def _tiny_runs_use_one_thread(one_torch_thread):
    yield


def tiny(**kw) -> ExperimentConfig:
    base = dict(num_clients=10, clients_per_round=3, rounds=4, epochs=None, steps=2, batch_size=8,
                mode="LN-0.5", device="cpu", checkpoint_every=0)
    return ExperimentConfig(**{**base, **kw})


def cohort_tiny(**kw) -> ExperimentConfig:
    base = dict(num_clients=12, clients_per_round=3, rounds=6, epochs=2, steps=None, batch_size=8,
                device="cpu", checkpoint_every=2, seed=4)
    return ExperimentConfig(**{**base, **kw})


def cohort_configs(**kw) -> list[ExperimentConfig]:
    return [cohort_tiny(mode=m, sampler=s, **kw) for m in ("IDL", "LN-0.5", "YMF-0.9") for s in SAMPLERS]


def results(h: History) -> dict:
    return {k: v for k, v in h.to_dict().items() if k not in TIMING}


def assert_same_params(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def assert_same_runs(a, b) -> None:
    """Bit for bit: every client's arithmetic is independent of who trains beside it (on CPU)."""
    assert a.available == b.available and a.selected == b.selected  # the same clients, round by round
    assert a.test_accuracy == b.test_accuracy and a.train_loss == b.train_loss
    assert_same_params(a.final_params, b.final_params)


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
    assert h.max_test_accuracy() == max(h.test_accuracy) and h.min_test_loss() == min(h.test_loss)
    assert np.isnan(h.best_valid_accuracy()) and h.best_valid_round() is None  # no hold-out here
    back = History.from_json(h.to_json())
    assert results(back) == results(h)
    # NaN survives as null in JSON
    h.test_loss[-1] = float("nan")
    assert math.isnan(History.from_json(h.to_json()).test_loss[-1])
    rows = h.to_csv_rows()
    assert [r["round"] for r in rows] == list(range(6))
    assert rows[1]["test_loss"] == "" and rows[2]["test_accuracy"] == h.test_accuracy[1]


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
    real = loop.local_train_many
    calls = []

    def interrupt_in_round_4(*args, **kwargs):
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, "local_train_many", interrupt_in_round_4)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(cfg, tmp_path, progress=False)
    monkeypatch.setattr(loop, "local_train_many", real)
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
    monkeypatch.setattr(loop, "local_train_many", lambda *a, **k: pytest.fail("recomputed"))
    assert run_experiment(cfg, tmp_path, progress=False).stopped_reason == h.stopped_reason


def test_divergence_mid_run_keeps_earlier_rounds(tmp_path, monkeypatch):
    real = loop.local_train_many

    def diverge_in_round_2(*args, **kwargs):
        out = real(*args, **kwargs)
        if args[5] == 2:  # round_idx
            params, losses = out[0]
            out[0] = ({k: v * float("nan") for k, v in params.items()}, losses)
        return out

    monkeypatch.setattr(loop, "local_train_many", diverge_in_round_2)
    with pytest.warns(RuntimeWarning, match="diverged in round 2"):
        run_experiment(tiny(rounds=5), tmp_path, progress=False)
    stored = load_history(tmp_path)
    assert stored.rounds_done == 2 and stored.eval_rounds == [0, 1, 2]
    assert "round 2" in stored.stopped_reason


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

    def factory(context, **_):  # the one factory shape: the run's SamplerContext, then options
        seen.update(sizes=context.sizes, distances=context.distances, loss_fn=context.loss_fn)
        return LeastPicked(context.num_clients)

    with pytest.raises(ValueError, match="unknown sampler 'least_picked'"):
        tiny(sampler="least_picked")
    register_sampler("least_picked", factory)
    try:
        with pytest.raises(ValueError, match="already exists"):
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


@pytest.mark.parametrize("sampler", ["md", "fedgs"])
def test_resume_with_eval_every_and_uneven_checkpoints(tmp_path, sampler):
    cfg = tiny(sampler=sampler, rounds=7, eval_every=2, checkpoint_every=3, lr_decay=0.9)
    straight = run_experiment(cfg, tmp_path / "straight", progress=False)
    assert straight.eval_rounds == [0, 2, 4, 6, 7]
    run_experiment(cfg, tmp_path / "split", progress=False, stop_after=5)
    resumed = run_experiment(cfg, tmp_path / "split", progress=False)
    assert results(resumed) == results(straight)
    assert_same_params(resumed.final_params, straight.final_params)


@pytest.mark.parametrize("engine", ["batched", "sequential"])
def test_cohort_equals_separate_runs(engine):
    configs = cohort_configs(engine=engine)
    alone = [run_experiment(c, progress=False) for c in configs]
    together = run_cohort(configs, progress=False)
    assert [h.label for h in together] == [c.label for c in configs]
    for a, b in zip(alone, together, strict=True):
        assert b.finished and b.rounds_done == 6
        assert_same_runs(a, b)


def test_clients_of_different_sizes_are_padded_without_changing_results():
    # Dirichlet clients differ a lot in size, so the runs' minibatch plans differ in length and width.
    configs = [cohort_tiny(partition="dirichlet", dirichlet_alpha=0.1, batch_size=32, sampler=s,
                           mode="LN-0.5", engine="batched") for s in SAMPLERS]
    for a, b in zip([run_experiment(c, progress=False) for c in configs], run_cohort(configs, progress=False),
                    strict=True):
        assert_same_runs(a, b)


def test_only_configs_sharing_data_and_training_form_a_cohort():
    a, b = cohort_tiny(sampler="md"), cohort_tiny(sampler="fedgs", mode="LN-0.5", fedgs_alpha=1.0)
    assert a.cohort_key() == b.cohort_key()
    assert group_cohorts([a, cohort_tiny(seed=5), b, cohort_tiny(lr=0.05)]) == [[0, 2], [1], [3]]
    with pytest.raises(ValueError, match="differ in seed, lr"):
        run_cohort([a, cohort_tiny(seed=5, lr=0.05)])
    with pytest.raises(ValueError, match="at least one"):
        run_cohort([])
    with pytest.raises(ValueError, match="share a run directory"):
        run_cohort([a, b], ["same", "same"])
    with pytest.raises(ValueError, match="2 configs but 1 run_dirs"):
        run_cohort([a, b], ["x"])


def test_interrupted_cohort_resumes_to_the_uninterrupted_result(tmp_path, monkeypatch):
    configs = cohort_configs()[:4]
    reference = run_cohort(configs, progress=False)
    dirs = [tmp_path / f"run{i}" for i in range(len(configs))]
    real = loop.local_train_many

    def interrupt_in_round_3(*a, **k):
        if a[5] == 3:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(loop, "local_train_many", interrupt_in_round_3)
    with pytest.raises(KeyboardInterrupt):
        run_cohort(configs, dirs, progress=False)
    for d in dirs:  # partial results written, checkpoint after round 2 kept
        assert load_history(d).rounds_done == 3 and (d / CHECKPOINT_FILE).exists()
    monkeypatch.setattr(loop, "local_train_many", real)
    resumed = run_cohort(configs, dirs, progress=False)
    for a, b in zip(reference, resumed, strict=True):
        assert results(a) == results(b)
        for k in a.final_params:
            assert torch.equal(a.final_params[k], b.final_params[k])
    # finished runs are read back, not recomputed; a separate run reads the cohort's directory too
    monkeypatch.setattr(loop, "local_train_many", lambda *a, **k: pytest.fail("recomputed"))
    assert [results(h) for h in run_cohort(configs, dirs, progress=False)] == [results(h) for h in reference]
    assert results(run_experiment(configs[1], dirs[1], progress=False)) == results(reference[1])


def test_runs_at_different_rounds_catch_up_and_match(tmp_path):
    configs = cohort_configs()[:3]
    dirs = [tmp_path / f"run{i}" for i in range(3)]
    run_experiment(configs[0], dirs[0], progress=False, stop_after=4)  # checkpoint after round 4
    together = run_cohort(configs, dirs, progress=False)
    for a, b in zip([run_experiment(c, progress=False) for c in configs], together, strict=True):
        assert_same_runs(a, b)


def test_one_diverging_run_stops_alone(tmp_path, monkeypatch):
    configs = cohort_configs()[:4]
    dirs = [tmp_path / f"run{i}" for i in range(4)]
    real = loop.local_train_many

    def nan_for_the_second_run_in_round_2(*a, **k):
        out = real(*a, **k)
        if a[5] == 2:
            params, losses = out[1]
            out[1] = (params, np.full_like(losses, np.nan))
        return out

    monkeypatch.setattr(loop, "local_train_many", nan_for_the_second_run_in_round_2)
    with pytest.warns(RuntimeWarning, match="diverged"):
        hs = run_cohort(configs, dirs, progress=False)
    assert hs[1].stopped_reason and "round 2" in hs[1].stopped_reason and hs[1].rounds_done == 2
    assert load_history(dirs[1]).stopped_reason == hs[1].stopped_reason
    for i in (0, 2, 3):
        assert hs[i].stopped_reason is None and hs[i].rounds_done == 6 and hs[i].finished


def test_deadline_stops_every_run_with_a_checkpoint_and_resume_finishes_the_same(tmp_path):
    configs = cohort_configs()[:4]
    reference = run_cohort(configs, progress=False)
    dirs = [tmp_path / f"run{i}" for i in range(4)]
    paused = run_cohort(configs, dirs, progress=False, deadline=0.0)  # already passed: one round each
    for h, d in zip(paused, dirs, strict=True):
        assert h.rounds_done == 1 and not h.finished and (d / CHECKPOINT_FILE).exists()
    resumed = run_cohort(configs, dirs, progress=False)
    assert [results(h) for h in resumed] == [results(h) for h in reference]


def test_run_experiment_deadline(tmp_path):
    config = cohort_tiny(sampler="poc", mode="LN-0.5")
    paused = run_experiment(config, tmp_path, progress=False, deadline=0.0)
    assert paused.rounds_done == 1 and not paused.finished and (tmp_path / CHECKPOINT_FILE).exists()
    assert results(run_experiment(config, tmp_path, progress=False)) == \
        results(run_experiment(config, progress=False))


def test_a_cohort_loads_and_places_its_data_once(monkeypatch):
    calls = []
    real = DeviceData.from_federated.__func__

    def counting(cls, fed, device=None):
        calls.append(fed)
        return real(cls, fed, device)

    monkeypatch.setattr(DeviceData, "from_federated", classmethod(counting))
    run_cohort(cohort_configs()[:4], progress=False)
    assert len(calls) == 1
