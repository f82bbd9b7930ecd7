"""Every command-line mistake is one line on stderr and exit status 2, for run, simulate and reproduce
alike, and a command that fails leaves no folder behind (one table, one row per mistake)."""

import sys

import pytest

from fedgs_lite import cli, readers, training

TINY_RUN = ["--samplers", "uniform,fedgs", "--rounds", "2", "--clients", "8", "--m", "2", "--steps", "2",
            "--no-progress"]
TINY_GRID = ["--tiny", "--modes", "IDL", "--samplers", "uniform", "--no-progress", "--no-figures"]
NO_CUDA = pytest.mark.skipif(training.torch.cuda.is_available(), reason="this machine has CUDA")
NOT_FOUND = "not found in the data folders"

# (command line, what the one line says); "OUT" is replaced by a folder that does not exist yet.
MISTAKES = [
    pytest.param(["run", "--dataset", "mnist", *TINY_RUN, "--out", "OUT"],
                 f"dataset mnist {NOT_FOUND}", id="run: missing dataset"),
    pytest.param(["run", "--dataset", "mnist", *TINY_RUN], "--data-root or FEDGS_DATA",
                 id="run: missing dataset, default out"),
    pytest.param(["simulate", "--dataset", "mnist"], "point --data-root or FEDGS_DATA at a folder",
                 id="simulate: missing dataset"),
    pytest.param(["reproduce", "--datasets", "fashion_mnist", *TINY_GRID, "--out", "OUT"],
                 f"dataset fashion_mnist {NOT_FOUND}", id="reproduce: missing dataset"),
    pytest.param(["run", "--device", "cuda", *TINY_RUN, "--out", "OUT"], "--device cuda, but torch sees no",
                 id="run: cuda without CUDA", marks=NO_CUDA),
    pytest.param(["reproduce", "--device", "cuda", *TINY_GRID, "--out", "OUT"], "--device cuda, but torch",
                 id="reproduce: cuda without CUDA", marks=NO_CUDA),
    pytest.param(["run", "--mode", "XYZ", *TINY_RUN, "--out", "OUT"], "unknown availability mode 'XYZ'",
                 id="run: unknown mode"),
    pytest.param(["simulate", "--mode", "XYZ"], "unknown availability mode 'XYZ'",
                 id="simulate: unknown mode"),
    pytest.param(["reproduce", "--tiny", "--modes", "XYZ", *TINY_GRID[3:], "--out", "OUT"], "unknown modes",
                 id="reproduce: unknown mode"),
    pytest.param(["run", "--mode", "HOMO-1", *TINY_RUN, "--out", "OUT"], "HOMO needs 0.0 <= beta < 1",
                 id="run: a mode nobody is ever available in"),
    pytest.param(["simulate", "--mode", "MDF-1e400"], "MDF needs a finite number",
                 id="simulate: infinite beta"),
    pytest.param(["run", "--solver", "bogus", *TINY_RUN, "--out", "OUT"], "unknown solver 'bogus'",
                 id="run: unknown solver"),
    pytest.param(["simulate", "--solver", "bogus"], "argument --solver: invalid choice: 'bogus'",
                 id="simulate: unknown solver"),
    pytest.param(["run", "--solver", "exact", *TINY_RUN, "--out", "OUT"],
                 "--solver exact needs HiGHS (highspy)", id="run: exact without highspy"),
    pytest.param(["simulate", "--solver", "exact"], "--solver exact needs HiGHS (highspy)",
                 id="simulate: exact without highspy"),
    pytest.param(["run", "--solver", "gurobi", *TINY_RUN, "--out", "OUT"], "--solver gurobi needs gurobipy",
                 id="run: gurobi without gurobipy"),
    pytest.param(["simulate", "--plot", "OUT/fig.png"], "does not exist; create it or choose another path",
                 id="simulate: plot in a missing folder"),
    pytest.param(["run", "--rounds", "many", *TINY_RUN[:4]], "argument --rounds: invalid", id="run: bad int"),
    pytest.param(["simulate", "--rounds", "0"], "--rounds must be an integer >= 1", id="simulate: rounds 0"),
    pytest.param(["reproduce", "--seeds", "0", *TINY_GRID, "--out", "OUT"], "--seeds must be >= 1",
                 id="reproduce: seeds 0"),
    pytest.param(["run", "--bogus-flag"], "unrecognized arguments: --bogus-flag", id="run: unknown flag"),
    pytest.param(["run", "--partition", "label_skew", "--classes-per-client", "50", *TINY_RUN, "--out",
                  "OUT"],
                 "classes_per_client=50 exceeds the", id="run: fails after its folder was made"),
    pytest.param(["run", *TINY_RUN, "--out", "FILE"], "is a file, not a folder", id="run: out is a file"),
    pytest.param(["reproduce", *TINY_GRID, "--out", "FILE"], "is a file, not a folder",
                 id="reproduce: out is a file"),
]


@pytest.fixture
def workplace(tmp_path, monkeypatch):
    """An empty working folder, with no dataset anywhere but the synthetic one and no highspy or gurobipy."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(readers, "REPO_DATA_DIR", tmp_path / "no-repo-data")
    monkeypatch.delenv("FEDGS_DATA", raising=False)
    monkeypatch.setitem(sys.modules, "highspy", None)  # import highspy raises ImportError
    monkeypatch.setitem(sys.modules, "gurobipy", None)
    (tmp_path / "FILE").write_text("not a folder")
    return tmp_path


@pytest.mark.parametrize("argv, says", MISTAKES)
def test_a_mistake_is_one_line_exit_status_2_and_leaves_no_folder(workplace, capsys, one_torch_thread, argv,
                                                                  says):
    out = workplace / "fresh" / "out"
    argv = [str(out) if a == "OUT" else str(out) + a[3:] if a.startswith("OUT/") else a for a in argv]
    with pytest.raises(SystemExit) as stop:
        sys.exit(cli.main(argv))
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and says in err[0], err
    assert sorted(p.name for p in workplace.iterdir()) == ["FILE"]  # no out, no runs/, no fresh/


def test_a_retry_after_divergence_into_the_same_out_says_what_to_do(workplace, capsys, one_torch_thread):
    out = workplace / "out"
    assert cli.main(["run", *TINY_RUN, "--lr", "1e37", "--lr-decay", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert "diverged" in printed.out and "another --out" in printed.out
    assert cli.main(["run", *TINY_RUN, "--lr", "0.05", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {out / 'uniform'} holds a different run (lr=1e+37 "
                                               "there, 0.05 here")


def test_an_absurd_loss_is_reported_as_divergence_not_as_a_finished_run(workplace, capsys, monkeypatch,
                                                                       one_torch_thread):
    from fedgs_lite import loop

    real = loop.local_train_many

    def explode_in_round_1(*args, **kwargs):
        out = real(*args, **kwargs)
        return [(p, losses * 1e31) for p, losses in out] if args[5] == 1 else out

    monkeypatch.setattr(loop, "local_train_many", explode_in_round_1)
    assert cli.main(["run", *TINY_RUN, "--samplers", "uniform", "--out", str(workplace / "out")]) == 0
    printed = capsys.readouterr()
    row = next(line for line in printed.out.splitlines() if line.startswith("uniform "))
    assert row.split()[-1] == "diverged" and row.split()[-2] == "1"
    assert "loss >= 1e+06" in printed.out
