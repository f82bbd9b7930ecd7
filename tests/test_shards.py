"""reproduce --shard i/n: disjoint parts whose union is the whole grid, whole cohort groups per shard,
the same split on every call, and a summary over all shards' runs that covers the whole grid."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fedgs_lite.budget import run_flops
from fedgs_lite.cli import main
from fedgs_lite.grid import RUNS_DIR, cohort_groups, grid_cells, plan_grid
from fedgs_lite.shards import parse_shard, shard_groups, shard_plans


def test_parse_shard_reads_i_of_n_and_refuses_the_rest():
    assert parse_shard("2/4") == (2, 4) and parse_shard(" 1 / 1 ") == (1, 1)
    for bad in ("0/3", "4/3", "3", "a/b", "1/0", "-1/2", "1/2/3"):
        with pytest.raises(ValueError, match="--shard must be i/n"):
            parse_shard(bad)


def paper_like_plans():
    """Two datasets x 3 modes x 4 samplers x 2 seeds (48 runs, 4 cohort groups), no data needed."""
    samplers = ["uniform", "md", "poc", "fedgs"]
    cells = grid_cells(["synthetic", "fashion_mnist"], ["IDL", "LN", "YMF"], samplers, (0, 1))
    return plan_grid(cells, tiny=True, device="cpu")


@pytest.mark.parametrize("cohort_size", [None, 5])
def test_shards_are_disjoint_whole_cohort_groups_whose_union_is_the_grid(cohort_size):
    plans = paper_like_plans()
    groups = cohort_groups([p.config for p in plans], True, cohort_size)
    group_of = {i: k for k, g in enumerate(groups) for i in g}
    for n in range(1, 8):
        shards = shard_groups(plans, n, cohort_size=cohort_size)
        assert len(shards) == n
        flat = [i for s in shards for i in s]
        assert sorted(flat) == list(range(len(plans))) and len(set(flat)) == len(flat)  # disjoint, complete
        for s in shards:  # a cohort group is never split over shards
            assert {i for k in {group_of[i] for i in s} for i in groups[k]} == set(s)
        assert shards == shard_groups(plans, n, cohort_size=cohort_size)  # the same split every time
        parts = [[p.dirname for p in shard_plans(plans, i + 1, n, cohort_size=cohort_size)] for i in range(n)]
        assert parts == [[plans[i].dirname for i in s] for s in shards]


def test_shards_balance_the_estimated_compute():
    plans = paper_like_plans()
    groups = cohort_groups([p.config for p in plans], True, 3)  # 16 groups of 3
    flops = [sum(run_flops(p).values()) for p in plans]
    cost = [sum(flops[i] for i in g) for g in groups]
    for n in (2, 3, 4):
        loads = [sum(flops[i] for i in s) for s in shard_groups(plans, n, cohort_size=3)]
        assert max(loads) - min(loads) <= max(cost)  # greedy largest-first: within one group of each other
        assert all(load > 0 for load in loads)


def test_more_shards_than_groups_leaves_some_empty_but_still_covers_the_grid():
    plans = paper_like_plans()  # 4 cohort groups
    shards = shard_groups(plans, 6)
    assert sum(1 for s in shards if not s) == 2 and sorted(i for s in shards for i in s) == list(range(48))


def dry_run_dirs(capsys, *args: str) -> list[str]:
    assert main(["reproduce", "--tiny", "--dry-run", *args]) == 0
    lines = capsys.readouterr().out.splitlines()
    return [line.split()[-1] for line in lines if line.startswith(("todo", "done"))]


def test_dry_run_of_each_shard_lists_its_part(capsys, tmp_path):
    common = ["--modes", "IDL,LN,YMF", "--samplers", "uniform,fedgs", "--seeds", "3", "--out", str(tmp_path)]
    whole = dry_run_dirs(capsys, *common)
    parts = [dry_run_dirs(capsys, *common, "--shard", f"{i}/3") for i in (1, 2, 3)]
    assert all(parts) and sorted(d for p in parts for d in p) == sorted(whole) and len(whole) == 18
    assert {tuple(sorted({d.split("-s")[1][0] for d in p})) for p in parts} == {("0",), ("1",), ("2",)}


def summary_rows(out: Path) -> list[str]:
    return (out / "summary.csv").read_text().splitlines()


def test_shards_run_apart_then_one_call_without_shard_summarises_the_whole_grid(tmp_path, capsys,
                                                                               one_torch_thread):
    common = ["reproduce", "--tiny", "--modes", "IDL,LN", "--samplers", "uniform,fedgs", "--seeds", "2",
              "--no-progress", "--no-figures"]
    for i in (1, 2):  # two jobs, two machines without a shared folder
        assert main([*common, "--shard", f"{i}/2", "--out", str(tmp_path / f"job{i}")]) == 0
        said = capsys.readouterr().out
        assert f"shard {i}/2: 4 runs trained, 0 reused" in said and "without --shard" in said
        assert not (tmp_path / f"job{i}" / "summary.csv").exists()  # a part's summary would mislead
    merged = tmp_path / "merged" / RUNS_DIR
    for i in (1, 2):
        shutil.copytree(tmp_path / f"job{i}" / RUNS_DIR, merged, dirs_exist_ok=True)
    assert len(list(merged.iterdir())) == 8
    assert main([*common, "--out", str(tmp_path / "merged")]) == 0
    assert "0 runs trained, 8 reused" in capsys.readouterr().out
    assert main([*common, "--out", str(tmp_path / "whole")]) == 0  # the same grid in one call
    assert summary_rows(tmp_path / "merged") == summary_rows(tmp_path / "whole")
    assert len(summary_rows(tmp_path / "whole")) == 1 + 4  # header + (2 modes x 2 samplers), over 2 seeds
