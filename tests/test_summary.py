"""A finished grid, reduced: mean +- std over seeds that match the runs, rankings against the paper."""

import csv
import math

import numpy as np
import pytest

from fedgs_lite.grid import RUNS_DIR, grid_cells, plan_grid, run_grid
from fedgs_lite.rundir import load_history
from fedgs_lite.summary import (
    SUMMARY_COLUMNS,
    compare_rankings,
    format_summary,
    load_runs,
    read_summary,
    summarise,
    write_summary,
)

MODES = ("IDL", "LN")
SAMPLERS = ("uniform", "fedgs")
SEEDS = (0, 1)


def tiny_plans():
    cells = grid_cells(["synthetic"], MODES, SAMPLERS, SEEDS)
    return plan_grid(cells, tiny=True, device="cpu")


@pytest.fixture(scope="module")
def finished_grid(tmp_path_factory):
    out = tmp_path_factory.mktemp("grid")
    plans = tiny_plans()
    report = run_grid(plans, out, progress=False)
    rows = summarise(out, report.run_dirs)
    write_summary(out, rows, runs=load_runs(out, report.run_dirs), wall_time=report.wall_time,
                     device="cpu: test")
    return out, plans, report, rows


def mtimes(out):
    return {p: p.stat().st_mtime_ns for p in (out / RUNS_DIR).glob("*/history.json")}


def test_summary_statistics_match_the_runs(finished_grid):
    out, plans, _, rows = finished_grid
    back = read_summary(out / "summary.csv")
    assert [(r["mode"], r["sampler"], r["seeds"]) for r in back] == [
        (r["mode"], r["sampler"], r["seeds"]) for r in rows]
    assert [r["final_acc_mean"] for r in back] == pytest.approx([r["final_acc_mean"] for r in rows], abs=1e-6)
    for row in rows:
        finals, cvars = [], []
        for p in plans:
            if p.cell.mode == row["mode"] and p.cell.sampler == row["sampler"]:
                h = load_history(out / RUNS_DIR / p.dirname)
                finals.append(h.final_accuracy())
                cvars.append(h.count_variance())
        assert row["final_acc_mean"] == pytest.approx(np.mean(finals))
        assert row["final_acc_std"] == pytest.approx(np.std(finals, ddof=1))
        assert row["count_var_mean"] == pytest.approx(np.mean(cvars))


def test_compare_rankings_uses_paper_numbers_when_present():
    def row(sampler, acc, paper_acc=None):
        return dict(grid="paper", dataset="synthetic", mode="LN", sampler=sampler, final_acc_mean=acc,
                    final_acc_std=0.001, paper_acc=paper_acc)

    (c,) = compare_rankings([row("uniform", 0.80, 0.70), row("fedgs", 0.75, 0.72)])
    assert c["ours"] == ["uniform", "fedgs"] and c["fedgs_rank"] == 2
    assert c["paper_order"] == ["fedgs", "uniform"] and c["agrees"] is False
    (c,) = compare_rankings([row("uniform", 0.70), row("fedgs", 0.75)])
    assert c["fedgs_rank"] == 1 and c["agrees"] is None and "not reported" in c["verdict"]
    assert math.isclose(c["margin_vs_best_other"], 0.05)


def test_the_summary_files_and_the_printed_table(finished_grid):
    out, plans, _, rows = finished_grid
    with open(out / "summary.csv") as f:
        table = list(csv.DictReader(f))
    assert list(table[0]) == list(SUMMARY_COLUMNS)
    assert [(r["mode"], r["sampler"]) for r in table] == [(m, s) for m in MODES for s in SAMPLERS]
    text = format_summary(rows).splitlines()
    assert text[0].split()[:3] == ["dataset", "mode", "sampler"] and len(text) == 2 + len(rows)
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == ["counts_synthetic_tiny.png", "curves_synthetic_tiny.png"]
