"""The paper's grid: planned from paper.py, every cell once, finished cells reused, a lost one redone,
cohorts equal to separate runs, a failing cell does not stop the rest."""

import shutil

import pytest

from fedgs_lite import grid, paper
from fedgs_lite.grid import (
    RUNS_DIR,
    TINY,
    Cell,
    build_config,
    grid_cells,
    plan_grid,
    run_grid,
)
from fedgs_lite.readers import cifar_variant
from fedgs_lite.rundir import is_done, load_history
from fedgs_lite.summary import summarise
from fedgs_lite.summary_files import write_summary

MODES = ("IDL", "LN")
SAMPLERS = ("uniform", "fedgs")
SEEDS = (0, 1)


def tiny_plans():
    cells = grid_cells(["synthetic"], MODES, SAMPLERS, SEEDS)
    return plan_grid(cells, tiny=True, device="cpu")


@pytest.fixture(scope="module")
def finished_grid(tmp_path_factory):
    out = tmp_path_factory.mktemp("grid")
    plans = tiny_plans()
    report = run_grid(plans, out, progress=False)
    rows = summarise(out, report.run_dirs)
    write_summary(out, wall_time=report.wall_time, device="cpu: test")
    return out, plans, report, rows


def mtimes(out):
    return {p: p.stat().st_mtime_ns for p in (out / RUNS_DIR).glob("*/history.json")}


def test_grid_runs_every_cell_once_in_its_own_run_directory(finished_grid):
    out, plans, report, rows = finished_grid
    assert report.ran == len(plans) == len(MODES) * len(SAMPLERS) * len(SEEDS)
    assert report.reused == 0 and not report.failed and report.left == 0
    assert len({p.dirname for p in plans}) == len(plans)
    for p in plans:  # one run dir per cell, named by its config's run_id, with its cell.json
        assert p.config.run_id in p.dirname
        assert load_history(out / RUNS_DIR / p.dirname).rounds_done == TINY["rounds"]
        assert (out / RUNS_DIR / p.dirname / "cell.json").exists()
    md = (out / "summary.md").read_text()
    assert "cpu: test" in md and "grid wall time" in md and "not reported" in md


def test_second_call_recomputes_nothing(finished_grid):
    out, plans, _, _ = finished_grid
    before = mtimes(out)
    report = run_grid(plans, out, progress=False)
    assert (report.ran, report.reused) == (0, len(plans))
    assert mtimes(out) == before


def test_resume_recomputes_only_the_lost_cell(finished_grid, tmp_path):
    out, plans, _, rows = finished_grid
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    lost = copy / RUNS_DIR / plans[1].dirname
    shutil.rmtree(lost)
    before = mtimes(copy)
    report = run_grid(plans, copy, progress=False)
    assert (report.ran, report.reused) == (1, len(plans) - 1)
    after = mtimes(copy)
    assert {k: v for k, v in after.items() if lost not in k.parents} == before
    # Deterministic on CPU: the recomputed cell gives the same summary as before.
    again = summarise(copy, report.run_dirs)
    assert [r["final_acc_mean"] for r in again] == pytest.approx([r["final_acc_mean"] for r in rows])


def test_configs_follow_the_paper_settings():
    st = paper.setting("fashion_mnist")
    cfg = build_config(Cell("fashion_mnist", "YMF", "fedgs", 2))
    assert (cfg.num_clients, cfg.m, cfg.partition, cfg.classes_per_client) == (
        st.num_clients, st.clients_per_round, "label_skew", 2)
    assert (cfg.rounds, cfg.epochs, cfg.batch_size, cfg.lr, cfg.fedgs_alpha) == (
        st.rounds, st.local_epochs, st.batch_size, st.lr, st.fedgs_alpha)
    assert cfg.mode == paper.MODE_SPECS["YMF"] and cfg.seed == 2
    assert build_config(Cell("synthetic", "IDL", "md", 0), rounds=7).rounds == 7
    for s in paper.SETTINGS.values():  # every value says where it came from
        for key in ("num_clients", "partition", "rounds", "lr", "proportion", "batch_size"):
            assert s.sources.get(key), (s.dataset, key)


def test_cifar_subset_is_labelled(data_root):
    plans = plan_grid(grid_cells(["cifar10"], ["IDL"], ["uniform"], [0]), data_root=str(data_root))
    (p,) = plans
    if cifar_variant(str(data_root)) == "subset":
        assert "subset" in p.dataset_label
        assert p.config.num_clients == paper.CIFAR_SUBSET_NUM_CLIENTS
    else:
        assert p.dataset_label == "cifar10"


def test_bad_grid_input_is_rejected():
    with pytest.raises(ValueError, match="unknown modes"):
        grid_cells(["synthetic"], ["XYZ"], ["uniform"], [0])
    with pytest.raises(ValueError, match="unknown datasets"):
        grid_cells(["mnist"], ["IDL"], ["uniform"], [0])
    with pytest.raises(ValueError, match="seeds"):
        grid_cells(["synthetic"], ["IDL"], ["uniform"], [])


def test_a_failing_cell_does_not_stop_the_grid(tmp_path, monkeypatch):
    plans = plan_grid(grid_cells(["synthetic"], ["IDL"], ["uniform"], (0, 1)), tiny=True, device="cpu")
    real = grid.run_experiment

    def fail_seed_0(config, *a, **k):
        if config.seed == 0:
            raise RuntimeError("CUDA out of memory (simulated)")
        return real(config, *a, **k)

    monkeypatch.setattr(grid, "run_experiment", fail_seed_0)
    report = run_grid(plans, tmp_path, progress=False)
    assert report.ran == 1 and [name for name, _ in report.failed] == [plans[0].dirname]
    assert "out of memory" in report.failed[0][1]
    assert not is_done(tmp_path / RUNS_DIR / plans[0].dirname)
    assert is_done(tmp_path / RUNS_DIR / plans[1].dirname)


def test_grid_cohorts_sizes_deadline_and_the_call_log(tmp_path, capsys):
    plans = plan_grid(grid_cells(["synthetic"], ["IDL", "LN"], ["uniform", "fedgs"], (0,)), tiny=True,
                         device="cpu")
    separate = tmp_path / "separate"
    run_grid(plans, separate, progress=False, cohorts=False)
    report = run_grid(plans, tmp_path / "grid", progress=False, cohort_size=3, deadline=0.0)
    assert report.left == 4 and report.ran == 0  # past the deadline nothing new starts
    report = run_grid(plans, tmp_path / "grid", progress=False, cohort_size=3)
    assert report.left == 0 and report.ran == 4 and not report.failed
    for p in plans:  # cohorts of 3 and 1: the separate runs' results exactly
        a, b = (load_history(root / RUNS_DIR / p.dirname) for root in (separate, tmp_path / "grid"))
        assert (a.selected, a.test_accuracy, a.train_loss) == (b.selected, b.test_accuracy, b.train_loss)
    with pytest.raises(ValueError, match="cohort_size"):
        run_grid(plans, tmp_path / "grid", cohort_size=0)
