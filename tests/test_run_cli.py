import argparse
import csv
import json

import pytest

from fedgs_lite import run_cli
from fedgs_lite.run_cli import DEFAULTS, configs_from_args


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    run_cli.configure_parser(parser)
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    assert argv[0] == "run"
    return run_cli.main(parse(argv[1:]))

TINY = ["--rounds", "3", "--clients", "8", "--m", "2", "--steps", "2", "--batch-size", "8", "--no-progress"]


@pytest.fixture(autouse=True)
def _tiny_runs_use_one_thread(one_torch_thread):
    yield


def test_run_main_writes_table_and_figure(tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["run", "--samplers", "uniform,md,poc,fedgs", "--out", str(out), "--mode", "LN-0.5", *TINY])
    assert rc == 0
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


def test_rerun_reuses_finished_runs(tmp_path, capsys):
    args = ["run", "--samplers", "uniform", "--out", str(tmp_path), *TINY]
    assert main(args) == 0
    first = (tmp_path / "uniform" / "history.json").read_text()
    assert main(args) == 0
    assert (tmp_path / "uniform" / "history.json").read_text() == first  # not recomputed


def test_defaults_make_a_four_sampler_cpu_comparison():
    args = parse([])
    configs = configs_from_args(args)
    assert [c.sampler for c in configs] == ["uniform", "md", "poc", "fedgs"]
    assert {c.mode for c in configs} == {DEFAULTS["mode"]} and DEFAULTS["mode"] != "IDL"
    assert {c.device for c in configs} == {"cpu"}
    assert {c.dataset for c in configs} == {"synthetic"}
    assert len({c.run_id for c in configs}) == 4


def test_flags_reach_the_config():
    args = parse(["--dataset", "digits", "--epochs", "2", "--lr", "0.05", "--m", "4", "--clients", "20",
                  "--seed", "3", "--engine", "sequential"])
    (c, *_) = configs_from_args(args)
    assert (c.dataset, c.epochs, c.steps, c.lr, c.m, c.num_clients, c.seed, c.engine) == \
        ("digits", 2, None, 0.05, 4, 20, 3, "sequential")
    assert c.partition_scheme == "label_skew"


@pytest.mark.parametrize("argv, message", [
    (["--samplers", "uniform,bogus"], "unknown sampler"),
    (["--samplers", "md,md"], "twice"),
    (["--mode", "XYZ"], "availability mode"),
    (["--m", "50"], "exceeds num_clients"),
])
def test_bad_arguments_give_a_clear_error(tmp_path, capsys, argv, message):
    assert main(["run", "--out", str(tmp_path), *argv]) == 2
    assert message in capsys.readouterr().err


def test_wired_into_the_package_cli(tmp_path):
    pytest.importorskip("fedgs_lite.reproduce")  # cli.py imports every subcommand module
    from fedgs_lite.cli import main as cli_main

    assert cli_main(["run", "--samplers", "uniform", "--out", str(tmp_path), *TINY]) == 0
    assert (tmp_path / "summary.txt").exists()
