"""Every notebook runs top to bottom in a fresh kernel (papermill, small parameters) and records the
numbers it shows; the checks below assert on those numbers. Committed notebooks carry no outputs."""

from __future__ import annotations

import ast
import importlib.util
import json
import math
import os
from pathlib import Path

import pytest
from conftest import REPO, shared_data_root

NOTEBOOKS = REPO / "notebooks"
KERNEL = "python3"
CELL_TIMEOUT = 240  # seconds per cell


def _close(a: float, b: float, tol: float = 1e-9) -> bool:
    return math.isclose(a, b, rel_tol=tol, abs_tol=tol)


def check_00(r: dict, p: dict) -> None:
    assert r["num_clients"] == p["num_clients"]
    assert r["samplers"] == p["samplers"]
    assert set(r["final_accuracy"]) == set(p["samplers"])
    assert all(0.0 <= a <= 1.0 for a in r["final_accuracy"].values())
    assert all(n == p["train_rounds"] for n in r["rounds_done"].values())
    # the sampling-only simulation shows FedGS's fairness: lower count variance than uniform and MD
    v = r["sim_count_variance"]
    assert v["fedgs"] < v["uniform"] and v["fedgs"] < v["md"]


def check_01(r: dict, p: dict) -> None:
    assert r["dataset"] == "synthetic"
    assert set(r["num_clients"].values()) == {p["num_clients"]}
    assert r["assigned"]["iid"] == r["n_train"]  # iid deals out every sample
    k = p["classes_per_client"]
    assert r["labels_per_client_min"]["label_skew"] == r["labels_per_client_max"]["label_skew"] == k
    assert r["labels_per_client_max"]["iid"] > k
    assert r["size_cv"]["size_imbalance"] > r["size_cv"]["iid"]


def check_02(r: dict, p: dict) -> None:
    avail, size_corr = r["mean_availability"], r["size_correlation"]
    assert r["num_clients"] == p["num_clients"] and r["rounds"] == p["rounds"]
    assert avail["IDL"] == 1.0
    assert size_corr["MDF-1e-05"] > 0.9 and size_corr["LDF-0.1"] < -0.9
    assert r["labels_correlation"]["YFF-0.1"] > 0.9
    assert abs(avail["HOMO-0.8"] - 0.2) < 0.1
    assert r["time_varying"]["SLN-0.1"] and not r["time_varying"]["LN-0.1"]
    assert r["explorer_spec"] == "LN-0.1"


def check_03(r: dict, p: dict) -> None:
    assert r["num_clients"] == p["num_clients"]
    assert r["floyd_warshall_matches"] is True
    assert _close(r["distance_max"], 1.0) and _close(r["distance_diag_max"], 0.0)
    assert r["oracle_edges"] > 0
    for key in ("precision", "recall", "f1"):
        assert 0.0 <= r["update_scores"][key] <= 1.0
    assert set(r["sweep_f1"]) == {"0.0", "0.01", "0.05", "0.1", "0.2", "0.5"}


def check_04(r: dict, p: dict) -> None:
    v = r["count_variance"]
    assert set(v) == {"uniform", "md", "poc", "fedgs"}
    assert v["fedgs"] < v["uniform"] and v["fedgs"] < v["poc"]
    assert r["picks"]["md"] == p["m"] * p["rounds"]  # MD always draws M times
    assert set(r["alpha_count_variance"]) == {str(float(a)) for a in p["alphas"]}
    assert r["solver_gaps"], "no round compared the fast and exact solvers"
    assert all(0.0 <= g < 0.05 for g in r["solver_gaps"])
    # the planted trap: greedy + 1-swap stops in the decoys; tabu ("fast") and the exact solvers do not
    gaps, status = r["trap_gaps"], r["trap_status"]
    has = {module: importlib.util.find_spec(module) is not None for module in ("highspy", "gurobipy")}
    assert r["greedy_swap_gap"] > 1e-3
    assert gaps["fast"] <= 1e-9 and r["trap_fast_is_planted"] is True
    assert ("exact" in gaps) == has["highspy"] and ("gurobi" in gaps) == has["gurobipy"]
    if has["highspy"]:
        assert status["exact"] == "optimal" and gaps["exact"] <= 1e-9
    if has["gurobipy"]:
        assert gaps["gurobi"] <= 1e-9
    if not (has["highspy"] or has["gurobipy"]):
        assert status["brute"] == "optimal" and gaps["brute"] <= 1e-9


def check_05(r: dict, p: dict) -> None:
    assert r["modes"] == p["modes"] and r["samplers"] == p["samplers"]
    assert r["rounds"] == p["rounds"]
    for mode in p["modes"]:
        assert set(r["final_accuracy"][mode]) == set(p["samplers"])
        assert all(0.0 <= a <= 1.0 for a in r["final_accuracy"][mode].values())
        assert all(n == p["rounds"] for n in r["rounds_done"][mode].values())
    # everyone is available under IDL, so FedGS balances the counts perfectly (they differ by <= 1)
    picks, n = p["rounds"] * r["m"], r["num_clients"]
    share = (picks % n) / n
    assert _close(r["count_variance"]["IDL"]["fedgs"], share * (1 - share))
    assert r["count_variance"]["IDL"]["fedgs"] <= r["count_variance"]["IDL"]["uniform"]


def check_06(r: dict, p: dict) -> None:
    # run in an empty folder, the notebook finds no results and runs the tiny grid
    samplers = p["tiny_samplers"].split(",")
    assert r["source"] == "tiny"
    assert r["samplers"] == sorted(samplers)
    assert len(r["modes"]) == len(p["tiny_modes"].split(","))
    assert r["num_rows"] == len(r["modes"]) * len(samplers) == len(r["final_acc"]) == len(r["bestval_acc"])
    assert all(0.0 <= a <= 1.0 for a in [*r["final_acc"].values(), *r["bestval_acc"].values()])
    # the settings say what each dataset's clients do locally (issue 10: it printed "None local epochs")
    assert r["local_work"] == {"synthetic": "10 local steps", "fashion_mnist": "10 local steps",
                               "cifar10": "5 local epochs"}
    assert r["study_methods"] == ["uniform", "md", "poc", "fedprox", "fedgs"] and r["study_rows"] == 0


def check_07(r: dict, p: dict) -> None:
    beta = p["beta"]
    assert r["custom_spec"] == r["availability_spec"] == f"BATTERY-{beta:g}"
    assert r["custom_time_varying"] is True
    lo, hi = r["custom_probs_range"]
    assert lo >= 1 - beta - 1e-9 and hi <= 1 + 1e-9 and hi - lo > beta / 2
    v = r["count_variance"]
    assert set(v) == {"uniform", "fedgs", "least-picked"}
    assert v["least-picked"] < v["uniform"]
    assert r["picks"]["least-picked"] == p["m"] * p["rounds"]
    trained = r["trained"]
    assert set(trained) == {"uniform", "fedgs", "least_picked"}
    assert all(0.0 <= t["final_acc"] <= 1.0 for t in trained.values())


def check_08(r: dict, p: dict) -> None:
    # Flower's simulation picked exactly what the kit's loop picked: same availability, selections, counts
    assert r["runtime"] == "flower" and r["sampler"] == "fedgs"
    assert r["same_available"] is True and r["same_selected"] is True and r["same_counts"] is True
    assert r["flower_counts"] == r["kit_counts"] and len(r["flower_counts"]) == p["num_clients"]
    assert 0 < sum(r["flower_counts"]) <= p["m"] * p["rounds"]
    assert r["flower_rounds"] == p["rounds"] and r["flower_finished"] is True
    flower, kit = r["flower_accuracy"], r["kit_accuracy"]
    assert len(flower) == len(kit) == p["rounds"] + 1 and flower[0] == kit[0]  # the same initial model
    assert flower[-1] > flower[0] and kit[-1] > kit[0]  # the nodes' local training did train


# notebook stem -> (small parameters, check of the recorded values)
CASES = {
    "00_quickstart": ({"num_clients": 12, "m": 3, "sim_rounds": 40, "train_rounds": 3,
                       "samplers": ["uniform", "md", "poc", "fedgs"]}, check_00),
    "01_federated_data": ({"num_clients": 10, "classes_per_client": 2}, check_01),
    "02_availability": ({"num_clients": 12, "rounds": 16}, check_02),
    "03_build_3dg": ({"num_clients": 10}, check_03),
    "04_samplers": ({"num_clients": 12, "m": 3, "rounds": 40, "alphas": [0.0, 10.0], "exact_rounds": 2,
                     "trap_n": 24, "trap_m": 6}, check_04),
    "05_training": ({"num_clients": 10, "rounds": 3, "modes": ["IDL", "LN-0.5"],
                     "samplers": ["uniform", "fedgs"]}, check_05),
    "06_reproduce_paper": ({"tiny_modes": "IDL,LN", "tiny_samplers": "uniform,fedgs"}, check_06),
    "07_bring_your_own": ({"num_clients": 12, "m": 3, "rounds": 40, "beta": 0.6, "train_rounds": 3},
                          check_07),
    "08_flower": ({"num_clients": 6, "m": 2, "rounds": 3, "num_cpus": 2}, check_08),
}


def notebook_paths() -> list[Path]:
    return sorted(NOTEBOOKS.glob("*.ipynb"))


def test_every_notebook_has_a_test_case():
    stems = {p.stem for p in notebook_paths()}
    assert stems, "no notebooks found"
    missing = sorted(stems - set(CASES))
    assert not missing, f"notebooks without an entry in tests/test_notebooks.py CASES: {missing}"


def code_cells(nb) -> list[str]:
    """Code cells as Python: IPython magics and shell lines (`%...`, `!...`) left out."""
    return ["\n".join(line for line in c.source.splitlines() if not line.lstrip().startswith(("%", "!")))
            for c in nb.cells if c.cell_type == "code"]


def fedgs_imports(source: str) -> list[str]:
    """What a cell imports from fedgs_lite: "NAME" for `from fedgs_lite import NAME`, else the module path."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("fedgs_lite"):
            top = node.module == "fedgs_lite"
            found += [a.name if top else f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("fedgs_lite.")]
    return found


@pytest.mark.parametrize("path", notebook_paths(), ids=lambda p: p.stem)
def test_committed_notebook_is_clean_and_has_the_shared_header(path: Path):
    """The .ipynb files are the source a person edits in JupyterLab; CONTRIBUTING.md says how."""
    import nbformat

    from fedgs_lite.notebook_utils import COLAB_INSTALL, badges_markdown

    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.get("kernelspec", {}).get("name") == KERNEL
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        assert not cell.get("outputs"), f"{path.name} cell {i} has outputs: strip them before committing"
        assert cell.get("execution_count") is None, f"{path.name} cell {i} has an execution count"
    title, install = nb.cells[0], nb.cells[1]
    assert title.cell_type == "markdown" and title.source.startswith(f"# {path.stem[:2]}. ")
    assert badges_markdown(path.name) in title.source, f"{path.name}: stale or missing badges"
    assert install.cell_type == "code" and install.source == COLAB_INSTALL, f"{path.name}: the Colab cell"
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert tagged == [2], f"{path.name} needs exactly one cell tagged 'parameters', the third"
    assert nb.cells[2].source.splitlines()[-1].startswith("record_path = None")


@pytest.mark.parametrize("path", notebook_paths(), ids=lambda p: p.stem)
def test_notebooks_import_only_public_top_level_names(path: Path):
    import nbformat

    import fedgs_lite

    names = [n for src in code_cells(nbformat.read(path, as_version=4)) for n in fedgs_imports(src)]
    assert names, f"{path.name} imports nothing from fedgs_lite"
    assert [n for n in names if n not in fedgs_lite.__all__] == [], f"{path.name}: import from fedgs_lite"


def test_the_import_check_sees_submodule_imports():
    assert fedgs_imports("from fedgs_lite import record, paper\nimport fedgs_lite.loop\n"
                         "from fedgs_lite.graph import build_3dg") == ["record", "paper", "fedgs_lite.loop",
                                                                      "fedgs_lite.graph.build_3dg"]


@pytest.fixture(scope="session")
def kernel():
    """This environment's python3 kernel (see tests/jupyter_kernel.py: nothing is written under the
    user's ~/.local/share/jupyter), preferred over a user-wide python3 kernelspec for these tests."""
    from jupyter_kernel import ensure_env_kernelspec

    ensure_env_kernelspec()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JUPYTER_PREFER_ENV_PATH", "1")
        yield KERNEL


@pytest.mark.slow
@pytest.mark.parametrize("path", notebook_paths(), ids=lambda p: p.stem)
def test_notebook_runs_and_records(path: Path, kernel: str, tmp_path: Path, monkeypatch):
    papermill = pytest.importorskip("papermill")
    if path.stem not in CASES:
        pytest.fail(f"{path.name} has no entry in CASES")
    params, check = CASES[path.stem]
    root = shared_data_root()
    if root is not None:
        monkeypatch.setenv("FEDGS_DATA", str(root))  # the kernel inherits the environment
    monkeypatch.setenv("FLWR_HOME", str(tmp_path / "flwr"))  # notebook 08: Flower's state stays in tmp_path
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    record_path = tmp_path / "record.json"
    papermill.execute_notebook(str(path), str(tmp_path / path.name),
                               parameters={**params, "record_path": str(record_path)},
                               kernel_name=kernel, cwd=str(tmp_path), execution_timeout=CELL_TIMEOUT,
                               progress_bar=False, log_output=False)
    assert record_path.exists(), f"{path.name} recorded nothing at record_path"
    check(json.loads(record_path.read_text()), params)
    cells = json.loads((tmp_path / path.name).read_text())["cells"]
    shown = [c["outputs"] for c in cells if "record(record_path" in "".join(c["source"])]
    assert shown and all(not outputs for outputs in shown), f"{path.name}: record() shows {shown}"


def test_record_merges_converts_and_skips_without_a_path(tmp_path: Path):
    import numpy as np

    from fedgs_lite.notebook_utils import load_record, record

    assert record(None, x=np.int64(3)) is None  # returns nothing: a cell ending with it shows nothing
    assert not any(tmp_path.iterdir())
    with pytest.raises(TypeError, match="object"):
        record(None, bad=object())  # checked even when nothing is recorded
    target = tmp_path / "sub" / "r.json"
    record(target, a=np.float32(0.5), b=np.arange(3), c={"k": np.bool_(True)}, d=float("nan"))
    record(target, a=2, e="text")
    assert load_record(target) == {"a": 2, "b": [0, 1, 2], "c": {"k": True}, "d": None, "e": "text"}
    with pytest.raises(TypeError, match="object"):
        record(target, bad=object())


def test_badges_point_at_the_shared_repository_slug():
    from fedgs_lite.notebook_utils import REPO_SLUG, binder_url, colab_url

    link = binder_url("00_quickstart.ipynb")
    assert link.endswith(f"{REPO_SLUG}/HEAD?labpath=notebooks%2F00_quickstart.ipynb")
    assert binder_url().endswith("?urlpath=lab/tree/notebooks/00_quickstart.ipynb")
    assert colab_url("01_federated_data.ipynb") == (
        f"https://colab.research.google.com/github/{REPO_SLUG}/blob/main/notebooks/01_federated_data.ipynb")
