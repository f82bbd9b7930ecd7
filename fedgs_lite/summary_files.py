"""A grid folder's summary files: summary.csv, summary.md and the learning-curve and count figures.

`write_summary(out)` reduces every finished run under `out` (summary.summarise) and writes the files,
so a summary always covers the whole folder: a later call that runs a subset of the cells, or none,
never shrinks it. The figures (`accuracy_figure`, `counts_figure`) are built on plots.plot_curves.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fedgs_lite import paper
from fedgs_lite.files import atomic_write_text
from fedgs_lite.grid_log import GRID_LOG, device_name, grid_calls
from fedgs_lite.plots import plot_curves
from fedgs_lite.summary import (
    SUMMARY_COLUMNS,
    RunResult,
    compare_rankings,
    degenerate_short,
    fmt,
    grid_order,
    load_runs,
    pm,
    slug,
    summarise,
)
from fedgs_lite.tables import write_csv


def _mode_panels(runs: Sequence[RunResult], grid: str, dataset_label: str, curve) -> dict[str, dict]:
    """{panel: {sampler label: [curve(run) per seed]}} for one grid and dataset: one panel per mode (and
    per partition where one mode runs on several), in paper order."""
    picked = [r for r in runs if r.grid == grid and r.dataset_label == dataset_label]
    keys = sorted({(r.mode, -1.0 if r.skew is None else r.skew, r.partition) for r in picked},
                  key=lambda k: (paper.MODE_KEYS.index(k[0]) if k[0] in paper.MODE_KEYS else 99, k[1], k[2]))
    several = len({m for m, _, _ in keys}) < len(keys)
    panels: dict[str, dict] = {}
    for mode, _, part in keys:
        spec = paper.MODE_SPECS.get(mode, mode)
        lines = panels.setdefault(f"{spec} / {part}" if several else spec, {})
        mine = [r for r in picked if (r.mode, r.partition) == (mode, part)]
        for sampler in grid_order({r.sampler for r in mine}, paper.SAMPLERS):
            label = paper.SAMPLER_LABELS.get(sampler, sampler)
            lines[label] = [curve(r) for r in mine if r.sampler == sampler]
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


def grid_time(out: Path, this_call: float | None) -> str:
    calls = grid_calls(out)
    if not calls:
        return f"{fmt(this_call, 1) or 'n/a'} s (this call)"
    devices = sorted({c.get("device", "?") for c in calls})
    return (f"{sum(c['wall_time'] for c in calls):.1f} s summed over the {len(calls)} calls that trained "
            f"runs into this folder ({GRID_LOG}; {', '.join(devices)})")


TABLE_HEAD = ["| grid | dataset | partition | mode | sampler | seeds | rounds | final acc | best-valid acc "
              "| best-valid loss | count var | degenerate | paper |",
              "|---|---|---|---|---|---:|---:|---|---|---|---|---|---|"]


def table_row(r: dict[str, Any]) -> str:
    return (f"| {r['grid']} | {r['dataset']} | {r['partition']} | {r['spec']} | {r['sampler']} "
            f"| {r['seeds']} | {r['rounds']} | {pm(r, 'final_acc')} | {pm(r, 'bestval_acc')} "
            f"| {pm(r, 'bestval_loss')} | {pm(r, 'count_var', 2)} "
            f"| {degenerate_short(r['degenerate']) or '-'} | {fmt(r['paper_acc']) or 'not reported'} |")


def summary_markdown(out: Path, rows: Sequence[dict[str, Any]], runs: Sequence[RunResult],
                     wall_time: float | None, device: str, pictures: Sequence[tuple[str, str]]) -> str:
    md = ["# FedGS reproduction grid", "",
          f"Paper: {paper.PAPER}. Settings: `fedgs_lite/paper.py` (each value with its source).", "",
          f"- device: {device or device_name()}",
          f"- grid wall time: {grid_time(out, wall_time)}",
          f"- runs: {len(runs)} (every finished run in this folder); those of one dataset, partition, "
          "local training and seed train together (loop.run_cohort)",
          f"- paper's numbers: {paper.PAPER_RESULTS_SOURCE if not paper.PAPER_RESULTS else 'see paper_acc'}",
          "", "Mean +- sample std over seeds (nan with one seed). final acc: test accuracy after the last "
          "round. best-valid acc / loss: the authors' metric, the test accuracy / loss at the evaluation "
          "with the lowest validation loss (clients' hold-out parts, weighted by their training sizes). "
          "count var: variance of how often each client was selected over the run (lower = fairer). "
          "degenerate: the mode gives every client the same probability on this partition.", "", *TABLE_HEAD]
    md += [table_row(r) for r in rows]
    reasons = sorted({r["degenerate"] for r in rows if r["degenerate"]})
    if reasons:
        md += ["", "## Degenerate modes", ""] + [f"- {why}" for why in reasons]
    md += ["", "## Where FedGS ranks (by mean best-valid accuracy)", ""]
    for c in compare_rankings(rows):
        md.append(f"- {c['grid']} / {c['dataset']} / {c['partition']} / {c['mode']}: "
                  f"{' > '.join(c['ours'])}. {c['verdict']}.")
    if pictures:
        md += ["", "## Figures", ""] + [f"![{t}]({n})" for t, n in pictures]
    return "\n".join(md) + "\n"


def write_summary(out: str | Path, *, wall_time: float | None = None, device: str = "",
                  figures: bool = True) -> dict[str, Path]:
    """Reduce every finished run under `out` and write summary.csv, summary.md and, with `figures`, the
    learning-curve and count PNGs of each (grid, dataset). Returns the paths written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows, runs = summarise(out), load_runs(out)
    written = {"csv": out / "summary.csv"}
    cells = [{k: fmt(r[k], 6) if isinstance(r[k], float) else r[k] for k in SUMMARY_COLUMNS} for r in rows]
    write_csv(written["csv"], cells, SUMMARY_COLUMNS)
    pictures: list[tuple[str, str]] = []
    if figures and runs:
        for grid, label in sorted({(r.grid, r.dataset_label) for r in runs}):
            for kind, fn in (("curves", accuracy_figure), ("counts", counts_figure)):
                prefix = "" if grid in ("paper", "tiny") else f"{slug(grid)}_"
                name = f"{kind}_{prefix}{slug(label)}.png"
                fn(runs, grid, label).savefig(out / name, dpi=110)
                written[f"{kind}:{grid}:{label}"] = out / name
                pictures.append((f"{grid} / {label}: {kind}", name))
    written["md"] = out / "summary.md"
    atomic_write_text(written["md"], summary_markdown(out, rows, runs, wall_time, device, pictures))
    return written
