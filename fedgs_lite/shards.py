"""Splitting the grid into shards for a plain job scheduler: `reproduce --shard i/n` runs part i of n.

No cluster engine needed: n jobs (a SLURM array, n machines, n terminals) each run the same command
with their own `--shard i/n`. The parts are disjoint and together hold every planned cell, whatever is
already finished (the split depends only on the plan, so every job computes the same split). The unit
is a cohort group (one dataset and seed's runs, at most --cohort-size of them), so shards keep the
cohort batching; groups go to shards by estimated compute (`budget.run_flops`), largest first, each to
the shard with the least so far. Point the jobs at one --out folder (or copy their `runs/` folders
into one), then run the command once more without --shard: it reuses every finished run and writes
the summary of the whole grid.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from fedgs_lite.budget import run_flops
from fedgs_lite.grid import PlannedRun, cohort_groups


def parse_shard(text: str) -> tuple[int, int]:
    """"i/n" -> (i, n), 1 <= i <= n; a one-line ValueError otherwise."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
    if not match or not 1 <= int(match[1]) <= int(match[2]):
        raise ValueError(f"--shard must be i/n with 1 <= i <= n (e.g. 2/4), got {text!r}")
    return int(match[1]), int(match[2])


COSTS: dict[tuple, float] = {}  # plan_cost's memo: every job of a big grid computes the same split


def plan_cost(p: PlannedRun) -> float:
    """A run's estimated FLOPs (`budget.run_flops`, which does not depend on the availability mode)."""
    key = (p.dataset_label, p.config.replace(mode="IDL", name=""))
    if key not in COSTS:
        COSTS[key] = float(sum(run_flops(p).values()))
    return COSTS[key]


def shard_groups(plans: Sequence[PlannedRun], num_shards: int, *, cohorts: bool = True,
                 cohort_size: int | None = None) -> list[list[int]]:
    """For each shard, the indices of its plans (in plan order). Deterministic: cohort groups sorted by
    estimated FLOPs (ties: plan order), each given to the shard with the least so far (ties: the first)."""
    if num_shards < 1:
        raise ValueError(f"the number of shards must be >= 1, got {num_shards}")
    groups = cohort_groups([p.config for p in plans], cohorts, cohort_size)
    cost = [sum(plan_cost(plans[i]) for i in g) for g in groups]
    load, shards = [0.0] * num_shards, [[] for _ in range(num_shards)]
    for k in sorted(range(len(groups)), key=lambda k: (-cost[k], groups[k][0])):
        target = min(range(num_shards), key=lambda s: (load[s], s))
        load[target] += cost[k]
        shards[target] += groups[k]
    return [sorted(s) for s in shards]


def shard_plans(plans: Sequence[PlannedRun], shard: int, num_shards: int, *, cohorts: bool = True,
                cohort_size: int | None = None) -> list[PlannedRun]:
    """Part `shard` (1-based) of `num_shards`: the plans of its cohort groups, in plan order."""
    if not 1 <= shard <= num_shards:
        raise ValueError(f"shard must be in 1..{num_shards}, got {shard}")
    picked = shard_groups(plans, num_shards, cohorts=cohorts, cohort_size=cohort_size)[shard - 1]
    return [plans[i] for i in picked]
