"""A finished grid, reduced: mean +- std over seeds per cell, FedGS's rank against the paper, the files.

`summarise` gives one row per (grid, dataset, mode, sampler); `compare_rankings` orders the samplers of
each (dataset, mode) and says where FedGS ranks, against the paper's numbers where they are reported
(paper.py: they are not, so nothing is claimed). `write_summary` writes summary.csv, summary.md and
the figures (`accuracy_figure`, `counts_figure`); `format_summary` is the printed table.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fedgs_lite import paper
from fedgs_lite.files import atomic_write_text
from fedgs_lite.grid import CELL_FILE, GRID_DATASETS, GRID_LOG, RUNS_DIR, device_name, grid_calls
from fedgs_lite.plots import plot_curves
from fedgs_lite.rundir import is_done, load_history
from fedgs_lite.tables import format_table, write_csv

SUMMARY_COLUMNS = ("grid", "dataset", "mode", "spec", "sampler", "seeds", "rounds",
                   "final_acc_mean", "final_acc_std", "best_acc_mean", "best_acc_std",
                   "count_var_mean", "count_var_std", "paper_acc")


@dataclass(frozen=True)
class RunResult:
    grid: str
    dataset: str          # the paper dataset key
    dataset_label: str
    mode: str
    spec: str
    sampler: str
    seed: int
    rounds: int
    eval_rounds: tuple[int, ...]
    accuracy: tuple[float, ...]
    counts: tuple[int, ...]
    final_acc: float
    best_acc: float
    count_var: float
    wall_time: float


def load_runs(out: str | Path, run_dirs: Iterable[Path] | None = None) -> list[RunResult]:
    """Finished runs under `<out>/runs` (or just `run_dirs`), each with the cell it belongs to."""
    dirs = sorted((Path(out) / RUNS_DIR).glob("*")) if run_dirs is None else list(run_dirs)
    results = []
    for rd in dirs:
        if not (rd / CELL_FILE).exists() or not is_done(rd):
            continue
        cell = json.loads((rd / CELL_FILE).read_text())
        h = load_history(rd)
        results.append(RunResult(
            grid=cell["grid"], dataset=cell["dataset"], dataset_label=cell["dataset_label"],
            mode=cell["mode"], spec=cell["spec"], sampler=cell["sampler"], seed=int(cell["seed"]),
            rounds=h.rounds_done, eval_rounds=tuple(h.eval_rounds), accuracy=tuple(h.test_accuracy),
            counts=tuple(int(c) for c in h.counts), final_acc=h.final_accuracy(),
            best_acc=h.best_accuracy(), count_var=h.count_variance(), wall_time=h.wall_time))
    return results


def _group_key(r: RunResult) -> tuple:
    return (r.grid, r.dataset_label, r.mode, r.sampler)


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    a = np.asarray(values, dtype=np.float64)
    a = a[np.isfinite(a)]
    if a.size == 0:
        return float("nan"), float("nan")
    # One seed has no spread to report: nan, not a misleading 0.
    return float(a.mean()), float(a.std(ddof=1)) if a.size > 1 else float("nan")


def _order(values: Sequence[str], reference: Sequence[str]) -> list[str]:
    return sorted(values, key=lambda v: reference.index(v) if v in reference else len(reference))


def summarise(out: str | Path, run_dirs: Iterable[Path] | None = None) -> list[dict[str, Any]]:
    """One row per (grid, dataset, mode, sampler): mean and sample std over seeds of the final and best
    test accuracy and of the variance of the selection counts, with the paper's accuracy where reported
    (None otherwise). Rows follow the grid order (dataset, mode, sampler)."""
    runs = load_runs(out, run_dirs)
    groups: dict[tuple, list[RunResult]] = {}
    for r in runs:
        groups.setdefault(_group_key(r), []).append(r)

    def sort_key(k: tuple) -> tuple:
        grid, label, mode, sampler = k
        first = groups[k][0]
        return (grid, GRID_DATASETS.index(first.dataset), label, paper.MODE_KEYS.index(mode)
                if mode in paper.MODE_KEYS else 99, paper.SAMPLERS.index(sampler))

    rows = []
    for k in sorted(groups, key=sort_key):
        rs = groups[k]
        fa, fs = _mean_std([r.final_acc for r in rs])
        ba, bs = _mean_std([r.best_acc for r in rs])
        va, vs = _mean_std([r.count_var for r in rs])
        rows.append(dict(grid=k[0], dataset=k[1], mode=k[2], spec=rs[0].spec, sampler=k[3],
                         seeds=len(rs), rounds=max(r.rounds for r in rs),
                         final_acc_mean=fa, final_acc_std=fs, best_acc_mean=ba, best_acc_std=bs,
                         count_var_mean=va, count_var_std=vs,
                         paper_acc=paper.paper_accuracy(rs[0].dataset, k[2], k[3])))
    return rows


def compare_rankings(rows: Sequence[dict[str, Any]], metric: str = "final_acc_mean") -> list[dict[str, Any]]:
    """Per (grid, dataset, mode): our ordering of the samplers by `metric` (best first), FedGS's rank in
    it, the paper's ordering and FedGS rank when the paper reports every sampler of that cell, and
    whether they agree. Without paper numbers the verdict says so rather than guessing."""
    cells: dict[tuple, list[dict[str, Any]]] = {}
    for r in rows:
        cells.setdefault((r["grid"], r["dataset"], r["mode"]), []).append(r)
    out = []
    for (grid, dataset, mode), rs in cells.items():
        ranked = sorted((r for r in rs if math.isfinite(r[metric])), key=lambda r: -r[metric])
        ours = [r["sampler"] for r in ranked]
        fedgs_rank = ours.index("fedgs") + 1 if "fedgs" in ours else None
        fedgs_row = next((r for r in ranked if r["sampler"] == "fedgs"), None)
        best_other = next((r for r in ranked if r["sampler"] != "fedgs"), None)
        margin = (fedgs_row[metric] - best_other[metric]) if fedgs_row and best_other else float("nan")
        # Within one std of the best other sampler: the ordering is not resolved by these seeds.
        noise = max(fedgs_row.get(metric.replace("_mean", "_std"), 0.0) or 0.0,
                    best_other.get(metric.replace("_mean", "_std"), 0.0) or 0.0) if fedgs_row and best_other \
            else float("nan")
        paper_vals = {r["sampler"]: r["paper_acc"] for r in rs if r.get("paper_acc") is not None}
        if fedgs_row is not None and len(paper_vals) == len(rs):
            paper_order = sorted(paper_vals, key=lambda s: -paper_vals[s])
            paper_rank = paper_order.index("fedgs") + 1
            agrees = paper_rank == fedgs_rank
            verdict = (f"FedGS ranks {fedgs_rank}/{len(ours)} here and {paper_rank}/{len(paper_order)} "
                       f"in the paper: {'same' if agrees else 'different'} rank")
        else:
            paper_order, paper_rank, agrees = None, None, None
            verdict = (f"FedGS ranks {fedgs_rank}/{len(ours)} here" if fedgs_rank else "FedGS not run")
            verdict += "; the paper's numbers for this cell are not reported here, so no rank comparison"
            if fedgs_rank is not None:
                holds = fedgs_rank == 1
                verdict += (f"; the paper's qualitative claim (FedGS improves accuracy) "
                            f"{'holds' if holds else 'does not hold'} in this cell")
                if math.isfinite(margin) and abs(margin) <= noise:
                    verdict += f" (margin {margin:+.4f} is within one std, {noise:.4f})"
        out.append(dict(grid=grid, dataset=dataset, mode=mode, ours=ours, fedgs_rank=fedgs_rank,
                        margin_vs_best_other=margin, paper_order=paper_order, paper_fedgs_rank=paper_rank,
                        agrees=agrees, verdict=verdict))
    return out


# --------------------------------------------------------------------------- figures

def _by(runs: Sequence[RunResult], grid: str, label: str) -> dict[tuple[str, str], list[RunResult]]:
    d: dict[tuple[str, str], list[RunResult]] = {}
    for r in runs:
        if r.grid == grid and r.dataset_label == label:
            d.setdefault((r.mode, r.sampler), []).append(r)
    return d


def _mode_panels(runs: Sequence[RunResult], grid: str, dataset_label: str, curve) -> dict[str, dict]:
    """{mode spec: {sampler label: [curve(run) per seed]}} for one grid and dataset, in paper order."""
    d = _by(runs, grid, dataset_label)
    panels: dict[str, dict] = {}
    for mode in _order({m for m, _ in d}, paper.MODE_KEYS):
        lines = panels.setdefault(paper.MODE_SPECS.get(mode, mode), {})
        for sampler in _order({s for m, s in d if m == mode}, paper.SAMPLERS):
            lines[paper.SAMPLER_LABELS.get(sampler, sampler)] = [curve(r) for r in d[(mode, sampler)]]
    return panels


def accuracy_figure(runs: Sequence[RunResult], grid: str, dataset_label: str):
    """One panel per mode, one line per sampler: mean test accuracy over seeds, band = +- 1 std."""
    panels = _mode_panels(runs, grid, dataset_label, lambda r: (r.eval_rounds, r.accuracy))
    return plot_curves(panels, ylabel="test accuracy",
                       title=f"{dataset_label}: test accuracy per availability mode")


def counts_figure(runs: Sequence[RunResult], grid: str, dataset_label: str):
    """One panel per mode, one line per sampler: how often each client was selected, clients sorted from
    most to least selected (mean over seeds). A flat line is a fair sampler."""
    panels = _mode_panels(runs, grid, dataset_label,
                          lambda r: (np.arange(1, len(r.counts) + 1), np.sort(np.asarray(r.counts))[::-1]))
    return plot_curves(panels, xlabel="client (sorted)", ylabel="times selected",
                       title=f"{dataset_label}: selection counts per client")


# --------------------------------------------------------------------------- writing

def _fmt(v: Any, digits: int = 4) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return "nan" if not math.isfinite(v) else f"{v:.{digits}f}"
    return str(v)


def _grid_time(out: Path, this_call: float | None) -> str:
    calls = grid_calls(out)
    if not calls:
        return f"{_fmt(this_call, 1) or 'n/a'} s (this call)"
    devices = sorted({c.get("device", "?") for c in calls})
    return (f"{sum(c['wall_time'] for c in calls):.1f} s summed over the {len(calls)} calls that trained "
            f"runs into this folder ({GRID_LOG}; {', '.join(devices)})")


def _slug(label: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in label).strip("_").replace("__", "_")


def summary_markdown(out: Path, rows: Sequence[dict[str, Any]], runs: Sequence[RunResult],
                     wall_time: float | None, device: str, pictures: Sequence[tuple[str, str]]) -> str:
    md = ["# FedGS reproduction grid", "",
          f"Paper: {paper.PAPER}. Settings: `fedgs_lite/paper.py` (each value with its source).", "",
          f"- device: {device or device_name()}",
          f"- grid wall time: {_grid_time(out, wall_time)}",
          f"- runs: {len(runs)}; those of one dataset and seed train together (loop.run_cohort)",
          f"- paper's numbers: {paper.PAPER_RESULTS_SOURCE if not paper.PAPER_RESULTS else 'see paper_acc'}",
          "", "Accuracy: test accuracy of the global model; mean +- sample std over seeds (nan with one "
          "seed). count var: variance of how often each client was selected over the run (lower = fairer).",
          "",
          "| grid | dataset | mode | sampler | seeds | rounds | final acc | best acc | count var | paper |",
          "|---|---|---|---|---:|---:|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['grid']} | {r['dataset']} | {r['spec']} | {r['sampler']} | {r['seeds']} "
                  f"| {r['rounds']} "
                  f"| {_fmt(r['final_acc_mean'])} +- {_fmt(r['final_acc_std'])} "
                  f"| {_fmt(r['best_acc_mean'])} +- {_fmt(r['best_acc_std'])} "
                  f"| {_fmt(r['count_var_mean'], 2)} +- {_fmt(r['count_var_std'], 2)} "
                  f"| {_fmt(r['paper_acc']) or 'not reported'} |")
    md += ["", "## Where FedGS ranks (by mean final accuracy)", ""]
    for c in compare_rankings(rows):
        md.append(f"- {c['grid']} / {c['dataset']} / {c['mode']}: {' > '.join(c['ours'])}. {c['verdict']}.")
    if pictures:
        md += ["", "## Figures", ""] + [f"![{t}]({n})" for t, n in pictures]
    return "\n".join(md) + "\n"


def write_summary(out: str | Path, rows: Sequence[dict[str, Any]], *, runs: Sequence[RunResult] = (),
                  wall_time: float | None = None, device: str = "", figures: bool = True) -> dict[str, Path]:
    """Write summary.csv (atomic), summary.md and, with `figures`, learning-curve and count PNGs."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = {"csv": out / "summary.csv"}
    cells = [{k: _fmt(r[k], 6) if isinstance(r[k], float) else r[k] for k in SUMMARY_COLUMNS} for r in rows]
    write_csv(written["csv"], cells, SUMMARY_COLUMNS)
    pictures: list[tuple[str, str]] = []
    if figures and runs:
        for grid, label in sorted({(r.grid, r.dataset_label) for r in runs}):
            for kind, fn in (("curves", accuracy_figure), ("counts", counts_figure)):
                name = f"{kind}_{_slug(label)}.png"
                fn(runs, grid, label).savefig(out / name, dpi=110)
                written[f"{kind}:{label}"] = out / name
                pictures.append((f"{label}: {kind}", name))
    written["md"] = out / "summary.md"
    atomic_write_text(written["md"], summary_markdown(out, rows, runs, wall_time, device, pictures))
    return written


def read_summary(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a summary.csv written by `write_summary`, numbers parsed back (paper_acc None if blank)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        for k in SUMMARY_COLUMNS:
            if k.endswith(("_mean", "_std")):
                r[k] = float(r[k]) if r[k] else float("nan")
        r["seeds"], r["rounds"] = int(r["seeds"]), int(r["rounds"])
        r["paper_acc"] = float(r["paper_acc"]) if r["paper_acc"] else None
    return rows


def format_summary(rows: Sequence[dict[str, Any]]) -> str:
    """The summary as aligned plain text (what the reproduce command prints)."""
    head = ["dataset", "mode", "sampler", "n", "final acc", "best acc", "count var", "paper"]
    body = [[r["dataset"], r["spec"], r["sampler"], str(r["seeds"]),
             f"{_fmt(r['final_acc_mean'])}+-{_fmt(r['final_acc_std'])}",
             f"{_fmt(r['best_acc_mean'])}+-{_fmt(r['best_acc_std'])}",
             f"{_fmt(r['count_var_mean'], 2)}+-{_fmt(r['count_var_std'], 2)}",
             _fmt(r["paper_acc"]) or "n/r"] for r in rows]
    return format_table(head, body)
