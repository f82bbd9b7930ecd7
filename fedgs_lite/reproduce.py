"""The `reproduce` command's work: plan a study's cells, run the grid, write and print its summary.

`plan_reproduce(args)` turns the command's flags into planned cells (the paper grid, or the authors'
heterogeneity study with `--study heterogeneity`); `dry_run` lists them with their compute budget;
`run_reproduce` runs them resumably into `--out`, logs the call, rewrites the folder's summary from
every finished cell under it and prints it (for the study also its table beside the authors' numbers).
The command line itself (flags, one-line errors) is cli.py.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from fedgs_lite import grid_flags, paper
from fedgs_lite.budget import format_budget, grid_budget
from fedgs_lite.files import lock_folder, remove_orphaned_temps
from fedgs_lite.grid import (
    GRID_DATASETS,
    RUNS_DIR,
    PlannedRun,
    grid_cells,
    partition_label,
    plan_grid,
)
from fedgs_lite.grid_log import GRID_LOG, device_name, grid_calls, log_grid_call
from fedgs_lite.heterogeneity import heterogeneity_rows, study_cells, write_heterogeneity
from fedgs_lite.preflight import check_configs, check_output_folder
from fedgs_lite.rundir import is_done
from fedgs_lite.summary import compare_rankings, fmt, format_summary, load_runs, summarise
from fedgs_lite.summary_files import write_summary
from fedgs_lite.tables import format_table

CONV_FREE_MODELS = ("synthetic", "fashion_mnist_lr")  # logistic regressions: one Linear layer


def plan_reproduce(args: argparse.Namespace) -> list[PlannedRun]:
    """The planned cells of a `reproduce` call: the paper grid or the heterogeneity study, 5 seeds (1 with
    --tiny) unless --seeds, into --out (default runs/reproduce or runs/heterogeneity, "-tiny" for --tiny:
    the committed results/ is written only when asked for, --out results)."""
    seeds = tuple(range(args.seeds if args.seeds is not None else (1 if args.tiny else paper.SEEDS)))
    samplers = csv_list(args.samplers or ",".join(paper.SAMPLERS))
    if args.study == "heterogeneity":
        if args.datasets or args.modes:
            raise ValueError("--study heterogeneity fixes the dataset and mode (Fashion-MNIST, LDF-0.9); "
                             "leave out --datasets and --modes")
        cells = study_cells(seeds, samplers)
    else:
        datasets = args.datasets or ("synthetic" if args.tiny else ",".join(GRID_DATASETS))
        cells = grid_cells(csv_list(datasets), csv_list(args.modes or ",".join(paper.MODE_KEYS)), samplers,
                           seeds)
    args.out = args.out or default_out(args.study, args.tiny)
    return plan_grid(cells, rounds=args.rounds, tiny=args.tiny, data_root=args.data_root, device=args.device,
                     model=args.model, study=args.study)


def default_out(study: str, tiny: bool) -> str:
    """Where a reproduce call writes without --out: a folder under runs/, never the committed results/."""
    return str(Path("runs") / (("reproduce" if study == "paper" else study) + ("-tiny" if tiny else "")))


def csv_list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def dry_run(plans: list[PlannedRun], args: argparse.Namespace) -> int:
    """List the planned cells (done or to do) and the grid's compute budget; train nothing."""
    out = Path(args.out)
    finished = [is_done(out / RUNS_DIR / p.dirname) for p in plans]
    for p, done in zip(plans, finished, strict=True):
        c = p.config
        print(f"{'done' if done else 'todo'}  {p.dataset_label:28s} {partition_label(c):24s} "
              f"{p.cell.spec:8s} {p.cell.sampler:8s} "
              f"seed={p.cell.seed} N={c.num_clients} M={c.m} R={c.rounds} E={c.epochs} steps={c.steps} "
              f"lr={c.lr:g}  {p.dirname}")
    print(format_budget(grid_budget(plans), args.tflops))
    done = sum(finished)
    print(f"{len(plans)} cells ({done} finished, {len(plans) - done} to run) -> {out / RUNS_DIR}")
    return 0


def run_reproduce(plans: list[PlannedRun], args: argparse.Namespace) -> int:
    """Check what can be checked, then lock --out and train the planned cells into it."""
    out, dev = Path(args.out), device_name(args.device)
    check_configs([p.config for p in plans])
    runner = grid_flags.grid_runner(args)  # a missing engine is refused before any folder is made
    check_output_folder(args.out)
    with lock_folder(out, "grid folder"):
        remove_orphaned_temps(out)
        return train_grid(plans, args, out, dev, runner)


def train_grid(plans: list[PlannedRun], args: argparse.Namespace, out: Path, dev: str, runner) -> int:
    """Run the planned cells into --out (this process or Ray), log the call, write and print the folder's
    whole summary (a --shard call writes none: the call over every shard's runs does)."""
    deadline = None if args.time_limit is None else time.monotonic() + args.time_limit
    started, t0 = time.strftime("%Y-%m-%dT%H:%M:%S%z"), time.perf_counter()
    threads = torch.get_num_threads()
    if all(p.config.model_name in CONV_FREE_MODELS for p in plans):
        torch.set_num_threads(1)  # tiny ops only lose from intra-op threads (7x slower on a loaded CPU)
    try:
        report = runner(plans, out, progress=not args.no_progress, cohorts=not args.no_cohorts,
                        cohort_size=args.cohort_size, deadline=deadline)
    except KeyboardInterrupt:
        log_grid_call(out, started=started, device=dev, wall_time=time.perf_counter() - t0, interrupted=True)
        raise
    finally:
        torch.set_num_threads(threads)
    log_grid_call(out, started=started, device=dev, wall_time=report.wall_time, ran=report.ran,
                  reused=report.reused, left=report.left, failed=len(report.failed))
    if args.shard is not None:
        return grid_flags.shard_done(report, args)
    # every finished cell under --out, not only this call's: a subset call never shrinks the summary
    write_summary(out, wall_time=report.wall_time, device=dev, figures=not args.no_figures)
    rows = summarise(out)
    print(format_summary(rows) + "\n")
    for c in compare_rankings(rows):
        print(f"{c['dataset']} / {c['partition']} / {c['mode']}: {' > '.join(c['ours'])}. {c['verdict']}.")
    if args.study == "heterogeneity":
        print_heterogeneity(out, figures=not args.no_figures)
    calls = grid_calls(out)
    print(f"\n{report.ran} runs trained, {report.reused} reused; this call {report.wall_time:.1f} s, "
          f"{sum(c['wall_time'] for c in calls):.1f} s over the {len(calls)} calls logged in "
          f"{out / GRID_LOG} on {dev}; summary in {out / 'summary.csv'} and {out / 'summary.md'}")
    if report.left:
        print(f"time limit reached: {report.left} cells left; rerun the same command to continue")
    for name, why in report.failed:
        print(f"cell failed (rerun the same command to retry it): {name}: {why}", file=sys.stderr)
    return 1 if report.failed else 0


def print_heterogeneity(out: Path, figures: bool) -> None:
    """Write the heterogeneity study's table and figure and print the table beside the authors'."""
    written = write_heterogeneity(out, figures=figures)
    head = ["dataset", "method", "skew", "authors", "ours: min test loss", "ours: loss at best valid"]
    body = [[r["dataset"], r["sampler"], f"{r['skew']:g}", fmt(r["authors_loss"]) or "n/r",
             f"{fmt(r['min_test_loss_mean'])}+-{fmt(r['min_test_loss_std'])}",
             f"{fmt(r['bestval_loss_mean'])}+-{fmt(r['bestval_loss_std'])}"]
            for r in heterogeneity_rows(load_runs(out))]
    print("\nthe heterogeneity study beside the authors' numbers (fedgs:niid_degree_plot.py):\n"
          + format_table(head, body) + f"\ntable and orderings: {written['md']}")
