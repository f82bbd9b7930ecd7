"""The command line: `run` flags come from the config, `simulate` and `reproduce`, one-line errors."""

import argparse
import csv
import dataclasses
import json

import pytest

from fedgs_lite.cli import build_parser, configs_from_args, configure_run, main
from fedgs_lite.config import ExperimentConfig
from fedgs_lite.grid import RUNS_DIR
from fedgs_lite.grid_log import GRID_LOG, grid_calls

TINY = ["--rounds", "3", "--clients", "8", "--m", "2", "--steps", "2", "--batch-size", "8", "--no-progress"]


@pytest.fixture(autouse=True)
def _tiny_runs_use_one_thread(one_torch_thread):
    yield


def run_args(argv: list[str]):
    return build_parser().parse_args(["run", *argv])


def test_run_main_writes_table_and_figure(tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["run", "--samplers", "uniform,md,poc,fedgs", "--out", str(out), "--mode", "LN-0.5", *TINY]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    for name in ("uniform", "md", "poc", "fedgs"):
        assert name in printed
        history = json.loads((out / name / "history.json").read_text())
        assert history["finished"] and len(history["selected"]) == 3
        assert json.loads((out / name / "config.json").read_text())["mode"] == "LN-0.5"
    summary = (out / "summary.txt").read_text()
    assert "final acc" in summary and "Jain" in summary
    with (out / "summary.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["sampler"] for r in rows] == ["uniform", "md", "poc", "fedgs"]
    assert all(0 <= float(r["final_acc"]) <= 1 for r in rows)
    png = (out / "learning_curves.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert str(out / "learning_curves.png") in printed


def test_rerun_reuses_finished_runs(tmp_path):
    args = ["run", "--samplers", "uniform", "--out", str(tmp_path), *TINY]
    assert main(args) == 0
    first = (tmp_path / "uniform" / "history.json").read_text()
    assert main(args) == 0
    assert (tmp_path / "uniform" / "history.json").read_text() == first  # not recomputed


def test_the_default_run_is_the_configs_demo_with_four_samplers():
    configs = configs_from_args(run_args([]))
    assert [c.sampler for c in configs] == ["uniform", "md", "poc", "fedgs"]
    assert all(c.replace(sampler="uniform") == ExperimentConfig() for c in configs)  # defaults written once
    assert len({c.run_id for c in configs}) == 4


def test_every_config_field_is_a_flag_and_aliases_reach_the_config():
    parser = argparse.ArgumentParser()
    configure_run(parser)
    text = parser.format_help()
    for f in dataclasses.fields(ExperimentConfig):
        if f.name not in ("sampler", "name"):
            assert f"--{f.name.replace('_', '-')} " in text, f.name
    assert "(default YMF-0.9)" in text and "(default 60)" in text  # the config's defaults
    (c, *_) = configs_from_args(run_args(["--dataset", "digits", "--epochs", "2", "--lr", "0.05", "--m", "4",
                                          "--clients", "20", "--seed", "3", "--engine", "sequential",
                                          "--alpha", "0.5", "--graph", "update", "--poc-d", "none"]))
    assert (c.dataset, c.epochs, c.steps, c.lr, c.m, c.num_clients, c.seed, c.engine, c.fedgs_alpha,
            c.graph_features, c.poc_d) == ("digits", 2, None, 0.05, 4, 20, 3, "sequential", 0.5, "update",
                                           None)
    assert c.partition_scheme == "label_skew"
    assert configs_from_args(run_args(["--momentum", "0.5"]))[0].momentum == 0.5


@pytest.mark.parametrize("argv, message", [
    (["--samplers", "uniform,bogus"], "unknown sampler"),
    (["--samplers", "md,md"], "twice"),
    (["--mode", "XYZ"], "availability mode"),
    (["--m", "50"], "exceeds num_clients"),
    (["--epochs", "2", "--steps", "3"], "exactly one of epochs or steps"),
])
def test_bad_arguments_give_a_clear_error(tmp_path, capsys, argv, message):
    assert main(["run", "--out", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("error: ") and "Traceback" not in err


def test_cli_turns_ctrl_c_into_a_message_and_exit_code_130(monkeypatch, capsys):
    from fedgs_lite import cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "reproduce_command", interrupted)
    assert cli.main(["reproduce"]) == 130
    assert "results so far are saved; run the same command again to continue" in capsys.readouterr().err
    monkeypatch.setattr(cli, "simulate_command", interrupted)
    assert cli.main(["simulate"]) == 130
    assert "nothing was saved; run the same command again" in capsys.readouterr().err


def test_cli_prints_a_table_and_saves_a_plot(tmp_path, capsys):
    out = tmp_path / "sim.png"
    assert main(["simulate", "--clients", "20", "--rounds", "40", "--m", "4", "--mode", "LN-0.5",
                 "--seed", "1", "--plot", str(out)]) == 0
    text = capsys.readouterr().out
    for name in ("uniform", "md", "poc", "fedgs", "count var", "Jain"):
        assert name in text
    assert out.stat().st_size > 0
    assert main(["simulate", "--samplers", "uniform,bogus"]) == 2
    assert "unknown sampler" in capsys.readouterr().err


def test_simulate_says_the_3dg_memory_up_front_for_a_large_federation(capsys, monkeypatch):
    from fedgs_lite import cli_simulate
    from fedgs_lite.graph import memory_bytes

    args = ["simulate", "--clients", "20", "--rounds", "5", "--m", "4", "--samplers", "uniform",
            "--no-progress"]
    assert main(args) == 0
    assert "memory" not in capsys.readouterr().out  # 20 clients: too little to mention
    assert memory_bytes(5000) >= cli_simulate.SAY_MEMORY_BYTES > memory_bytes(500)
    monkeypatch.setattr(cli_simulate, "SAY_MEMORY_BYTES", memory_bytes(20))  # as if 20 clients were many
    assert main(args) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("building the 3DG of 20 clients: about ") and "GB of memory" in first


def test_reproduce_dry_run_lists_the_cells_and_the_budget(tmp_path, capsys):
    assert main(["reproduce", "--tiny", "--dry-run", "--modes", "IDL,LN,SLN", "--samplers", "md,poc",
                 "--out", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].startswith("6 cells (0 finished, 6 to run)")
    assert not (tmp_path / RUNS_DIR).exists()
    assert main(["reproduce", "--modes", "BAD", "--dry-run"]) == 2
    assert main(["reproduce", "--tiny", "--dry-run", "--tflops", "0"]) == 2
    assert main(["reproduce", "--tiny", "--dry-run", "--tflops", "1.5", "--out", str(tmp_path)]) == 0
    assert "whole grid" in capsys.readouterr().out


def test_reproduce_time_limit_and_the_call_log(tmp_path, capsys):
    out = tmp_path / "cli"
    common = ["reproduce", "--tiny", "--modes", "IDL", "--out", str(out), "--no-figures", "--no-progress"]
    assert main(common + ["--samplers", "uniform,md", "--time-limit", "1e-9"]) == 0
    assert "time limit reached: 2 cells left" in capsys.readouterr().out
    assert main(common + ["--samplers", "uniform"]) == 0
    assert main(common + ["--samplers", "uniform,md"]) == 0
    calls = grid_calls(out)  # the call that trained nothing is logged but does not count
    assert len(calls) == 2 and [c["ran"] for c in calls] == [1, 1] and calls[1]["reused"] == 1
    total = sum(c["wall_time"] for c in calls)
    assert f"{total:.1f} s summed over the 2 calls" in (out / "summary.md").read_text()
    assert main(common + ["--cohort-size", "0"]) == 2
    assert main(common + ["--time-limit", "-1"]) == 2
    assert len((out / GRID_LOG).read_text().splitlines()) == 3


def test_reproduce_never_writes_the_committed_results_unless_asked(tmp_path, monkeypatch):
    # issue 14 item 1: `reproduce --tiny` from the repository root replaced results/summary.* and added to
    # results/grid_calls.jsonl; now a pipeline check (or any default) writes under runs/
    committed = tmp_path / "results"
    committed.mkdir()
    (committed / "summary.md").write_text("the paper grid\n")
    monkeypatch.chdir(tmp_path)
    assert main(["reproduce", "--tiny", "--modes", "IDL", "--samplers", "uniform", "--no-figures",
                 "--no-progress"]) == 0
    assert sorted(p.name for p in committed.iterdir()) == ["summary.md"]
    assert (committed / "summary.md").read_text() == "the paper grid\n"
    assert (tmp_path / "runs" / "reproduce-tiny" / "summary.md").exists()
    assert main(["reproduce", "--tiny", "--dry-run", "--modes", "IDL", "--samplers", "uniform"]) == 0
    assert sorted(p.name for p in committed.iterdir()) == ["summary.md"]


def test_a_subset_call_never_shrinks_the_summary(tmp_path):
    # issue 14 item 1: the summary covers every finished cell under --out, not just this call's cells
    out = tmp_path / "grid"
    common = ["reproduce", "--tiny", "--modes", "IDL", "--out", str(out), "--no-figures", "--no-progress"]
    assert main(common + ["--samplers", "uniform,md"]) == 0
    assert main(common + ["--samplers", "fedgs"]) == 0  # trains one more cell
    assert main(common + ["--samplers", "uniform"]) == 0  # trains nothing
    with (out / "summary.csv").open() as f:
        assert [r["sampler"] for r in csv.DictReader(f)] == ["uniform", "md", "fedgs"]
    md = (out / "summary.md").read_text()
    assert "runs: 3 (every finished run in this folder)" in md
