"""A finished grid, reduced: mean +- std over seeds that match the runs (the authors' best-validation metric
computed by hand), rankings against the paper, a summary that covers its whole folder."""

import csv
import math

import numpy as np
import pytest

from fedgs_lite.grid import RUNS_DIR, grid_cells, plan_grid, run_grid
from fedgs_lite.rundir import load_history
from fedgs_lite.summary import (
    SUMMARY_COLUMNS,
    compare_rankings,
    degenerate_short,
    format_summary,
    read_summary,
    summarise,
)
from fedgs_lite.summary_files import write_summary

MODES = ("IDL", "LN")
SAMPLERS = ("uniform", "fedgs")
SEEDS = (0, 1)


def tiny_plans():
    cells = grid_cells(["synthetic"], MODES, SAMPLERS, SEEDS)
    return plan_grid(cells, tiny=True, device="cpu")


@pytest.fixture(scope="module")
def finished_grid(tmp_path_factory):
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("grid")
    plans = tiny_plans()
    report = run_grid(plans, out, progress=False)
    rows = summarise(out, report.run_dirs)
    write_summary(out, wall_time=report.wall_time, device="cpu: test")
    torch.set_num_threads(threads)
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
        finals, cvars, picked, picked_loss = [], [], [], []
        for p in plans:
            if p.cell.mode == row["mode"] and p.cell.sampler == row["sampler"]:
                h = load_history(out / RUNS_DIR / p.dirname)
                finals.append(h.final_accuracy())
                cvars.append(h.count_variance())
                # the authors' metric by hand: the test numbers at the evaluation of lowest validation loss
                assert len(h.valid_loss) == len(h.eval_rounds) == 1 + h.rounds_done
                best = min(range(len(h.valid_loss)), key=lambda i: h.valid_loss[i])
                picked.append(h.test_accuracy[best])
                picked_loss.append(h.test_loss[best])
        assert row["final_acc_mean"] == pytest.approx(np.mean(finals))
        assert row["final_acc_std"] == pytest.approx(np.std(finals, ddof=1))
        assert row["count_var_mean"] == pytest.approx(np.mean(cvars))
        assert row["bestval_acc_mean"] == pytest.approx(np.mean(picked))
        assert row["bestval_acc_std"] == pytest.approx(np.std(picked, ddof=1))
        assert row["bestval_loss_mean"] == pytest.approx(np.mean(picked_loss))
        assert row["partition"] == "natural" and row["degenerate"] is None


def test_compare_rankings_uses_paper_numbers_when_present():
    def row(sampler, acc, paper_acc=None):
        return dict(grid="paper", dataset="synthetic", mode="LN", sampler=sampler, bestval_acc_mean=acc,
                    bestval_acc_std=0.001, paper_acc=paper_acc)

    (c,) = compare_rankings([row("uniform", 0.80, 0.70), row("fedgs", 0.75, 0.72)])
    assert c["ours"] == ["uniform", "fedgs"] and c["fedgs_rank"] == 2
    assert c["paper_order"] == ["fedgs", "uniform"] and c["agrees"] is False
    (c,) = compare_rankings([row("uniform", 0.70), row("fedgs", 0.75)])
    assert c["fedgs_rank"] == 1 and c["agrees"] is None and "not reported" in c["verdict"]
    assert math.isclose(c["margin_vs_best_other"], 0.05)
    (c,) = compare_rankings([row("uniform", 0.70), row("md", 0.75), row("fedgs", 0.75)])
    assert c["fedgs_rank"] == 1  # a tie shares the rank


def test_the_summary_files_and_the_printed_table(finished_grid):
    out, plans, _, rows = finished_grid
    with open(out / "summary.csv") as f:
        table = list(csv.DictReader(f))
    assert list(table[0]) == list(SUMMARY_COLUMNS)
    assert [(r["mode"], r["sampler"]) for r in table] == [(m, s) for m in MODES for s in SAMPLERS]
    text = format_summary(rows).splitlines()
    assert text[0].split()[:4] == ["dataset", "partition", "mode", "sampler"] and len(text) == 2 + len(rows)
    md = (out / "summary.md").read_text()
    assert "best-valid acc" in md and "best acc |" not in md
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == ["counts_synthetic_tiny.png", "curves_synthetic_tiny.png"]


def test_the_summary_covers_every_finished_cell_of_its_folder(finished_grid, tmp_path):
    # issue 14 item 1: a later call that runs a subset (or nothing) must not shrink the summary
    import shutil

    out, plans, _, rows = finished_grid
    copy = tmp_path / "grid"
    shutil.copytree(out, copy)
    write_summary(copy, wall_time=0.0, device="cpu: test", figures=False)
    again = read_summary(copy / "summary.csv")
    assert [(r["mode"], r["sampler"], r["seeds"]) for r in again] == [
        (r["mode"], r["sampler"], r["seeds"]) for r in rows]
    # a run of another setting in the same folder gets a row of its own (never averaged in as a seed)
    other = plan_grid(grid_cells(["synthetic"], ["IDL"], ["uniform"], (0,)), tiny=True, device="cpu",
                      rounds=2)
    run_grid(other, copy, progress=False)
    write_summary(copy, figures=False)
    rows2 = read_summary(copy / "summary.csv")
    assert len(rows2) == len(rows) + 1 and {r["grid"] for r in rows2} == {"tiny"}
    idl = [r for r in rows2 if (r["mode"], r["sampler"]) == ("IDL", "uniform")]
    assert sorted(r["rounds"] for r in idl) == [2, 3] and len({r["setting"] for r in idl}) == 2


def test_degenerate_short_names_the_mode_it_equals():
    why = ("MDF-0.9 is degenerate on these 100 clients: every client holds 600 training samples, so every "
           "client has p = 1 in every round (the same as IDL)")
    assert degenerate_short(why) == "same as IDL" and degenerate_short(None) == ""
