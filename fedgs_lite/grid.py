"""The paper's grid: dataset x availability mode x sampler x seed, planned from paper.py and run resumably.

Each cell is one `ExperimentConfig` built from the authors' settings (fedgs_lite.paper: their local
steps, clients per round, constant lr, validation hold-out, oracle 3DG; size-based modes on their
`dist 4` partition, FedProx with mu 0.01) and trained in its own run directory
`<out>/runs/<dataset>-<mode>-<sampler>-s<seed>-<run_id>`, beside a cell.json that says which cell it
is. A cell may also fix the dist-4 skew (the heterogeneity study, heterogeneity.py). A finished run
is read back instead of recomputed, so an interrupted grid resumes where it stopped; the runs of one
dataset and seed train together as a cohort. Every call is logged in `<out>/grid_calls.jsonl`
(grid_log.py), so a grid spread over several calls reports its whole time.
`summary.py` reduces the finished runs; `budget.py` counts what a planned grid costs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from fedgs_lite import paper
from fedgs_lite.config import ExperimentConfig
from fedgs_lite.files import atomic_write_text
from fedgs_lite.loop import group_cohorts, run_cohort, run_experiment
from fedgs_lite.readers import cifar_variant
from fedgs_lite.rundir import CONFIG_FILE, RunFolderError, is_done, set_aside, stored_config

GRID_DATASETS = ("synthetic", "fashion_mnist", "cifar10")
RUNS_DIR = "runs"
CELL_FILE = "cell.json"

# --tiny: the CI pipeline check, not a result (few rounds, few clients, a few local steps).
TINY = dict(rounds=3, num_clients=10, steps=2, batch_size=16, seeds=(0,))


@dataclass(frozen=True)
class Cell:
    """One grid cell: what varies across the grid (the rest comes from the paper's settings)."""

    dataset: str          # paper dataset key: synthetic, fashion_mnist, cifar10
    mode: str             # availability mode key, e.g. "LN"
    sampler: str
    seed: int
    skew: float | None = None  # the authors' dist-4 partition at this skew (None: the dataset's own)

    @property
    def spec(self) -> str:
        return paper.MODE_SPECS[self.mode]


@dataclass(frozen=True)
class PlannedRun:
    cell: Cell
    config: ExperimentConfig
    dataset_label: str    # e.g. "cifar10 (subset 4000/1000)"
    grid: str             # "paper", "tiny", "heterogeneity", ...

    @property
    def dirname(self) -> str:
        c = self.cell
        skew = "" if c.skew is None else f"-skew{c.skew:g}"
        return f"{c.dataset}{skew}-{c.mode}-{c.sampler}-s{c.seed}-{self.config.run_id}"


def partition_label(config: ExperimentConfig) -> str:
    """How a config splits its data, in a few words: "label_skew (2 per client)", "dist 4, skew 0.7"."""
    scheme = config.partition_scheme
    if scheme == "label_skew":
        return f"label_skew ({config.classes_per_client} per client)"
    if scheme == "dirichlet_lognormal":
        return f"dist 4, skew {config.skew:g}" if config.skew is not None else \
            f"dist 4, alpha {config.dirichlet_alpha:g}"
    return scheme


# --------------------------------------------------------------------------- planning

def check_choice(values: Sequence[str], allowed: Sequence[str], what: str) -> list[str]:
    """`values` when each is allowed and none repeats, else a ValueError naming the choices."""
    values = list(values)
    if not values:
        raise ValueError(f"no {what} given; allowed: {', '.join(allowed)}")
    bad = [v for v in values if v not in allowed]
    if bad:
        raise ValueError(f"unknown {what} {bad}; allowed: {', '.join(allowed)}")
    if len(set(values)) != len(values):
        raise ValueError(f"{what} listed twice: {values}")
    return values


def grid_cells(datasets: Sequence[str] = GRID_DATASETS, modes: Sequence[str] = paper.MODE_KEYS,
               samplers: Sequence[str] = paper.SAMPLERS,
               seeds: Sequence[int] = range(paper.SEEDS)) -> list[Cell]:
    """Every (dataset, mode, sampler, seed), in that nesting order."""
    datasets = check_choice(datasets, GRID_DATASETS, "datasets")
    modes = check_choice(modes, paper.MODE_KEYS, "modes")
    samplers = check_choice(samplers, paper.SAMPLERS, "samplers")
    seeds = list(seeds)
    if not seeds or any(not isinstance(s, int | np.integer) or s < 0 for s in seeds):
        raise ValueError(f"seeds must be a non-empty list of ints >= 0, got {seeds}")
    return [Cell(d, m, s, int(k)) for d in datasets for m in modes for s in samplers for k in seeds]


def build_config(cell: Cell, *, rounds: int | None = None, tiny: bool = False, data_root: str | None = None,
                 device: str = "auto", cifar: str | None = "full", model: str = "auto") -> ExperimentConfig:
    """The ExperimentConfig of one cell: the paper's setting for its dataset (fedgs_lite.paper), the
    cell's mode/sampler/seed, optionally fewer rounds or another model; `tiny` shrinks everything for a
    pipeline check. MDF and LDF run on the authors' dist-4 task (paper.SIZE_MODE_PARTITIONS), where
    sizes differ; FedProx gets its mu from its registration (samplers.py)."""
    st = paper.setting(cell.dataset)
    num_clients, proportion = st.num_clients, st.proportion
    if cell.dataset == "cifar10" and cifar == "subset":
        num_clients, proportion = paper.CIFAR_SUBSET_NUM_CLIENTS, paper.CIFAR_SUBSET_PROPORTION
    kw: dict[str, Any] = dict(
        dataset=cell.dataset, data_root=data_root, partition=st.partition,
        classes_per_client=st.classes_per_client or 2, mode=cell.spec, sampler=cell.sampler,
        fedgs_alpha=st.fedgs_alpha, rounds=st.rounds, epochs=st.local_epochs, steps=st.local_steps,
        batch_size=st.batch_size, lr=st.lr, lr_decay=st.lr_decay, seed=cell.seed, device=device,
        holdout=st.holdout, graph_features=st.graph_features, model=model)
    if st.synthetic_alpha is not None:
        kw.update(synthetic_alpha=st.synthetic_alpha, synthetic_beta=st.synthetic_beta,
                  synthetic_setting="paper" if st.synthetic_options else "demo")
    if cell.mode in paper.SIZE_MODES and cell.dataset in paper.SIZE_MODE_PARTITIONS:
        kw.update(paper.SIZE_MODE_PARTITIONS[cell.dataset])
    if cell.skew is not None:
        kw.update(partition="dirichlet_lognormal", skew=cell.skew, holdout=paper.IMAGE_HOLDOUT)
    if tiny:
        num_clients = min(num_clients, TINY["num_clients"])
        kw.update(rounds=TINY["rounds"], epochs=None, steps=TINY["steps"], batch_size=TINY["batch_size"])
    kw["num_clients"] = num_clients
    kw["clients_per_round"] = max(1, int(proportion * num_clients))  # authors: max(int(p * N), 1)
    if rounds is not None:
        kw["rounds"] = rounds
    return ExperimentConfig(**kw)


def plan_grid(cells: Iterable[Cell], *, rounds: int | None = None, tiny: bool = False,
              data_root: str | None = None, device: str = "auto", model: str = "auto",
              study: str = "paper") -> list[PlannedRun]:
    """Configs for the cells, labelled `study` ("paper" or "heterogeneity"; tiny ones say so). CIFAR-10
    falls back to the benchmark subset (labelled as such); without any CIFAR-10 data its cells raise a
    ValueError saying where to put the files. A model other than the dataset's own is in the label."""
    cells = list(cells)
    variant = cifar_variant(data_root) if any(c.dataset == "cifar10" for c in cells) else "full"
    if variant is None:
        raise ValueError("cifar10 is in the grid but neither the full CIFAR-10 (cifar-10-batches-py/) nor "
                         "the subset (cifar10-subset/cifar10_subset.npz) is under the data roots; pass "
                         "--data-root or leave cifar10 out (--datasets synthetic,fashion_mnist)")
    plans = []
    for c in cells:
        label = c.dataset
        if c.dataset == "cifar10" and variant == "subset":
            label = "cifar10 (subset 4000/1000)"
        if model != "auto":
            label += f" [{model}]"
        if tiny:
            label += " [tiny]"
        cfg = build_config(c, rounds=rounds, tiny=tiny, data_root=data_root, device=device, cifar=variant,
                           model=model)
        grid = study if rounds is None else f"{study}, {rounds} rounds"
        if tiny:
            grid = "tiny" if study == "paper" else f"{study}, tiny"
        plans.append(PlannedRun(cell=c, config=cfg, dataset_label=label, grid=grid))
    return plans


# --------------------------------------------------------------------------- running

@dataclass
class GridReport:
    ran: int
    reused: int
    wall_time: float
    run_dirs: list[Path]
    failed: list[tuple[str, str]] = field(default_factory=list)  # (run dir name, error)
    left: int = 0          # cells not finished because the deadline passed (rerun to continue)


def write_cells(plans: Sequence[PlannedRun], dirs: Sequence[Path]) -> None:
    """Each run directory's cell.json (labels only: rewriting it never touches results). A cell's
    folder is named by its run_id, so an unreadable config.json there is set aside and written again
    from the plan (what is damaged besides is recomputed when the cell is opened)."""
    for p, rd in zip(plans, dirs, strict=True):
        try:
            stored_config(rd)
        except RunFolderError as err:
            set_aside(rd / CONFIG_FILE, f"cannot be read ({err.reason})", "written again from the plan")
            atomic_write_text(rd / CONFIG_FILE, p.config.to_json())
        cell = json.dumps(dict(dataset=p.cell.dataset, dataset_label=p.dataset_label, mode=p.cell.mode,
                               spec=p.cell.spec, sampler=p.cell.sampler, seed=p.cell.seed, grid=p.grid,
                               skew=p.cell.skew, partition=partition_label(p.config),
                               run_id=p.config.run_id), indent=1)
        cell_path = rd / CELL_FILE
        if not cell_path.exists() or cell_path.read_text() != cell:
            rd.mkdir(parents=True, exist_ok=True)
            atomic_write_text(cell_path, cell)


def cohort_groups(configs: Sequence[ExperimentConfig], cohorts: bool,
                  cohort_size: int | None) -> list[list[int]]:
    """Indices of `configs` to train together: a dataset and seed's runs, at most cohort_size at a time
    (one by one without cohorts)."""
    if cohort_size is not None and cohort_size < 1:
        raise ValueError(f"cohort_size must be >= 1 or None, got {cohort_size}")
    groups = group_cohorts(configs) if cohorts else [[i] for i in range(len(configs))]
    size = cohort_size or max(map(len, groups), default=1)
    return [g[a:a + size] for g in groups for a in range(0, len(g), size)]


def run_members(members: list[tuple[PlannedRun, Path]], deadline: float | None, progress: bool,
                failed: list[tuple[str, str]], say) -> int:
    """Train one group; a failed cohort is retried run by run, a failed run is recorded in `failed`.
    Returns how many runs trained."""
    if len(members) > 1:
        try:
            run_cohort([p.config for p, _ in members], [rd for _, rd in members], progress=progress,
                       deadline=deadline)
            return len(members)
        except Exception as err:  # noqa: BLE001 - retried cell by cell below
            say(f"a cohort of {len(members)} runs failed ({type(err).__name__}: {err}); "
                "running its cells one by one")
    ran = 0
    for p, rd in members:
        try:
            run_experiment(p.config, rd, progress=False, deadline=deadline)
            ran += 1
        except Exception as err:  # noqa: BLE001 - reported per cell; KeyboardInterrupt still stops
            failed.append((p.dirname, f"{type(err).__name__}: {err}"))
            say(f"cell {p.dirname} failed: {type(err).__name__}: {err}")
    return ran


def run_grid(plans: Sequence[PlannedRun], out: str | Path, *, progress: bool = True, cohorts: bool = True,
             cohort_size: int | None = None, deadline: float | None = None) -> GridReport:
    """Run every planned cell in `<out>/runs/<dirname>`, reusing finished ones; returns counts and time.

    cohorts=True trains the cells that share data and local training (one dataset and seed: every mode
    and sampler) together, one batched computation per round, at most `cohort_size` runs at a time;
    results equal the separate runs' (bit for bit on CPU). A cell or cohort that raises (a solver error,
    CUDA out of memory...) does not stop the grid: a failed cohort is retried cell by cell, a failed
    cell is recorded in `failed`, and rerunning retries only what is not done. deadline (a
    time.monotonic() value): runs stop with a checkpoint after the round in which it passes and no new
    ones start; `left` counts the cells still to do.
    """
    t0 = time.perf_counter()
    dirs = [Path(out) / RUNS_DIR / p.dirname for p in plans]
    write_cells(plans, dirs)
    todo = [(p, rd) for p, rd in zip(plans, dirs, strict=True) if not is_done(rd)]
    groups = cohort_groups([p.config for p, _ in todo], cohorts, cohort_size)
    ran, failed = 0, []
    bar = tqdm(total=len(plans), initial=len(plans) - len(todo), desc="grid", disable=not progress,
               dynamic_ncols=True)
    for group in groups:
        if deadline is not None and time.monotonic() >= deadline:
            break
        members = [todo[i] for i in group]
        c = members[0][0].cell
        bar.set_postfix_str(f"{c.dataset} seed {c.seed}: {len(members)} runs" if len(members) > 1 else
                            f"{c.dataset} {c.mode} {c.sampler} s{c.seed}")
        ran += run_members(members, deadline, progress, failed, bar.write)
        bar.update(len(members))
    bar.close()
    left = sum(not is_done(rd) for _, rd in todo) - len(failed)
    return GridReport(ran=ran, reused=len(plans) - len(todo), wall_time=time.perf_counter() - t0,
                      run_dirs=dirs, failed=failed, left=left)
