"""No code from strangers: a run folder's files and the CIFAR-10 pickles load tensors and plain data
only, and a run folder's identity (config.json) is checked before anything in it is opened. Each test
plants a real payload (unpickling it creates a marker file) and checks that it never runs."""

import pickle

import numpy as np
import pytest
import torch
from payload import Payload

from fedgs_lite import readers
from fedgs_lite.cli import main
from fedgs_lite.config import ExperimentConfig
from fedgs_lite.data import load_dataset
from fedgs_lite.loop import run_experiment
from fedgs_lite.rundir import CHECKPOINT_FILE, CONFIG_FILE, MODEL_FILE, RunFolderError

TINY = dict(num_clients=8, clients_per_round=2, rounds=4, steps=2, batch_size=8, mode="LN-0.5",
            checkpoint_every=2)


@pytest.fixture(autouse=True)
def _tiny_runs_use_one_thread(one_torch_thread):
    yield


def test_the_payload_is_real(tmp_path):
    """Loading it the unsafe way does run it (so the tests below would see it run)."""
    torch.save({"params": Payload(tmp_path / "ran")}, tmp_path / "evil.pt")
    torch.load(tmp_path / "evil.pt", weights_only=False)
    assert (tmp_path / "ran").exists()
    pickle.loads(pickle.dumps(Payload(tmp_path / "ran2")))
    assert (tmp_path / "ran2").exists()


def same_results(a, b) -> bool:
    keep = lambda h: {k: v for k, v in h.to_dict().items() if k not in ("wall_time", "round_seconds")}  # noqa: E731
    return keep(a) == keep(b)


def test_a_checkpoint_holding_code_is_never_run_and_the_run_starts_again(tmp_path):
    cfg = ExperimentConfig(sampler="fedgs", **TINY)
    reference = run_experiment(cfg, None, progress=False)
    run_experiment(cfg, tmp_path, progress=False, stop_after=2)
    torch.save({"run_id": cfg.run_id, "params": Payload(tmp_path / "ran")}, tmp_path / CHECKPOINT_FILE)
    with pytest.warns(RuntimeWarning, match="checkpoint.pt cannot be used .*other than tensors"):
        h = run_experiment(cfg, tmp_path, progress=False)
    assert not (tmp_path / "ran").exists()
    assert (tmp_path / f"{CHECKPOINT_FILE}.damaged").exists()
    assert h.finished and same_results(h, reference)


def test_a_final_model_holding_code_is_never_run_and_the_run_is_trained_again(tmp_path):
    cfg = ExperimentConfig(sampler="uniform", **TINY)
    first = run_experiment(cfg, tmp_path, progress=False)
    torch.save(Payload(tmp_path / "ran"), tmp_path / MODEL_FILE)
    with pytest.warns(RuntimeWarning, match="final_model.pt cannot be loaded"):
        again = run_experiment(cfg, tmp_path, progress=False)
    assert not (tmp_path / "ran").exists()
    assert same_results(again, first)
    assert all(torch.equal(again.final_params[k], first.final_params[k]) for k in first.final_params)


def test_nothing_is_opened_before_config_json_says_it_is_this_run(tmp_path, monkeypatch):
    cfg = ExperimentConfig(sampler="uniform", **TINY)
    run_experiment(cfg, tmp_path, progress=False, stop_after=2)
    torch.save(Payload(tmp_path / "ran"), tmp_path / CHECKPOINT_FILE)

    def refuse(*a, **k):
        raise AssertionError("torch.load was called before the run's identity was checked")

    monkeypatch.setattr(torch, "load", refuse)
    with pytest.raises(RunFolderError, match=r"holds a different run \(lr=0\.1 there, 0\.05 here\)"):
        run_experiment(cfg.replace(lr=0.05), tmp_path, progress=False)
    (tmp_path / CONFIG_FILE).unlink()
    with pytest.raises(RunFolderError, match="holds checkpoint.pt.* but no config.json"):
        run_experiment(cfg, tmp_path, progress=False)
    assert not (tmp_path / "ran").exists()


def test_run_and_reproduce_out_never_run_a_planted_checkpoint(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["run", "--samplers", "uniform", "--rounds", "3", "--clients", "8", "--m", "2", "--steps", "2",
            "--checkpoint-every", "1", "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    (out / "uniform" / "history.json").unlink()  # as if interrupted: the run resumes from its checkpoint
    torch.save(Payload(tmp_path / "ran"), out / "uniform" / CHECKPOINT_FILE)
    assert main(argv) == 0
    assert "checkpoint.pt cannot be used" in capsys.readouterr().err
    grid = tmp_path / "grid"
    common = ["reproduce", "--tiny", "--modes", "IDL", "--samplers", "uniform", "--out", str(grid),
              "--no-figures", "--no-progress"]
    assert main(common) == 0
    (cell,) = (grid / "runs").iterdir()
    (cell / "history.json").unlink()
    torch.save(Payload(tmp_path / "ran"), cell / CHECKPOINT_FILE)
    assert main(common) == 0
    assert "checkpoint.pt cannot be used" in capsys.readouterr().err
    assert not (tmp_path / "ran").exists()


def cifar_batch(n: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {b"batch_label": b"training batch", b"labels": rng.integers(0, 10, n).tolist(),
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"filenames": [b"x.png"] * n}


def write_cifar(folder, planted: dict | None = None, protocol: int = 2) -> None:
    """A full CIFAR-10 folder of small batches in the python format (the originals are protocol 2)."""
    folder.mkdir(parents=True)
    for i, name in enumerate(readers.CIFAR_FULL_FILES):
        obj = (planted or {}).get(name, cifar_batch(6, i))
        (folder / name).write_bytes(pickle.dumps(obj, protocol=protocol))


@pytest.mark.parametrize("protocol", [2, 4])
def test_cifar_batches_in_the_python_format_load(tmp_path, monkeypatch, protocol):
    monkeypatch.setattr(readers, "REPO_DATA_DIR", tmp_path / "none")
    write_cifar(tmp_path / readers.CIFAR_FULL_DIR, protocol=protocol)
    ds = load_dataset("cifar10", tmp_path, download=False)
    assert ds.x_train.shape == (30, 3, 32, 32) and ds.x_test.shape == (6, 3, 32, 32)
    assert ds.y_train.tolist()[:6] == cifar_batch(6, 0)[b"labels"]


def test_a_cifar_batch_holding_code_is_refused_and_never_run(tmp_path, monkeypatch):
    monkeypatch.setattr(readers, "REPO_DATA_DIR", tmp_path / "none")
    write_cifar(tmp_path / readers.CIFAR_FULL_DIR, {"data_batch_2": {b"data": Payload(tmp_path / "ran")}})
    with pytest.raises(ValueError, match=r"data_batch_2 is not a CIFAR-10 python batch and was not loaded "
                                         r"\(it names \w+\.exec"):
        load_dataset("cifar10", tmp_path, download=False)
    assert not (tmp_path / "ran").exists()


@pytest.mark.parametrize("content", [b"", b"garbage" * 10, pickle.dumps([1, 2, 3]),
                                     pickle.dumps({b"data": np.zeros((2, 5), np.uint8), b"labels": [1, 2]})],
                         ids=["empty", "garbage", "a list", "wrong shape"])
def test_a_damaged_cifar_batch_is_named(tmp_path, monkeypatch, content):
    monkeypatch.setattr(readers, "REPO_DATA_DIR", tmp_path / "none")
    write_cifar(tmp_path / readers.CIFAR_FULL_DIR)
    (tmp_path / readers.CIFAR_FULL_DIR / "test_batch").write_bytes(content)
    with pytest.raises(ValueError, match="test_batch is not a CIFAR-10 python batch"):
        load_dataset("cifar10", tmp_path, download=False)
