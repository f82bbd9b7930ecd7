"""The benchmark scripts run end to end at tiny sizes (their numbers are measured, not tested here)."""

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


def bench(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_simulate_times_every_registered_sampler(capsys):
    from fedgs_lite.samplers import SAMPLERS

    args = ["--rounds", "5", "--clients", "12", "--m", "3", "--repeats", "1"]
    assert bench("bench_simulate").main(args) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")][1:]  # no header
    assert [row.split("|")[1].strip() for row in rows] == list(SAMPLERS)


def test_bench_rugged_counts_walks_against_the_best_any_of_them_found(capsys):
    assert bench("bench_rugged").main(["--sizes", "30:4", "--instances", "2", "--walks", "4"]) == 0
    rows = [line.split("|")[1:-1] for line in capsys.readouterr().out.splitlines()
            if line.startswith("| 30 ")]
    assert len(rows) == 2
    for row in rows:
        near, walks = (int(x) for x in row[2].split("/"))
        full, some, none = (int(x) for x in row[3].split("/"))
        assert walks == 4 and full + some + none == 4 and full <= near
        assert row[5].strip() == "5/5"  # at N = 30 the default reaches the best every time


@pytest.mark.slow
def test_bench_training_writes_its_section(tmp_path, one_torch_thread):
    from fedgs_lite.readers import resolve_data_roots

    if not any((Path(r) / "fashion-mnist").exists() or (Path(r) / "fashion_mnist").exists()
               for r in resolve_data_roots()):
        pytest.skip("Fashion-MNIST is not under the data roots (set FEDGS_DATA)")
    out = tmp_path / "RESULTS.md"
    out.write_text("# Benchmark results\n\n## Training\n\nold\n")
    args = ["--clients", "4", "--per-round", "2", "--steps", "1", "--batch", "8", "--rounds", "1",
            "--warmup", "0", "--device", "cpu", "--peak-n", "64", "--out", str(out)]
    assert bench("bench_training").main(args) == 0
    text = out.read_text()
    assert "old" not in text and "| batched |" in text and "| sequential |" in text
