"""Two processes never write one run or grid folder at once: the second stops at once with one line
(exit status 2), the OS frees the lock when its holder dies (even by kill -9), and default output
folders are unique. Real processes throughout: the lock is an OS lock between processes."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fedgs_lite import cli
from fedgs_lite.config import ExperimentConfig
from fedgs_lite.files import FolderBusyError, lock_folder
from fedgs_lite.loop import run_experiment

pytestmark = pytest.mark.skipif(os.name != "posix", reason="flock")
ENV = {**os.environ, "MPLBACKEND": "Agg"}
HOLD = ("import sys; from fedgs_lite.files import lock_folder; lock = lock_folder(sys.argv[1]); "
        "print('locked', flush=True); sys.stdin.read()")


def fedgs(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fedgs_lite", *argv], capture_output=True, text=True,
                          env=ENV, cwd=cwd, timeout=300)


def start_holder(folder: Path) -> subprocess.Popen:
    """Another process holding `folder`'s lock until it is killed."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=ENV)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def wait_for(path: Path, proc: subprocess.Popen, seconds: float = 240) -> None:
    end = time.monotonic() + seconds
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end, f"{path} never appeared"
        time.sleep(0.1)


def test_a_second_run_into_a_folder_being_trained_stops_with_one_line(tmp_path):
    out = tmp_path / "out"
    long_run = ["run", "--samplers", "uniform", "--rounds", "100000", "--checkpoint-every", "1",
                "--no-progress", "--out", str(out)]
    first = subprocess.Popen([sys.executable, "-m", "fedgs_lite", *long_run], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        wait_for(out / "uniform" / "checkpoint.pt", first)  # the first is training now
        config_before = (out / "uniform" / "config.json").read_text()
        second = fedgs("run", "--samplers", "uniform", "--lr", "0.05", "--rounds", "3", "--out", str(out))
        assert second.returncode == 2
        assert second.stderr.splitlines() == [
            f"error: output folder {out} is in use by another fedgs_lite process (pid {first.pid}); wait "
            "for it to finish or use another folder"]
        assert (out / "uniform" / "config.json").read_text() == config_before  # not touched
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    with lock_folder(out):  # the OS released the killed process's lock
        pass


def test_the_grid_folder_and_each_run_folder_are_locked(tmp_path):
    grid = tmp_path / "grid"
    holder = start_holder(grid)
    try:
        busy = fedgs("reproduce", "--tiny", "--modes", "IDL", "--samplers", "uniform", "--out", str(grid),
                     "--no-progress", "--no-figures")
        assert busy.returncode == 2
        assert busy.stderr.splitlines() == [f"error: grid folder {grid} is in use by another fedgs_lite "
                                            f"process (pid {holder.pid}); wait for it to finish or use "
                                            "another folder"]
        assert sorted(p.name for p in grid.iterdir()) == [".lock"]  # nothing written
        with pytest.raises(FolderBusyError, match=f"pid {holder.pid}"):  # the Python API too
            run_experiment(ExperimentConfig(rounds=2), grid, progress=False)
    finally:
        holder.kill()
        holder.wait()
    h = run_experiment(ExperimentConfig(rounds=2, num_clients=8, steps=2), grid, progress=False)
    assert h.finished


def test_default_output_folders_are_unique_within_one_second(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli.time, "strftime", lambda fmt, *a: "20250101-120000")  # one second, twice
    tiny = ["run", "--samplers", "uniform", "--rounds", "2", "--clients", "8", "--m", "2", "--steps", "2",
            "--no-progress"]
    assert cli.main(tiny) == 0
    assert cli.main([*tiny, "--lr", "0.05"]) == 0
    folders = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert folders == ["20250101-120000", "20250101-120000-2"]
    configs = [(tmp_path / "runs" / f / "uniform" / "config.json").read_text() for f in folders]
    assert ['"lr": 0.05' in c for c in configs] == [False, True]
