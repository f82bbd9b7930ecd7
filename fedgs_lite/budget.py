"""The compute budget of a planned grid: analytic FLOPs per run and per dataset, and the rate it needs.

Upper bounds from each model's analytic forward FLOPs per sample (`models.count_flops`), so a budget
needs no data on disk and trains nothing (`python -m fedgs_lite reproduce --dry-run`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fedgs_lite.data import load_dataset
from fedgs_lite.grid import PlannedRun
from fedgs_lite.models import count_flops, make_model

# Train/test sizes and input shapes of the grid's image datasets, so a budget needs no data on disk
# (tests check them against the files).
IMAGE_SHAPES: dict[str, tuple[int, int, tuple[int, ...]]] = {
    "fashion_mnist": (60_000, 10_000, (1, 28, 28)),
    "cifar10": (50_000, 10_000, (3, 32, 32)),
    "cifar10-subset": (4_000, 1_000, (3, 32, 32)),
}
GOAL_SECONDS = 30 * 60  # issue 6: the whole grid in under 30 minutes of GPU time


def data_shape(p: PlannedRun) -> tuple[int, int, tuple[int, ...]]:
    """(train samples, test samples, input shape) of a planned run's dataset; train counts the
    clients' validation parts too."""
    c = p.config
    if c.dataset == "synthetic":
        ds = load_dataset("synthetic", seed=c.seed, num_clients=c.num_clients, alpha=c.synthetic_alpha,
                          beta=c.synthetic_beta, **c.synthetic_options)
        return len(ds.y_train), len(ds.y_test), ds.input_shape
    key = "cifar10-subset" if c.dataset == "cifar10" and "subset" in p.dataset_label else c.dataset
    return IMAGE_SHAPES[key]


def run_flops(p: PlannedRun) -> dict[str, float]:
    """Upper bounds on one run's floating-point work, from the model's analytic FLOPs per sample.

    train: every round M distinct clients of average size each train E epochs (or `steps` batches), at
    3x the forward FLOPs; MD's repeated picks and rounds with fewer than M available clients only lower
    it. poc: Power-of-Choice evaluates the global model on every candidate's validation part (its
    training data without a hold-out) each round (all clients counted as available). graph: FedGS's
    round-0 pass, when its 3DG uses update/logit features (label and oracle features cost nothing).
    eval: the test set and every client's validation part after every `eval_every` rounds and before
    round 1.
    """
    c = p.config
    n_data, n_test, shape = data_shape(p)
    fwd = float(count_flops(make_model(c.model_name, shape, 10), shape))
    held = c.holdout or (0.15 / 0.9 if c.dataset == "synthetic" and c.synthetic_setting == "paper" else 0.0)
    n_valid = held * n_data
    n_train = n_data - n_valid
    mean_size = n_train / c.num_clients
    per_client = c.steps * c.batch_size if c.steps is not None else c.epochs * mean_size
    train = c.rounds * c.m * per_client * 3 * fwd
    poc = 0.0
    if c.sampler == "poc":
        candidates = c.num_clients if c.poc_d is None else c.poc_d
        poc = c.rounds * candidates * (n_valid or n_train) / c.num_clients * fwd
    round0_pass = c.sampler == "fedgs" and c.graph_features in ("update", "logit")
    graph = c.num_clients * per_client * 3 * fwd if round0_pass else 0.0
    evals = c.rounds // c.eval_every + (0 if c.rounds % c.eval_every == 0 else 1) + 1
    return dict(train=train, poc=poc, graph=graph, eval=evals * (n_test + n_valid) * fwd)


def grid_budget(plans: Sequence[PlannedRun]) -> list[dict[str, Any]]:
    """The grid's compute per dataset: runs, rounds and PFLOP (upper bounds, see run_flops), plus the
    sustained TFLOP/s that would finish the whole grid within GOAL_SECONDS."""
    rows: dict[str, dict[str, Any]] = {}
    for p in plans:
        f = run_flops(p)
        r = rows.setdefault(p.dataset_label, dict(dataset=p.dataset_label, runs=0, rounds=p.config.rounds,
                                                  train=0.0, poc=0.0, graph=0.0, eval=0.0))
        r["runs"] += 1
        for k, v in f.items():
            r[k] += v
    out = list(rows.values())
    for r in out:
        r["total"] = r["train"] + r["poc"] + r["graph"] + r["eval"]
    return out


def format_budget(budget: Sequence[dict[str, Any]], tflops: float | None = None) -> str:
    """The budget as text; with `tflops` (a sustained rate, e.g. from benchmarks/bench_training.py) also
    the projected time."""
    lines = ["compute budget (upper bounds; PFLOP = 1e15 floating-point operations):"]
    for r in budget:
        parts = ", ".join(f"{k} {r[k] / 1e15:.3g}" for k in ("train", "poc", "graph", "eval") if r[k])
        eta = f"; ~{r['total'] / (tflops * 1e12) / 60:.1f} min at {tflops:g} TFLOP/s" if tflops else ""
        lines.append(f"  {r['dataset']:28s} {r['runs']:3d} runs x {r['rounds']} rounds: "
                     f"{r['total'] / 1e15:8.3g} PFLOP ({parts}){eta}")
    total = sum(r["total"] for r in budget)
    need = total / GOAL_SECONDS / 1e12
    lines.append(f"  whole grid: {total / 1e15:.2f} PFLOP; finishing in {GOAL_SECONDS // 60} min needs "
                 f">= {need:.1f} TFLOP/s sustained" + (f"; ~{total / (tflops * 1e12) / 60:.1f} min at "
                                                       f"{tflops:g} TFLOP/s" if tflops else ""))
    return "\n".join(lines)
