"""The paper's grid on Ray: one Ray task per cohort group, its runs' files sent back to the driver.

`run_grid_ray(plans, out)` is `grid.run_grid` spread over a Ray cluster (`reproduce --engine ray`). The
driver plans the cohort groups (`grid.cohort_groups`: one dataset and seed's runs), skips finished
runs, and submits one task per group. A task trains its group with `grid.run_members` in a temporary
folder of its own, starting from the files the driver sent (a checkpointed run resumes), and returns
every file of its runs as bytes; the driver writes them under `<out>/runs` as each task finishes. So
no shared filesystem is needed, and an interrupted grid keeps every finished task's runs. A task whose
worker dies or that raises is retried (`max_retries`); one that still fails leaves its runs for the
next call. Tasks ask for `cpus_per_task` CPUs and a fraction of a GPU (`gpus_per_task`; 0.5 packs two
cohorts on one device). Results equal the in-process grid's (the same code trains each group).

Ray is optional (`pip install 'fedgs_lite[ray]'`; flwr's simulation extra brings the version it pins)
and imported only when a grid runs on it. Without `address`, a local Ray is started (temp files in a
short folder under /tmp: Ray's socket paths must stay under 108 bytes) and shut down afterwards; with
`address="auto"` or "ray://host:port" the grid runs on a cluster started with `ray start`.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from fedgs_lite.files import atomic_write
from fedgs_lite.grid import RUNS_DIR, GridReport, PlannedRun, cohort_groups, run_members, write_cells
from fedgs_lite.rundir import HISTORY_FILE, is_done

MISSING_RAY = "--engine ray needs Ray: pip install 'fedgs_lite[ray]'"
Files = dict[str, bytes]  # one run directory: file name -> content


def require_ray():
    """The ray module, or an ImportError with one line saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ImportError(MISSING_RAY) from None
    return ray


# --------------------------------------------------------------------------- one task (no Ray needed)

def read_run_dir(run_dir: Path) -> Files:
    """Every file of a run directory (no temp files), history.json last: written last, it is what says
    a run is finished."""
    names = sorted(p.name for p in run_dir.iterdir() if p.is_file() and not p.name.startswith("."))
    names.sort(key=lambda n: n == HISTORY_FILE)
    return {n: (run_dir / n).read_bytes() for n in names}


def write_run_dir(run_dir: Path, files: Files) -> None:
    """Write a run directory's files atomically, in the order given."""
    for name, data in files.items():
        atomic_write(run_dir / name, lambda f, data=data: f.write(data), binary=True)


def train_group(members: Sequence[PlannedRun], files: dict[str, Files], deadline_wall: float | None,
                threads: int) -> dict[str, Any]:
    """What one Ray task does: train one cohort group (`grid.run_members`) in a temporary folder seeded
    with `files` (by run dirname), with `threads` torch threads; returns how many runs trained, the
    failed cells, the messages to show and every run's files. deadline_wall: a time.time() value."""
    import torch

    torch.set_num_threads(max(1, int(threads)))
    failed: list[tuple[str, str]] = []
    said: list[str] = []
    ran = 0
    with tempfile.TemporaryDirectory(prefix="fedgs-task-") as tmp:
        dirs = [Path(tmp) / p.dirname for p in members]
        for p, rd in zip(members, dirs, strict=True):
            rd.mkdir()
            write_run_dir(rd, files.get(p.dirname, {}))
        deadline = None if deadline_wall is None else time.monotonic() + deadline_wall - time.time()
        if deadline is None or time.monotonic() < deadline:
            ran = run_members(list(zip(members, dirs, strict=True)), deadline, False, failed, said.append)
        out = {p.dirname: read_run_dir(rd) for p, rd in zip(members, dirs, strict=True)}
    return dict(ran=ran, failed=failed, said=said, files=out)


# --------------------------------------------------------------------------- the driver

def start_ray(ray, address: str | None, num_cpus: int | None) -> str | None:
    """Connect to Ray (already initialised: as it is; `address`: that cluster) or start a local one;
    returns the temp folder of a Ray started here (None otherwise), for `stop_ray`."""
    if ray.is_initialized():
        return None
    if address:
        ray.init(address=address, log_to_driver=False)
        return None
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: AF_UNIX paths are limited to 107 bytes
    try:
        with warnings.catch_warnings():  # Ray's note on a future default that tasks here do not rely on
            warnings.filterwarnings("ignore", "Tip: In future versions of Ray", FutureWarning)
            ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False, logging_level="ERROR",
                     _temp_dir=temp)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return temp


def stop_ray(ray, temp: str | None) -> None:
    """Shut down a Ray that `start_ray` started here (and remove its temp folder); leave others be."""
    if temp is not None:
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)


def task_resources(cluster: dict[str, float], cpus: int, gpus: float | None) -> tuple[int, float]:
    """(CPUs, GPUs) per task on a cluster with these resources; gpus None: 0.5 when it has GPUs (two
    cohorts share a device), else 0. A task the cluster could never hold is refused here (Ray would
    leave it pending for ever)."""
    have_cpus, have_gpus = cluster.get("CPU", 0.0), cluster.get("GPU", 0.0)
    gpus = (0.5 if have_gpus > 0 else 0.0) if gpus is None else float(gpus)
    if cpus > have_cpus:
        raise ValueError(f"--cpus-per-task {cpus} is more than the Ray cluster's {have_cpus:g} CPUs")
    if gpus > have_gpus:
        raise ValueError(f"--gpus-per-task {gpus:g} is more than the Ray cluster's {have_gpus:g} GPUs"
                         + (" (it has none: leave --gpus-per-task out)" if not have_gpus else ""))
    return int(cpus), gpus


def submit(ray, groups: list[list[tuple[PlannedRun, Path]]], task: Callable, deadline: float | None, *,
           cpus_per_task: int, gpus_per_task: float | None, max_retries: int) -> dict[Any, list]:
    """One task per group, with the files its runs already have; {object ref: the group's members}."""
    cpus_per_task, gpus_per_task = task_resources(ray.cluster_resources(), cpus_per_task, gpus_per_task)
    remote = ray.remote(task).options(num_cpus=cpus_per_task, num_gpus=gpus_per_task, max_retries=max_retries,
                                      retry_exceptions=True)
    wall = None if deadline is None else time.time() + deadline - time.monotonic()
    pending = {}
    for members in groups:
        files = {p.dirname: read_run_dir(rd) for p, rd in members if rd.is_dir()}
        pending[remote.remote([p for p, _ in members], files, wall, cpus_per_task)] = members
    return pending


def collect(ray, pending: dict[Any, list], bar, failed: list[tuple[str, str]]) -> int:
    """Write each task's runs under --out as it finishes; a task that failed past its retries marks its
    runs failed. Returns how many runs trained."""
    ran = 0
    while pending:
        (ref,), _ = ray.wait(list(pending), num_returns=1)
        members = pending.pop(ref)
        try:
            result = ray.get(ref)
        except Exception as err:  # noqa: BLE001 - the task failed max_retries + 1 times: the runs stay to do
            why = f"{type(err).__name__}: {str(err).strip().splitlines()[-1] if str(err).strip() else ''}"
            failed += [(p.dirname, why) for p, _ in members]
            bar.write(f"a task of {len(members)} runs failed after its retries ({why})")
        else:
            for p, rd in members:
                write_run_dir(rd, result["files"][p.dirname])
            for line in result["said"]:
                bar.write(line)
            failed += [tuple(f) for f in result["failed"]]
            ran += result["ran"]
        bar.update(len(members))
    return ran


def run_grid_ray(plans: Sequence[PlannedRun], out: str | Path, *, progress: bool = True, cohorts: bool = True,
                 cohort_size: int | None = None, deadline: float | None = None, cpus_per_task: int = 1,
                 gpus_per_task: float | None = None, max_retries: int = 2, address: str | None = None,
                 num_cpus: int | None = None, task: Callable = train_group) -> GridReport:
    """`grid.run_grid` with one Ray task per cohort group (see the module docstring); the same report.

    gpus_per_task: a GPU fraction per task (None: 0.5 when the cluster has GPUs, else 0). address: a
    Ray cluster to use (None: a local Ray with `num_cpus` CPUs, default all). task: what each task
    runs, `train_group` (a wrapper may add logging, or fail on purpose in a test).
    """
    ray = require_ray()
    t0 = time.perf_counter()
    dirs = [Path(out) / RUNS_DIR / p.dirname for p in plans]
    write_cells(plans, dirs)
    todo = [(p, rd) for p, rd in zip(plans, dirs, strict=True) if not is_done(rd)]
    groups = [[todo[i] for i in g] for g in cohort_groups([p.config for p, _ in todo], cohorts, cohort_size)]
    failed: list[tuple[str, str]] = []
    bar = tqdm(total=len(plans), initial=len(plans) - len(todo), desc="grid (ray)", disable=not progress,
               dynamic_ncols=True)
    temp = start_ray(ray, address, num_cpus) if groups else None
    pending: dict[Any, list] = {}
    try:
        if groups:
            pending = submit(ray, groups, task, deadline, cpus_per_task=cpus_per_task,
                             gpus_per_task=gpus_per_task, max_retries=max_retries)
        ran = collect(ray, pending, bar, failed)
    except KeyboardInterrupt:
        for ref in pending:  # on a cluster they would run on; a local Ray stops in stop_ray
            ray.cancel(ref, force=True)
        raise
    finally:
        bar.close()
        stop_ray(ray, temp)
    left = sum(not is_done(rd) for _, rd in todo) - len(failed)
    return GridReport(ran=ran, reused=len(plans) - len(todo),
                      wall_time=time.perf_counter() - t0, run_dirs=dirs, failed=failed, left=left)
