"""Interrupts and damaged files: Ctrl-C's hint is a command that really continues, SIGTERM saves what
Ctrl-C saves, a damaged history, checkpoint or model is named, set aside and recomputed (an unreadable
config.json stops with one line), a torn line in grid_calls.jsonl is skipped, and temp files left by
killed writes are cleared."""

import json
import os
import shlex
import signal
import subprocess
import sys
import time

import pytest

from fedgs_lite import cli, loop
from fedgs_lite.config import ExperimentConfig
from fedgs_lite.grid_log import GRID_LOG, grid_calls
from fedgs_lite.loop import run_experiment
from fedgs_lite.rundir import load_history

TINY = ["--samplers", "uniform", "--rounds", "4", "--clients", "8", "--m", "2", "--steps", "2",
        "--checkpoint-every", "2", "--no-progress"]


@pytest.fixture(autouse=True)
def _tiny_runs_use_one_thread(one_torch_thread):
    yield


def results(h) -> dict:
    return {k: v for k, v in h.to_dict().items() if k not in ("wall_time", "round_seconds")}


def interrupt_at_call(monkeypatch, n: int) -> None:
    real, calls = loop.local_train_many, []

    def train(*args, **kwargs):
        calls.append(1)
        if len(calls) == n:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, "local_train_many", train)


def test_ctrl_c_without_out_prints_the_command_that_continues(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    interrupt_at_call(monkeypatch, 4)  # round 3, after the round-2 checkpoint
    assert cli.main(["run", *TINY]) == 130
    err = capsys.readouterr().err
    command = err.split("continue with: ", 1)[1].strip()
    (folder,) = (tmp_path / "runs").iterdir()
    assert command == shlex.join(["python", "-m", "fedgs_lite", "run", *TINY, "--out", f"runs/{folder.name}"])
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    assert cli.main(shlex.split(command)[3:]) == 0  # the printed command, as a user would paste it
    assert list((tmp_path / "runs").iterdir()) == [folder]  # it continued there, no new folder
    straight = run_experiment(cli.configs_from_args(cli.build_parser().parse_args(["run", *TINY]))[0],
                              progress=False)
    assert results(load_history(folder / "uniform")) == results(straight)


@pytest.mark.skipif(os.name != "posix", reason="signals")
def test_sigterm_saves_what_ctrl_c_saves_and_the_run_resumes(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "fedgs_lite", "run", "--samplers", "uniform", "--rounds",
                             "100000", "--checkpoint-every", "1", "--no-progress", "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "MPLBACKEND": "Agg"})
    end = time.monotonic() + 240
    while not (out / "uniform" / "checkpoint.pt").exists():
        assert proc.poll() is None and time.monotonic() < end
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143
    assert err.strip().splitlines()[-1] == ("terminated: results so far are saved; run the same command "
                                            "again to continue")
    partial = load_history(out / "uniform")
    assert not partial.finished and partial.rounds_done >= 1  # written on the way out
    cfg = ExperimentConfig.from_json((out / "uniform" / "config.json").read_text())
    import torch

    k = torch.load(out / "uniform" / "checkpoint.pt", weights_only=True)["round"]
    resumed = run_experiment(cfg, out / "uniform", progress=False, stop_after=k + 2)
    fresh = run_experiment(cfg, tmp_path / "fresh", progress=False, stop_after=k + 2)
    assert resumed.rounds_done == k + 2 and results(resumed) == results(fresh)


def damage(path, how: str) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if how == "truncated" else b"\x00garbage\xff" * 7)


@pytest.mark.parametrize("how", ["truncated", "garbage"])
@pytest.mark.parametrize("name, then", [
    ("history.json", "continues from its checkpoint"),
    ("checkpoint.pt", "starts again from round 0"),
    ("final_model.pt", "trained again from round 0"),
])
def test_a_damaged_file_of_a_run_is_named_set_aside_and_recomputed(tmp_path, capsys, name, then, how):
    out = tmp_path / "out"
    argv = ["run", *TINY, "--out", str(out)]
    assert cli.main(argv) == 0
    reference = load_history(out / "uniform")
    if name != "final_model.pt":  # an interrupted run instead: history and checkpoint at round 2
        cfg = ExperimentConfig.from_json((out / "uniform" / "config.json").read_text())
        for f in ("history.json", "final_model.pt"):
            (out / "uniform" / f).unlink()
        run_experiment(cfg, out / "uniform", progress=False, stop_after=2)
    capsys.readouterr()
    damage(out / "uniform" / name, how)
    assert cli.main(argv) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"warning: {out / 'uniform' / name} ") and then in err[0]
    assert (out / "uniform" / f"{name}.damaged").exists()
    assert results(load_history(out / "uniform")) == results(reference)


@pytest.mark.parametrize("content", ["{\"lr\": 0.1", "[]", "{\"nope\": 1}", "\x00\xff"])
def test_an_unreadable_config_json_stops_with_one_line_naming_it(tmp_path, capsys, content):
    out = tmp_path / "out"
    assert cli.main(["run", *TINY, "--out", str(out)]) == 0
    capsys.readouterr()
    (out / "uniform" / "config.json").write_text(content, errors="surrogateescape")
    assert cli.main(["run", *TINY, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {out / 'uniform' / 'config.json'} cannot be read")
    assert err[0].endswith("delete that folder or use another")


GRID = ["reproduce", "--tiny", "--modes", "IDL", "--samplers", "uniform,md", "--no-figures", "--no-progress"]


def test_a_grid_skips_and_recomputes_a_cell_with_damaged_files(tmp_path, capsys):
    out = tmp_path / "grid"
    assert cli.main([*GRID, "--out", str(out)]) == 0
    first = {rd.name: results(load_history(rd)) for rd in (out / "runs").iterdir()}
    cell_a, cell_b = sorted((out / "runs").iterdir())
    config_a = (cell_a / "config.json").read_text()
    for cell in (cell_a, cell_b):
        (cell / "config.json").write_text("{garbage")
    (cell_b / "history.json").unlink()  # cell b unfinished: it must be opened, and its checkpoint is gone
    capsys.readouterr()
    assert cli.main([*GRID, "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert err.count("config.json cannot be read") == 2 and "written again from the plan" in err
    assert (cell_a / "config.json").read_text() == config_a
    assert {rd.name: results(load_history(rd)) for rd in (out / "runs").iterdir()} == first


def test_a_torn_line_in_the_call_log_does_not_break_later_calls(tmp_path, capsys):
    out = tmp_path / "grid"
    assert cli.main([*GRID, "--out", str(out)]) == 0
    with open(out / GRID_LOG, "a") as f:
        f.write('{"started": "2025-01-01T00:00:00", "wall_ti')  # a call killed mid-write
    assert cli.main([*GRID, "--samplers", "uniform,md,poc", "--out", str(out)]) == 0
    lines = (out / GRID_LOG).read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[2])["ran"] == 1  # the next entry starts on its own line
    assert [c["ran"] for c in grid_calls(out)] == [2, 1]


def test_temp_files_of_killed_writes_are_cleared(tmp_path):
    out = tmp_path / "grid"
    assert cli.main([*GRID, "--out", str(out)]) == 0
    cell = sorted((out / "runs").iterdir())[0]
    orphans = [out / ".summary.md.0a1b2c3d.tmp", cell / ".history.json.deadbeef.tmp"]
    keep = [out / "notes.tmp", cell / ".mine.tmp"]  # not named like atomic_write's temp files
    for p in orphans + keep:
        p.write_text("half")
    (cell / "history.json").unlink()  # so that the cell is opened again
    assert cli.main([*GRID, "--out", str(out)]) == 0
    assert [p.exists() for p in orphans + keep] == [False, False, True, True]
