"""A finished grid, reduced: mean +- std over seeds per cell, the authors' metric, FedGS's rank, the table.

`load_runs` reads every finished run under a grid folder with the cell it belongs to; `summarise`
gives one row per (grid, dataset, partition, mode, sampler, setting): mean and sample std over seeds
of the final test accuracy, of the authors' headline metric (the test accuracy and loss at the round of
lowest validation loss, fedgs:utils/result_analysis.py:517-530), of the minimum test loss and of the
variance of the selection counts, plus why the cell's mode is degenerate, if it is. `compare_rankings`
orders the samplers of each (dataset, mode) and says where FedGS ranks, against the paper's numbers
where they are reported (paper.py: they are not, so nothing is claimed). summary_files.py writes the
files and figures.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fedgs_lite import paper
from fedgs_lite.grid import CELL_FILE, GRID_DATASETS, RUNS_DIR
from fedgs_lite.history import History
from fedgs_lite.rundir import is_done, load_history
from fedgs_lite.tables import format_table

# mean and sample std over seeds of each of these, per row
STATISTICS = ("final_acc", "bestval_acc", "bestval_loss", "min_test_loss", "count_var")
SUMMARY_COLUMNS = ("grid", "dataset", "partition", "mode", "spec", "sampler", "seeds", "rounds",
                   *(f"{s}_{k}" for s in STATISTICS for k in ("mean", "std")), "degenerate", "setting",
                   "paper_acc")
# Config fields that do not change what a cell is: runs differing only in these are seeds of one cell.
NOT_SETTING = ("seed", "name", "data_root", "checkpoint_every", "device", "engine")


@dataclass(frozen=True)
class RunResult:
    """One finished run of a grid: its cell, its curves and its numbers."""

    grid: str
    dataset: str          # the paper dataset key
    dataset_label: str
    partition: str        # grid.partition_label, e.g. "dist 4, skew 0.7"
    skew: float | None
    mode: str
    spec: str
    sampler: str
    seed: int
    setting: str          # hash of the run's config without its seed (and cosmetic fields)
    rounds: int
    eval_rounds: tuple[int, ...]
    accuracy: tuple[float, ...]
    test_loss: tuple[float, ...]
    counts: tuple[int, ...]
    final_acc: float
    bestval_acc: float    # test accuracy at the evaluation of lowest validation loss
    bestval_loss: float   # test loss there
    min_test_loss: float  # picked on the test set (what fedgs:utils/fashion_niid.yml also tabulates)
    count_var: float
    wall_time: float
    degenerate: str | None


def setting_id(config: dict[str, Any]) -> str:
    """A short hash of a run's config without its seed: runs with equal ids are seeds of one cell."""
    kept = {k: v for k, v in config.items() if k not in NOT_SETTING}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:8]


def run_result(cell: dict[str, Any], h: History) -> RunResult:
    """A finished run's numbers, from its cell.json and its History."""
    return RunResult(
        grid=cell["grid"], dataset=cell["dataset"], dataset_label=cell["dataset_label"],
        partition=cell.get("partition", "?"), skew=cell.get("skew"), mode=cell["mode"], spec=cell["spec"],
        sampler=cell["sampler"], seed=int(cell["seed"]), setting=setting_id(h.config), rounds=h.rounds_done,
        eval_rounds=tuple(h.eval_rounds), accuracy=tuple(h.test_accuracy), test_loss=tuple(h.test_loss),
        counts=tuple(int(c) for c in h.counts), final_acc=h.final_accuracy(),
        bestval_acc=h.best_valid_accuracy(), bestval_loss=h.best_valid_loss(),
        min_test_loss=h.min_test_loss(), count_var=h.count_variance(), wall_time=h.wall_time,
        degenerate=h.degenerate)


def load_runs(out: str | Path, run_dirs: Iterable[Path] | None = None) -> list[RunResult]:
    """Every finished run under `<out>/runs` (or just `run_dirs`), each with the cell it belongs to."""
    dirs = sorted((Path(out) / RUNS_DIR).glob("*")) if run_dirs is None else list(run_dirs)
    results = []
    for rd in dirs:
        if (rd / CELL_FILE).exists() and is_done(rd):
            results.append(run_result(json.loads((rd / CELL_FILE).read_text()), load_history(rd)))
    return results


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample std (ddof 1) of the finite values; std NaN with one value (no spread to report)."""
    a = np.asarray(values, dtype=np.float64)
    a = a[np.isfinite(a)]
    if a.size == 0:
        return float("nan"), float("nan")
    return float(a.mean()), float(a.std(ddof=1)) if a.size > 1 else float("nan")


def grid_order(values: Iterable[str], reference: Sequence[str]) -> list[str]:
    """`values` in the order of `reference` (unknown ones last)."""
    return sorted(values, key=lambda v: reference.index(v) if v in reference else len(reference))


def _sort_key(r: RunResult) -> tuple:
    mode = paper.MODE_KEYS.index(r.mode) if r.mode in paper.MODE_KEYS else 99
    sampler = paper.SAMPLERS.index(r.sampler) if r.sampler in paper.SAMPLERS else 99
    dataset = GRID_DATASETS.index(r.dataset) if r.dataset in GRID_DATASETS else 99
    return (r.grid, dataset, r.dataset_label, -1.0 if r.skew is None else r.skew, mode, sampler, r.setting)


def summarise(out: str | Path, run_dirs: Iterable[Path] | None = None) -> list[dict[str, Any]]:
    """One row per cell (grid, dataset, partition, mode, sampler, setting) of the finished runs under
    `out`: mean and sample std over seeds of STATISTICS, the mode's degenerate reason (None if it is
    not) and the paper's accuracy where reported (None otherwise). Rows follow the grid order."""
    groups: dict[tuple, list[RunResult]] = {}
    for r in sorted(load_runs(out, run_dirs), key=_sort_key):
        groups.setdefault((r.grid, r.dataset_label, r.partition, r.mode, r.sampler, r.setting), []).append(r)
    rows = []
    for (grid, label, part, mode, sampler, setting), rs in groups.items():
        row: dict[str, Any] = dict(grid=grid, dataset=label, partition=part, mode=mode, spec=rs[0].spec,
                                   sampler=sampler, seeds=len(rs), rounds=max(r.rounds for r in rs))
        for stat in STATISTICS:
            row[f"{stat}_mean"], row[f"{stat}_std"] = mean_std([getattr(r, stat) for r in rs])
        row.update(degenerate=next((r.degenerate for r in rs if r.degenerate), None), setting=setting,
                   paper_acc=paper.paper_accuracy(rs[0].dataset, mode, sampler))
        rows.append(row)
    return rows


def compare_rankings(rows: Sequence[dict[str, Any]],
                     metric: str = "bestval_acc_mean") -> list[dict[str, Any]]:
    """Per (grid, dataset, partition, mode): our ordering of the samplers by `metric` (best first; the
    authors' best-validation accuracy by default), FedGS's rank in it, the paper's ordering and FedGS
    rank when the paper reports every sampler of that cell, and whether they agree. Without paper
    numbers the verdict says so rather than guessing."""
    cells: dict[tuple, list[dict[str, Any]]] = {}
    for r in rows:
        cells.setdefault((r["grid"], r["dataset"], r.get("partition", ""), r["mode"]), []).append(r)
    return [ranking(key, rs, metric) for key, rs in cells.items()]


def ranking(key: tuple, rs: Sequence[dict[str, Any]], metric: str) -> dict[str, Any]:
    """compare_rankings for one cell's rows."""
    grid, dataset, part, mode = key
    ranked = sorted((r for r in rs if math.isfinite(r[metric])), key=lambda r: -r[metric])
    ours = [r["sampler"] for r in ranked]
    fedgs = next((r for r in ranked if r["sampler"] == "fedgs"), None)
    other = next((r for r in ranked if r["sampler"] != "fedgs"), None)
    rank = 1 + sum(r[metric] > fedgs[metric] for r in ranked) if fedgs else None  # ties share a rank
    margin = fedgs[metric] - other[metric] if fedgs and other else float("nan")
    std = metric.replace("_mean", "_std")  # within one std of the best other: not resolved by these seeds
    noise = max(fedgs.get(std) or 0.0, other.get(std) or 0.0) if fedgs and other else float("nan")
    paper_vals = {r["sampler"]: r["paper_acc"] for r in rs if r.get("paper_acc") is not None}
    paper_order, paper_rank, agrees = None, None, None
    if fedgs is not None and len(paper_vals) == len(rs):
        paper_order = sorted(paper_vals, key=lambda s: -paper_vals[s])
        paper_rank = paper_order.index("fedgs") + 1
        agrees = paper_rank == rank
        verdict = (f"FedGS ranks {rank}/{len(ours)} here and {paper_rank}/{len(paper_order)} in the paper: "
                   f"{'same' if agrees else 'different'} rank")
    else:
        verdict = f"FedGS ranks {rank}/{len(ours)} here" if rank else "FedGS not run"
        verdict += "; the paper's numbers for this cell are not reported here, so no rank comparison"
        if rank is not None:
            verdict += (f"; the paper's qualitative claim (FedGS improves accuracy) "
                        f"{'holds' if rank == 1 else 'does not hold'} in this cell")
            if math.isfinite(margin) and abs(margin) <= noise:
                verdict += f" (margin {margin:+.4f} is within one std, {noise:.4f})"
    return dict(grid=grid, dataset=dataset, partition=part, mode=mode, ours=ours, fedgs_rank=rank,
                margin_vs_best_other=margin, paper_order=paper_order, paper_fedgs_rank=paper_rank,
                agrees=agrees, verdict=verdict, metric=metric)


def fmt(v: Any, digits: int = 4) -> str:
    """A table cell: "" for None, "nan" for a non-finite float, else the value."""
    if v is None:
        return ""
    if isinstance(v, float):
        return "nan" if not math.isfinite(v) else f"{v:.{digits}f}"
    return str(v)


def pm(row: dict[str, Any], stat: str, digits: int = 4, sep: str = " +- ") -> str:
    return f"{fmt(row[f'{stat}_mean'], digits)}{sep}{fmt(row[f'{stat}_std'], digits)}"


def slug(label: str) -> str:
    """A label as a file-name part: letters and digits, runs of anything else as one "_"."""
    parts = "".join(ch if ch.isalnum() else " " for ch in label).split()
    return "_".join(parts)


def degenerate_short(reason: str | None) -> str:
    """"same as IDL" for a degenerate mode (from its one-line reason), "" otherwise."""
    if not reason:
        return ""
    inner = reason[reason.rfind("(") + 1:].rstrip(")") if "(" in reason else "degenerate"
    return inner.replace("the same as", "same as")


def read_summary(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a summary.csv written by `write_summary`, numbers parsed back (blank: None / NaN)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        for k in SUMMARY_COLUMNS:
            if k.endswith(("_mean", "_std")):
                r[k] = float(r[k]) if r[k] else float("nan")
        r["seeds"], r["rounds"] = int(r["seeds"]), int(r["rounds"])
        r["paper_acc"] = float(r["paper_acc"]) if r["paper_acc"] else None
        r["degenerate"] = r["degenerate"] or None
    return rows


def format_summary(rows: Sequence[dict[str, Any]]) -> str:
    """The summary as aligned plain text (what the reproduce command prints)."""
    head = ["dataset", "partition", "mode", "sampler", "n", "final acc", "best-valid acc", "count var",
            "degenerate", "paper"]
    body = [[r["dataset"], r.get("partition", ""), r["spec"], r["sampler"], str(r["seeds"]),
             pm(r, "final_acc", sep="+-"), pm(r, "bestval_acc", sep="+-"), pm(r, "count_var", 2, "+-"),
             degenerate_short(r.get("degenerate")) or "-", fmt(r["paper_acc"]) or "n/r"] for r in rows]
    return format_table(head, body)
