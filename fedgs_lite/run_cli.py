"""`python -m fedgs_lite run`: train several samplers side by side on one dataset and availability mode.

With no arguments it trains uniform, MD, Power-of-Choice and FedGS on the embedded synthetic data on
the CPU, prints a comparison table and saves learning curves under runs/<time>/. Each sampler's run
directory is resumable: rerunning with the same --out continues or reuses finished runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

DEFAULTS = dict(dataset="synthetic", mode="YMF-0.9", samplers="uniform,md,poc,fedgs", rounds=60, clients=30,
                m=6, seed=0, device="cpu", engine="auto", steps=10, batch_size=10, lr=0.1)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    d = DEFAULTS
    parser.add_argument("--dataset", default=d["dataset"],
                        help="synthetic (embedded), digits, mnist, fashion_mnist, cifar10 "
                             "(default %(default)s)")
    parser.add_argument("--mode", default=d["mode"],
                        help="availability mode, e.g. IDL, LN-0.5, YMF-0.9, MDF-1e-4 (default %(default)s)")
    parser.add_argument("--samplers", default=d["samplers"],
                        help="comma-separated samplers: uniform, md, poc, fedgs (default %(default)s)")
    parser.add_argument("--rounds", type=int, default=d["rounds"], help="rounds (default %(default)s)")
    parser.add_argument("--clients", type=int, default=d["clients"], help="clients N (default %(default)s)")
    parser.add_argument("--m", type=int, default=d["m"], help="clients per round M (default %(default)s)")
    parser.add_argument("--seed", type=int, default=d["seed"], help="seed (default %(default)s)")
    parser.add_argument("--device", default=d["device"], choices=("auto", "cpu", "cuda"),
                        help="auto = cuda when available (default %(default)s)")
    parser.add_argument("--engine", default=d["engine"], choices=("auto", "batched", "sequential"),
                        help="local training engine (default %(default)s)")
    parser.add_argument("--data-root", default=None, help="folder holding downloaded datasets")
    parser.add_argument("--out", default=None, help="output folder (default runs/<time>)")
    local = parser.add_mutually_exclusive_group()
    local.add_argument("--epochs", type=int, default=None, help="local epochs per round")
    local.add_argument("--steps", type=int, default=None,
                       help=f"local steps per round (default {d['steps']} when --epochs is not given)")
    parser.add_argument("--lr", type=float, default=d["lr"], help="learning rate (default %(default)s)")
    parser.add_argument("--batch-size", type=int, default=d["batch_size"],
                        help="batch size (default %(default)s)")
    parser.add_argument("--alpha", type=float, default=0.1, help="FedGS alpha (default %(default)s)")
    parser.add_argument("--graph", default="label", choices=("label", "update", "logit"),
                        help="FedGS graph features (default %(default)s)")
    parser.add_argument("--eval-every", type=int, default=1,
                        help="evaluate every k rounds (default %(default)s)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: 1 for synthetic, whose tiny ops only lose from "
                             "threading on a shared CPU; torch's default otherwise)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def configs_from_args(args: argparse.Namespace):
    """One ExperimentConfig per requested sampler (ValueError with the reason on bad input)."""
    from fedgs_lite.experiment import ExperimentConfig

    samplers = [s.strip() for s in args.samplers.split(",") if s.strip()]
    if not samplers:
        raise ValueError("--samplers is empty; give e.g. uniform,md,poc,fedgs")
    if len(set(samplers)) != len(samplers):
        raise ValueError(f"--samplers lists a sampler twice: {args.samplers}")
    if args.epochs is not None:
        epochs, steps = args.epochs, None
    else:
        epochs, steps = None, args.steps if args.steps is not None else DEFAULTS["steps"]
    dataset = args.dataset.lower().replace("-", "_")
    base = dict(dataset=dataset, data_root=args.data_root, num_clients=args.clients, mode=args.mode,
                clients_per_round=args.m, rounds=args.rounds, epochs=epochs, steps=steps,
                batch_size=args.batch_size, lr=args.lr, seed=args.seed, device=args.device,
                engine=args.engine, alpha=args.alpha, graph_features=args.graph, eval_every=args.eval_every)
    if dataset != "synthetic":
        base["partition"] = "label_skew"
    return [ExperimentConfig(sampler=s, **base) for s in samplers]


def main(args: argparse.Namespace) -> int:
    from fedgs_lite.experiment import compare, comparison_rows, comparison_table, plot_learning_curves

    try:
        configs = configs_from_args(args)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    threads = args.threads if args.threads is not None else (1 if configs[0].dataset == "synthetic" else 0)
    if threads > 0:
        import torch

        torch.set_num_threads(threads)  # this command owns the process
    out = Path(args.out) if args.out else Path("runs") / time.strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    c = configs[0]
    title = f"{c.dataset}, {c.num_clients} clients, M={c.m}, mode {c.mode}, seed {c.seed}"
    print(f"fedgs_lite run: {title}, {c.rounds} rounds -> {out}")
    histories = compare(configs, out, progress=not args.no_progress)

    table = comparison_table(histories)
    print(table)
    (out / "summary.txt").write_text(f"{title}\n\n{table}\n")
    _write_csv(out / "summary.csv", comparison_rows(histories))
    fig = plot_learning_curves(histories, title=title)
    fig.savefig(out / "learning_curves.png", dpi=120)
    for label, h in histories.items():
        if h.stopped_reason:
            print(f"{label}: {h.stopped_reason}")
    print(f"table: {out / 'summary.txt'}\nfigure: {out / 'learning_curves.png'}")
    return 0


def _write_csv(path: Path, rows: list[dict]) -> None:
    import csv

    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
