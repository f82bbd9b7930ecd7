"""Real datasets on a CPU: evaluation defaults per dataset, the CPU cost in --help, and an estimate of a
long run printed after its first rounds, which cost nothing extra (the runs resume from them, bit for bit)."""

import pytest

from fedgs_lite import cli, estimate
from fedgs_lite.config import ExperimentConfig
from fedgs_lite.estimate import seconds_left
from fedgs_lite.history import History
from fedgs_lite.loop import run_experiment
from fedgs_lite.rundir import load_history


@pytest.mark.parametrize("argv, eval_every", [
    (["--dataset", "fashion-mnist"], 6),                  # 60 rounds: 10 evaluations, not 60
    (["--dataset", "mnist", "--rounds", "25"], 2),
    (["--dataset", "cifar10", "--rounds", "5"], 1),
    (["--dataset", "fashion_mnist", "--eval-every", "1"], 1),  # asked for: kept
    (["--dataset", "digits"], 1),                         # 360 test images: every round is cheap
    ([], 1),                                              # the synthetic demo stays as it is
])
def test_evaluation_defaults_per_dataset(argv, eval_every):
    (config,) = cli.configs_from_args(cli.build_parser().parse_args(["run", "--samplers", "uniform", *argv]))
    assert config.eval_every == eval_every


def test_help_says_what_a_cpu_costs(capsys):
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "CPU cost:" in text and "prints an estimate" in text
    assert "rounds/10, as a full test set costs more than a round on a CPU" in text


def test_seconds_left_counts_rounds_and_evaluations():
    h = History(config={}, num_clients=2, round_seconds=[5.0, 1.0, 1.0], eval_rounds=[0], wall_time=10.0)
    c = ExperimentConfig(rounds=10, eval_every=5)
    # 10 rounds of 1 s (the warm-up round left out) + 3 evaluations (0, 5, 10) of (10 - 7) s each
    assert seconds_left(h, c) == 10 * 1.0 + 3 * 3.0


def test_a_long_run_prints_an_estimate_and_its_results_are_those_of_unmeasured_runs(tmp_path, monkeypatch,
                                                                                  capsys, one_torch_thread):
    monkeypatch.setattr(estimate, "SAY_SECONDS", 0.0)  # every run is "long" here
    argv = ["run", "--dataset", "digits", "--samplers", "uniform,poc", "--rounds", "4", "--clients", "8",
            "--m", "2", "--steps", "2", "--no-progress", "--out", str(tmp_path)]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].startswith("timing the first 2 rounds of each run for an estimate")
    assert out[2].startswith("estimated time: about ") and "for the 2 runs on this machine" in out[2]
    for config in cli.configs_from_args(cli.build_parser().parse_args(argv)):
        straight = run_experiment(config, progress=False)
        measured = load_history(tmp_path / config.label)
        keep = ("wall_time", "round_seconds")
        assert {k: v for k, v in measured.to_dict().items() if k not in keep} == \
            {k: v for k, v in straight.to_dict().items() if k not in keep}
    assert cli.main(argv) == 0  # finished runs: nothing to measure, no estimate
    assert "estimate" not in capsys.readouterr().out
