"""reproduce --engine ray: a task trains one cohort group apart from the driver's folder and returns its
runs' files; on a local Ray the grid equals the in-process grid file for file, failed tasks are
retried, tasks that keep failing leave their runs for the next call, and no Ray process is left."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
from importlib.util import find_spec
from pathlib import Path

import pytest
import torch
from processes import new_marker, processes_with, wait_until

from fedgs_lite.cli import main
from fedgs_lite.grid import RUNS_DIR, grid_cells, plan_grid, run_grid
from fedgs_lite.loop import run_experiment
from fedgs_lite.ray_grid import (
    MISSING_RAY,
    read_run_dir,
    run_grid_ray,
    task_resources,
    train_group,
    write_run_dir,
)
from fedgs_lite.rundir import HISTORY_FILE, MODEL_FILE, is_done

needs_ray = pytest.mark.skipif(find_spec("ray") is None, reason=MISSING_RAY)
TINY = ["--tiny", "--modes", "IDL,LN", "--samplers", "uniform,fedgs", "--seeds", "2", "--no-figures",
        "--no-progress"]
TIMING = ("wall_time", "round_seconds")


def tiny_plans(seeds=(0, 1)):
    return plan_grid(grid_cells(["synthetic"], ["IDL", "LN"], ["uniform", "fedgs"], seeds), tiny=True,
                     device="cpu")


def run_files(out: Path) -> dict[str, dict[str, object]]:
    """Every run's files under out/runs, comparable: histories without their timings, models as lists."""
    found = {}
    for rd in sorted((Path(out) / RUNS_DIR).iterdir()):
        files: dict[str, object] = {}
        for f in sorted(rd.iterdir()):
            if f.name.startswith("."):  # housekeeping (the folder lock), not a result: never sent by a task
                continue
            if f.name == HISTORY_FILE:
                files[f.name] = {k: v for k, v in json.loads(f.read_text()).items() if k not in TIMING}
            elif f.name == MODEL_FILE:
                files[f.name] = {k: v.tolist() for k, v in torch.load(f, weights_only=True).items()}
            else:
                files[f.name] = f.read_bytes()
        found[rd.name] = files
    return found


# --------------------------------------------------------------------------- one task, without Ray

def test_run_dir_files_round_trip_with_the_history_last(tmp_path):
    rd = tmp_path / "run"
    write_run_dir(rd, {"history.json": b"{}", "a.json": b"1", "final_model.pt": b"\x00\x01"})
    (rd / ".half.tmp").write_bytes(b"a temp file is never sent")
    files = read_run_dir(rd)
    assert list(files) == ["a.json", "final_model.pt", "history.json"]
    assert files["final_model.pt"] == b"\x00\x01"


def test_a_task_trains_its_group_apart_and_returns_what_run_grid_writes(tmp_path, one_torch_thread):
    plans = tiny_plans((0,))
    run_grid(plans, tmp_path / "local", progress=False)
    result = train_group(plans, {}, None, threads=1)
    assert result["ran"] == len(plans) and result["failed"] == [] and set(result["files"]) == {
        p.dirname for p in plans}
    for p in plans:
        write_run_dir(tmp_path / "task" / RUNS_DIR / p.dirname, result["files"][p.dirname])
    local, task = run_files(tmp_path / "local"), run_files(tmp_path / "task")
    for name in local:  # the task gets no cell.json unless the driver sends it
        local[name].pop("cell.json")
    assert task == local


def test_a_task_resumes_a_checkpointed_run_from_the_files_it_is_sent(tmp_path, one_torch_thread):
    plan = tiny_plans((0,))[-1]
    partial = tmp_path / "partial"
    run_experiment(plan.config.replace(checkpoint_every=1), partial, progress=False, stop_after=1)
    assert (partial / "checkpoint.pt").exists() and not is_done(partial)
    resumed = dataclasses.replace(plan, config=plan.config.replace(checkpoint_every=1))
    result = train_group([resumed], {resumed.dirname: read_run_dir(partial)}, None, threads=1)
    history = json.loads(result["files"][resumed.dirname][HISTORY_FILE])
    whole = run_experiment(resumed.config, progress=False)
    assert result["ran"] == 1 and history["finished"] and history["selected"] == whole.selected
    first = json.loads((partial / HISTORY_FILE).read_text())["round_seconds"]
    assert history["round_seconds"][:1] == first  # round 1 came from the checkpoint, not trained again
    assert history["test_accuracy"] == whole.test_accuracy


def test_a_task_started_after_the_deadline_trains_nothing():
    result = train_group(tiny_plans((0,)), {}, time.time() - 1, threads=1)
    assert result["ran"] == 0 and all(HISTORY_FILE not in f for f in result["files"].values())


def test_task_resources_pack_two_cohorts_per_gpu_and_refuse_what_the_cluster_cannot_hold():
    assert task_resources({"CPU": 16.0, "GPU": 1.0}, 1, None) == (1, 0.5)
    assert task_resources({"CPU": 2.0}, 2, None) == (2, 0.0)
    assert task_resources({"CPU": 16.0, "GPU": 2.0}, 4, 0.25) == (4, 0.25)
    with pytest.raises(ValueError, match="it has none"):
        task_resources({"CPU": 2.0}, 1, 0.5)
    with pytest.raises(ValueError, match="more than the Ray cluster's 2 CPUs"):
        task_resources({"CPU": 2.0}, 3, 0.0)


def test_engine_ray_without_ray_is_one_line(tmp_path):
    code = ("import sys; sys.modules['ray'] = None\nfrom fedgs_lite.cli import main\n"
            "sys.exit(main(['reproduce', '--tiny', '--engine', 'ray', '--out', 'unused']))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.strip() == f"error: {MISSING_RAY}"
    assert not (tmp_path / "unused").exists()


# --------------------------------------------------------------------------- on a local Ray

@needs_ray
@pytest.mark.slow
def test_engine_ray_equals_the_in_process_grid_and_leaves_no_ray_process(tmp_path, capsys, monkeypatch,
                                                                        one_torch_thread):
    marker = new_marker("ray_grid")
    monkeypatch.setenv(marker, "1")  # every Ray process started below inherits it
    assert main(["reproduce", *TINY, "--out", str(tmp_path / "local")]) == 0
    assert main(["reproduce", *TINY, "--engine", "ray", "--out", str(tmp_path / "ray")]) == 0
    said = capsys.readouterr().out
    assert "8 runs trained, 0 reused" in said
    local, ray = run_files(tmp_path / "local"), run_files(tmp_path / "ray")
    assert len(ray) == 8 and ray == local
    assert (tmp_path / "ray" / "summary.csv").read_text() == (tmp_path / "local" / "summary.csv").read_text()
    wait_until(lambda: not processes_with(marker), 30)
    assert processes_with(marker) == {}  # ray.shutdown() took the raylet, the GCS and the workers
    assert main(["reproduce", *TINY, "--engine", "ray", "--out", str(tmp_path / "ray")]) == 0
    assert "0 runs trained, 8 reused" in capsys.readouterr().out  # finished runs: Ray is not even started
    assert processes_with(marker) == {}


@needs_ray
@pytest.mark.slow
def test_failed_tasks_are_retried_and_runs_of_a_task_that_keeps_failing_are_left_to_do(tmp_path, monkeypatch,
                                                                                       one_torch_thread):
    marker = new_marker("ray_retry")
    monkeypatch.setenv(marker, "1")
    tries = tmp_path / "tries"
    tries.mkdir()

    def flaky(members, files, deadline, threads):  # pickled by value: a test function is not importable
        seed = members[0].cell.seed
        log = Path(tries) / f"seed{seed}"
        with open(log, "a") as f:
            f.write("x")
        if seed == 0 and len(log.read_text()) == 1:
            raise RuntimeError("emulated failure on the first try")
        if seed == 1:
            import os

            os._exit(3)  # the worker dies, every time
        return train_group(members, files, deadline, threads)

    plans = tiny_plans()
    report = run_grid_ray(plans, tmp_path / "out", progress=False, max_retries=1, num_cpus=2, task=flaky)
    assert (tries / "seed0").read_text() == "xx" and (tries / "seed1").read_text() == "xx"
    done = {p.dirname: is_done(tmp_path / "out" / RUNS_DIR / p.dirname) for p in plans}
    assert done == {p.dirname: p.cell.seed == 0 for p in plans}
    assert sorted(name for name, _ in report.failed) == sorted(p.dirname for p in plans if p.cell.seed == 1)
    assert report.ran == 4 and report.left == 0
    wait_until(lambda: not processes_with(marker), 30)
    assert processes_with(marker) == {}
    again = run_grid(plans, tmp_path / "out", progress=False)  # the next call trains only what is left
    assert (again.ran, again.reused, again.failed) == (4, 4, [])
    run_grid(plans, tmp_path / "local", progress=False)
    assert run_files(tmp_path / "out") == run_files(tmp_path / "local")
