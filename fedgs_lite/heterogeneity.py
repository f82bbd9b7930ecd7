"""The authors' one recorded result, rerun: test loss of five methods against label heterogeneity.

fedgs:niid_degree_plot.py hard-codes the test loss of uniform, MD, Power-of-Choice, FedProx and FedGS
on Fashion-MNIST, 100 clients, LDF-0.9, on the authors' `dist 4` partitions at skew 0.1/0.7/0.8/0.9
(`paper.HETEROGENEITY`, with every setting's source). `study_cells` plans those cells (grid cells with a
skew; `python -m fedgs_lite reproduce --study heterogeneity` runs them), `heterogeneity_rows` reduces
the finished runs to one row per (method, skew) beside the authors' number, `orderings` compares the
methods' order at each skew, `paired_wins` compares FedGS with each method seed by seed,
`heterogeneity_figure` draws it like theirs and `write_heterogeneity` writes heterogeneity.csv/.md/.png.
Whether the authors' values are minimum test losses or losses at the best-validation round is not
recorded, so both of ours are shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fedgs_lite import paper
from fedgs_lite.availability import parse_mode
from fedgs_lite.files import atomic_write_text
from fedgs_lite.grid import Cell
from fedgs_lite.partitions_dist4 import dirichlet_alpha_from_skew
from fedgs_lite.plots import plot_curves
from fedgs_lite.summary import RunResult, fmt, grid_order, load_runs, mean_std, slug
from fedgs_lite.tables import write_csv

STUDY = paper.HETEROGENEITY
GRID = "heterogeneity"  # the grid label of the study's cells (tiny ones: "heterogeneity, tiny")
METHODS = tuple(STUDY.test_loss)  # uniform, md, poc, fedprox, fedgs
LOSSES = {"min_test_loss": "min test loss", "bestval_loss": "test loss at best valid"}
COLUMNS = ("dataset", "sampler", "skew", "alpha", "seeds", "rounds", "authors_loss",
           *(f"{s}_{k}" for s in (*LOSSES, "bestval_acc", "final_acc") for k in ("mean", "std")))


def study_cells(seeds: Sequence[int] = range(paper.SEEDS), samplers: Sequence[str] = METHODS) -> list[Cell]:
    """The study's cells: every skew x method x seed on Fashion-MNIST under LDF-0.9 (the rest of the
    settings are the Fashion-MNIST paper setting, grid.build_config)."""
    bad = [s for s in samplers if s not in METHODS]
    if bad or not samplers:
        raise ValueError(f"the heterogeneity study compares {', '.join(METHODS)}; got {list(samplers)}")
    key, _ = parse_mode(STUDY.mode)
    if paper.MODE_SPECS[key] != STUDY.mode:  # the grid's cells run MODE_SPECS[key]
        raise ValueError(f"paper.MODE_SPECS[{key!r}] is {paper.MODE_SPECS[key]}; the study runs {STUDY.mode}")
    return [Cell(STUDY.dataset, key, s, int(seed), skew) for skew in STUDY.skews for s in samplers
            for seed in seeds]


def skew_tick(skew: float) -> str:
    """The authors' tick label of a skew (fedgs:niid_degree_plot.py:19), Dirichlet(alpha), on two lines."""
    alpha = STUDY.dirichlet_alphas[STUDY.skews.index(skew)] if skew in STUDY.skews else None
    return "Dirichlet\n(inf)" if alpha is None or alpha > 1000 else f"Dirichlet\n({alpha:.2f})"


def study_runs(runs: Sequence[RunResult]) -> list[RunResult]:
    return [r for r in runs if r.grid.startswith(GRID) and r.skew is not None]


def heterogeneity_rows(runs: Sequence[RunResult]) -> list[dict[str, Any]]:
    """One row per (dataset label, method, skew) of the study's finished runs: mean and sample std over
    seeds of our min test loss, test loss and accuracy at the best-validation round and final accuracy,
    beside the authors' test loss (None for a skew they did not run)."""
    groups: dict[tuple, list[RunResult]] = {}
    for r in study_runs(runs):
        groups.setdefault((r.dataset_label, r.sampler, r.skew), []).append(r)
    rows = []
    order = {m: i for i, m in enumerate(METHODS)}
    for label, sampler, skew in sorted(groups, key=lambda k: (k[0], k[2], order.get(k[1], len(order)))):
        rs = groups[(label, sampler, skew)]
        theirs = STUDY.test_loss.get(sampler)
        row: dict[str, Any] = dict(
            dataset=label, sampler=sampler, skew=skew, alpha=dirichlet_alpha_from_skew(skew),
            seeds=len(rs), rounds=max(r.rounds for r in rs),
            authors_loss=theirs[STUDY.skews.index(skew)] if theirs and skew in STUDY.skews else None)
        for stat in (*LOSSES, "bestval_acc", "final_acc"):
            row[f"{stat}_mean"], row[f"{stat}_std"] = mean_std([getattr(r, stat) for r in rs])
        rows.append(row)
    return rows


def kendall_tau(a: Sequence[str], b: Sequence[str]) -> float:
    """Kendall's tau between two orderings of the same items (1: same order, -1: reversed)."""
    common = [x for x in a if x in b]
    pos = {x: b.index(x) for x in common}
    pairs = [(i, j) for i in range(len(common)) for j in range(i + 1, len(common))]
    if not pairs:
        return float("nan")
    agree = sum(1 if pos[common[i]] < pos[common[j]] else -1 for i, j in pairs)
    return agree / len(pairs)


def orderings(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (dataset, skew): the methods from lowest to highest loss, the authors' and ours (both
    losses), Kendall's tau against theirs, and where FedGS and Power-of-Choice land."""
    out = []
    for label, skew in sorted({(r["dataset"], r["skew"]) for r in rows}):
        mine = [r for r in rows if (r["dataset"], r["skew"]) == (label, skew)]
        theirs = sorted((r for r in mine if r["authors_loss"] is not None), key=lambda r: r["authors_loss"])
        entry: dict[str, Any] = dict(dataset=label, skew=skew, authors=[r["sampler"] for r in theirs])
        for stat in LOSSES:
            ours = [r["sampler"] for r in sorted(mine, key=lambda r: r[f"{stat}_mean"])
                    if np.isfinite(r[f"{stat}_mean"])]
            entry[stat] = ours
            entry[f"{stat}_tau"] = kendall_tau(ours, entry["authors"])
        out.append(entry)
    return out


def paired_wins(runs: Sequence[RunResult], stat: str = "min_test_loss") -> list[dict[str, Any]]:
    """Per (dataset, skew): in how many seeds FedGS's loss is below each other method's, and the mean
    paired difference. Runs of one seed share the partition and the availability draws, so pairing by
    seed removes the spread between the seeds' partitions."""
    mine = study_runs(runs)
    by = {(r.dataset_label, r.skew, r.sampler, r.seed): getattr(r, stat) for r in mine}
    out = []
    for label, skew in sorted({(r.dataset_label, r.skew) for r in mine}):
        seeds = sorted(k for (lb, sk, m, k) in by if (lb, sk, m) == (label, skew, "fedgs"))
        entry: dict[str, Any] = dict(dataset=label, skew=skew, seeds=len(seeds), versus={})
        for other in (m for m in METHODS if m != "fedgs"):
            diffs = [by[(label, skew, "fedgs", k)] - by[(label, skew, other, k)] for k in seeds
                     if (label, skew, other, k) in by]
            if diffs:
                wins = int(np.sum(np.asarray(diffs) < 0))
                entry["versus"][other] = (wins, len(diffs), float(np.mean(diffs)))
        out.append(entry)
    return out


def heterogeneity_figure(rows: Sequence[dict[str, Any]], runs: Sequence[RunResult], dataset_label: str):
    """Like the authors' figure: test loss against heterogeneity, one line per method; a panel with
    their numbers and one for each of our two losses (mean over seeds, band +- 1 std)."""
    skews = list(STUDY.skews)
    x = list(range(1, len(skews) + 1))
    mine = [r for r in study_runs(runs) if r.dataset_label == dataset_label]
    panels: dict[str, dict] = {"authors (CNN; fedgs:niid_degree_plot.py)": {
        paper.SAMPLER_LABELS[m]: [(x, list(v))] for m, v in STUDY.test_loss.items()}}
    for stat, what in LOSSES.items():
        lines = {}
        for m in grid_order({r.sampler for r in mine}, METHODS):
            seeds = sorted({r.seed for r in mine if r.sampler == m})
            by = {(r.skew, r.seed): getattr(r, stat) for r in mine if r.sampler == m}
            curves = [(x, [by.get((s, k), np.nan) for s in skews]) for k in seeds]
            lines[paper.SAMPLER_LABELS.get(m, m)] = curves
        panels[f"ours: {what}"] = lines
    return plot_curves(panels, ylabel="test loss", xlabel="the degree of data heterogeneity", cols=3,
                       xticks=dict(zip(x, [skew_tick(s) for s in skews], strict=True)), marker="o",
                       title=f"{dataset_label} on {STUDY.num_clients} clients / {STUDY.mode}")


def study_markdown(rows: Sequence[dict[str, Any]], wins: Sequence[dict[str, Any]],
                   pictures: Sequence[str]) -> str:
    md = ["# The heterogeneity study (the authors' one recorded result)", "",
          f"Fashion-MNIST, {STUDY.num_clients} clients, {STUDY.mode}, dist 4 at skew "
          f"{', '.join(f'{s:g}' for s in STUDY.skews)}, {STUDY.local_steps} local steps, M = "
          f"{int(STUDY.proportion * STUDY.num_clients)}, FedGS alpha {STUDY.fedgs_alpha:g}, FedProx mu "
          f"{STUDY.prox_mu:g}, hold-out {STUDY.holdout:g} (`fedgs_lite/paper.py`, HETEROGENEITY).", "",
          f"The authors' numbers: {STUDY.sources['test_loss']}. Their model is not recorded (the default "
          "CNN); a run with another model (its label says which) can match their ordering, not their "
          "values. Ours: mean +- sample std over seeds.", "",
          "| dataset | method | skew | alpha | authors | ours: min test loss | ours: loss at best valid "
          "| ours: acc at best valid | seeds | rounds |", "|---|---|---:|---:|---:|---|---|---|---:|---:|"]
    for r in rows:
        md.append(f"| {r['dataset']} | {r['sampler']} | {r['skew']:g} | {r['alpha']:.3g} "
                  f"| {fmt(r['authors_loss']) or 'n/r'} "
                  + "".join(f"| {fmt(r[f'{s}_mean'])} +- {fmt(r[f'{s}_std'])} "
                            for s in (*LOSSES, "bestval_acc")) + f"| {r['seeds']} | {r['rounds']} |")
    md += ["", "## Orderings, lowest loss first (Kendall tau against the authors')", ""]
    for o in orderings(rows):
        md.append(f"- {o['dataset']}, skew {o['skew']:g}: authors {' < '.join(o['authors'])}; ours (min) "
                  f"{' < '.join(o['min_test_loss'])} (tau {fmt(o['min_test_loss_tau'], 2)}); ours (best "
                  f"valid) {' < '.join(o['bestval_loss'])} (tau {fmt(o['bestval_loss_tau'], 2)})")
    md += ["", "## FedGS against each method, paired by seed (min test loss)", "",
           "Runs of one seed share the partition and the availability draws: in how many seeds FedGS's "
           "loss is lower, and the mean paired difference (negative: FedGS lower).", ""]
    for w in wins:
        md.append(f"- {w['dataset']}, skew {w['skew']:g}: " + "; ".join(
            f"{m} {k}/{n} ({d:+.4f})" for m, (k, n, d) in w["versus"].items()))
    md += ["", *[f"![{name}]({name})" for name in pictures]]
    return "\n".join(md) + "\n"


def write_heterogeneity(out: str | Path, *, figures: bool = True) -> dict[str, Path]:
    """heterogeneity.csv, heterogeneity.md and (with `figures`) one PNG per dataset label, from every
    finished study run under `out`. Returns the paths written."""
    out = Path(out)
    runs = load_runs(out)
    rows = heterogeneity_rows(runs)
    written = {"csv": out / "heterogeneity.csv", "md": out / "heterogeneity.md"}
    write_csv(written["csv"], [{k: r[k] for k in COLUMNS} for r in rows], COLUMNS)
    pictures = []
    for label in sorted({r["dataset"] for r in rows}) if figures else ():
        name = f"heterogeneity_{slug(label)}.png"
        heterogeneity_figure(rows, runs, label).savefig(out / name, dpi=110)
        written[f"png:{label}"] = out / name
        pictures.append(name)
    atomic_write_text(written["md"], study_markdown(rows, paired_wins(runs), pictures))
    return written
