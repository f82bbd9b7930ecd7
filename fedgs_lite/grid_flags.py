"""Where `reproduce` runs the grid: its flags for this process, a Ray cluster, or one shard of n.

`configure(parser)` adds --engine, --ray-address, --cpus-per-task, --gpus-per-task, --max-retries and
--shard; `select_shard(plans, args)` keeps the plans of the requested shard (shards.py),
`grid_runner(args)` gives the function that runs the plans (`grid.run_grid` or
`ray_grid.run_grid_ray` with its options), and `shard_done` ends a --shard call (a shard writes no
summary: the call without --shard over every shard's runs does). Light to import (the cli's rule).
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--engine", choices=("local", "ray"), default="local",
                        help="local: train in this process (default); ray: one Ray task per cohort group, "
                             "results sent back here (pip install 'fedgs_lite[ray]')")
    parser.add_argument("--ray-address", default=None,
                        help="with --engine ray: a running cluster (auto, or ray://host:port; default: start "
                             "a local Ray on this machine's CPUs and GPUs)")
    parser.add_argument("--cpus-per-task", type=int, default=1,
                        help="with --engine ray: CPUs (torch threads) per task (default %(default)s)")
    parser.add_argument("--gpus-per-task", type=float, default=None,
                        help="with --engine ray: GPU share per task, e.g. 0.5 packs two cohorts on a GPU "
                             "(default: 0.5 when the cluster has GPUs, else 0)")
    parser.add_argument("--max-retries", type=int, default=2,
                        help="with --engine ray: retries of a task whose worker died or that raised "
                             "(default %(default)s)")
    parser.add_argument("--shard", default=None, metavar="I/N",
                        help="run only part I of N (1 <= I <= N) of the grid, one per job of a plain "
                             "scheduler; then run once without --shard over all shards' runs for the summary")


def select_shard(plans: list, args: argparse.Namespace) -> list:
    """The plans of shard --shard (all of them without the flag)."""
    if args.shard is None:
        return plans
    from fedgs_lite.shards import parse_shard, shard_plans

    return shard_plans(plans, *parse_shard(args.shard), cohorts=not args.no_cohorts,
                       cohort_size=args.cohort_size)


def grid_runner(args: argparse.Namespace) -> Callable:
    """grid.run_grid, or the Ray engine with the flags' options (a one-line ValueError without Ray)."""
    if args.engine == "local":
        from fedgs_lite.grid import run_grid

        return run_grid
    checks = (("--cpus-per-task", args.cpus_per_task, 1), ("--max-retries", args.max_retries, 0),
              ("--gpus-per-task", 0 if args.gpus_per_task is None else args.gpus_per_task, 0))
    for flag, value, least in checks:
        if value < least:
            raise ValueError(f"{flag} must be >= {least}, got {value}")
    from fedgs_lite.ray_grid import require_ray, run_grid_ray

    try:
        require_ray()
    except ImportError as err:
        raise ValueError(str(err)) from None
    return functools.partial(run_grid_ray, cpus_per_task=args.cpus_per_task, gpus_per_task=args.gpus_per_task,
                             max_retries=args.max_retries, address=args.ray_address)


def shard_done(report, args: argparse.Namespace) -> int:
    """The end of a --shard call: what it did, and how to get the summary of the whole grid."""
    print(f"shard {args.shard}: {report.ran} runs trained, {report.reused} reused, {report.wall_time:.1f} s. "
          "When every shard is done, run the same command without --shard over one --out folder that holds "
          "every shard's runs/: it reuses them all and writes the summary")
    if report.left:
        print(f"time limit reached: {report.left} cells left; rerun the same command to continue")
    for name, why in report.failed:
        print(f"cell failed (rerun the same command to retry it): {name}: {why}", file=sys.stderr)
    return 1 if report.failed else 0
