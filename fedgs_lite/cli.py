"""`python -m fedgs_lite run | simulate | reproduce`: the kit's command line, its three commands here.

`run` trains samplers side by side; its flags are generated from ExperimentConfig's fields (defaults
and help come from there: `--num-clients`, `--lr`, ...), with short aliases (`--clients`, `--m`,
`--graph`, `--alpha`). `simulate` runs samplers without training; `reproduce` runs the paper's grid.
A bad argument prints one line and exits with status 2; Ctrl-C exits with 130, results so far kept.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
import warnings
from pathlib import Path

from fedgs_lite import paper
from fedgs_lite.config import DEVICES, LOCAL_FIELDS, ExperimentConfig
from fedgs_lite.degenerate import DegenerateModeWarning
from fedgs_lite.graph import label_3dg
from fedgs_lite.masks import ClientStats
from fedgs_lite.partitions import federate
from fedgs_lite.plots import new_figure, plot_counts, plot_variance
from fedgs_lite.samplers import REGISTRY
from fedgs_lite.simulate import compare_samplers
from fedgs_lite.tables import format_table, write_csv

ALIASES = {"num_clients": ("--clients",), "clients_per_round": ("--m",), "graph_features": ("--graph",),
           "fedgs_alpha": ("--alpha",)}
NOT_FLAGS = ("sampler", "name")  # --samplers takes a list; one name would label every run alike


def parse_value(annotation: str):
    """An argparse type for a config field's annotation ("int | None" accepts "none")."""
    base = {"int": int, "float": float, "str": str}[annotation.split("|")[0].strip()]

    def parse(text: str):
        return None if "None" in annotation and text.lower() == "none" else base(text)

    parse.__name__ = base.__name__
    return parse


def configure_run(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--samplers", default="uniform,md,poc,fedgs",
                        help="comma-separated samplers: uniform, md, poc, fedgs or registered ones "
                             "(default %(default)s)")
    fields = [f for f in dataclasses.fields(ExperimentConfig) if f.name not in NOT_FLAGS]
    own = [f for f in fields if f.name not in LOCAL_FIELDS]
    at = next(i for i, f in enumerate(own) if f.name == "rounds")  # local training goes before the runtime
    for f in own[:at] + [f for f in fields if f.name in LOCAL_FIELDS] + own[at:]:
        parser.add_argument(f"--{f.name.replace('_', '-')}", *ALIASES.get(f.name, ()), dest=f.name,
                            type=parse_value(f.type), default=argparse.SUPPRESS,
                            help=f"{f.metadata['help']} (default {f.default})")
    parser.add_argument("--out", default=None, help="output folder (default runs/<time>)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: 1 for synthetic, whose tiny ops only lose from "
                             "threading on a shared CPU; torch's default otherwise)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def configs_from_args(args: argparse.Namespace) -> list[ExperimentConfig]:
    """One ExperimentConfig per requested sampler (ValueError with the reason on bad input)."""
    samplers = [s.strip() for s in args.samplers.split(",") if s.strip()]
    if not samplers:
        raise ValueError("--samplers is empty; give e.g. uniform,md,poc,fedgs")
    if len(set(samplers)) != len(samplers):
        raise ValueError(f"--samplers lists a sampler twice: {args.samplers}")
    fields = [f.name for f in dataclasses.fields(ExperimentConfig)]
    given = {name: getattr(args, name) for name in fields if hasattr(args, name)}
    if "epochs" in given and "steps" not in given:
        given["steps"] = None  # --epochs alone replaces the default steps
    return [ExperimentConfig(sampler=s, **given) for s in samplers]


# The commands that train import the training stack (torch) only when they run, so that `--help` and
# `simulate` start in a moment.

def run_command(args: argparse.Namespace) -> int:
    from fedgs_lite.report import compare, comparison_rows, comparison_table, plot_learning_curves

    configs = configs_from_args(args)
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
    write_csv(out / "summary.csv", comparison_rows(histories))
    plot_learning_curves(histories, title=title).savefig(out / "learning_curves.png", dpi=120)
    for label, h in histories.items():
        if h.stopped_reason:
            print(f"{label}: {h.stopped_reason}")
    print(f"table: {out / 'summary.txt'}\nfigure: {out / 'learning_curves.png'}")
    return 0


def configure_simulate(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", default="synthetic", help="dataset name (default synthetic)")
    parser.add_argument("--clients", type=int, default=100, help="number of clients N (default 100)")
    parser.add_argument("--partition", default="auto",
                        help="partition scheme (default auto: natural for synthetic, label_skew otherwise)")
    parser.add_argument("--mode", default="LN-0.5", help="availability mode, e.g. IDL, LN-0.5, MDF-1e-4")
    parser.add_argument("--samplers", default="uniform,md,poc,fedgs", help="comma-separated samplers")
    parser.add_argument("--rounds", type=int, default=500, help="rounds to simulate (default 500)")
    parser.add_argument("--m", type=int, default=10, help="clients per round M (default 10)")
    parser.add_argument("--alpha", type=float, default=0.1, help="FedGS alpha (default 0.1)")
    parser.add_argument("--solver", default="fast", help="FedGS per-round solver: fast, exact, brute")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-root", default=None, help="folder holding the datasets (offline)")
    parser.add_argument("--plot", default=None, metavar="PATH", help="save a comparison figure here")


def simulate_command(args: argparse.Namespace) -> int:
    names = [s.strip() for s in str(args.samplers).split(",") if s.strip()]
    if not names or (unknown := [s for s in names if s not in REGISTRY]):
        raise ValueError(f"unknown sampler(s) {unknown or names}; choose from {', '.join(REGISTRY.names())}")
    fed = federate(args.dataset, args.clients, args.partition, seed=args.seed, root=args.data_root,
                   download=False)
    results = compare_samplers(names, args.mode, ClientStats.from_federated(fed), label_3dg(fed).distances,
                               args.rounds, args.m, args.seed, alpha=args.alpha, solver=args.solver)
    print(f"{args.dataset}, {fed.num_clients} clients, mode {args.mode}, M={args.m}, "
          f"{args.rounds} rounds, seed {args.seed}")
    summaries = [r.summary() for r in results.values()]
    rows = [[s["sampler"], f"{s['count_variance']:.2f}", f"{s['jain']:.3f}", f"{s['label_coverage']:.3f}",
             f"{s['pairwise_distance']:.3f}", f"{s['seconds']:.2f}"] for s in summaries]
    print(format_table(["sampler", "count var", "Jain", "label cov", "pairwise D", "seconds"], rows))
    if args.plot:
        fig = new_figure(10, 3.2 * (1 + len(results)))
        axes = fig.subplots(1 + len(results), 1)
        plot_variance({k: r.variance for k, r in results.items()}, ax=axes[0])
        for ax, (k, r) in zip(axes[1:], results.items(), strict=True):
            plot_counts(r.counts, r.availability_frequency, ax=ax,
                        title=f"{k}: count variance {r.final_variance:.2f}, Jain {r.jain:.3f}")
        fig.savefig(args.plot, dpi=120)
        print(f"figure saved to {args.plot}")
    return 0


STUDIES = ("paper", "heterogeneity")


def configure_reproduce(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--study", default="paper", choices=STUDIES,
                        help="paper: the grid of datasets x modes x samplers (default); heterogeneity: the "
                             "authors' recorded figure (Fashion-MNIST, LDF-0.9, dist 4 at skew "
                             "0.1/0.7/0.8/0.9, five methods)")
    parser.add_argument("--datasets", default=None,
                        help="comma-separated: synthetic, fashion_mnist, cifar10 (default: all; cifar10 uses "
                             "the shipped subset when the full set is absent; --tiny default: synthetic)")
    parser.add_argument("--modes", default=None,
                        help=f"comma-separated availability modes (default {','.join(paper.MODE_KEYS)})")
    parser.add_argument("--samplers", default=None,
                        help=f"comma-separated samplers (default {','.join(paper.SAMPLERS)})")
    parser.add_argument("--seeds", type=int, help=f"seeds 0..n-1 (default {paper.SEEDS}; --tiny: 1)")
    parser.add_argument("--rounds", type=int, help="override the paper's rounds for every dataset")
    parser.add_argument("--model", default="auto",
                        help="auto: each dataset's own model (the CNNs); fashion_mnist_lr: the authors' "
                             "logistic regression, a CPU stand-in for the heterogeneity study")
    parser.add_argument("--out", default=None,
                        help="grid folder (default runs/reproduce or runs/heterogeneity, -tiny for --tiny; "
                             "the committed results/ only when given: --out results)")
    parser.add_argument("--data-root", default=None, help="folder holding the datasets")
    parser.add_argument("--device", default="auto", choices=DEVICES,
                        help="auto = cuda when available (default %(default)s)")
    parser.add_argument("--tiny", action="store_true",
                        help="pipeline check: 3 rounds, 1 seed, <= 10 clients, 2 local steps")
    parser.add_argument("--dry-run", action="store_true",
                        help="list the cells, their count and the compute budget; run nothing")
    parser.add_argument("--tflops", type=float, default=None,
                        help="with --dry-run: project the wall time at this sustained TFLOP/s (measure it "
                             "with benchmarks/bench_training.py)")
    parser.add_argument("--cohort-size", type=int, default=None,
                        help="train at most this many runs together (default: all of a dataset and seed)")
    parser.add_argument("--time-limit", type=float, default=None, metavar="SECONDS",
                        help="stop cleanly (checkpoints written) after this many seconds; rerun to continue")
    parser.add_argument("--no-cohorts", action="store_true",
                        help="train every run on its own instead of a dataset-and-seed's runs together "
                             "(slower; the same results, bit for bit on a CPU)")
    parser.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def reproduce_command(args: argparse.Namespace) -> int:
    from fedgs_lite.reproduce import dry_run, plan_reproduce, run_reproduce

    for flag, value, ok in (("--rounds", args.rounds, ">= 1"), ("--cohort-size", args.cohort_size, ">= 1"),
                            ("--time-limit", args.time_limit, "> 0"), ("--tflops", args.tflops, "> 0"),
                            ("--seeds", args.seeds, ">= 1")):
        if value is not None and not (value > 0 if ok == "> 0" else value >= 1):
            raise ValueError(f"{flag} must be {ok}, got {value}")
    plans = plan_reproduce(args)
    return dry_run(plans, args) if args.dry_run else run_reproduce(plans, args)


# command -> (its flags, the name of its function: looked up when it runs, so tests can patch it, its help)
COMMANDS = {
    "run": (configure_run, "run_command", "train samplers side by side on one dataset and availability mode"),
    "simulate": (configure_simulate, "simulate_command",
                 "sampling only (no training): who gets picked under a mode"),
    "reproduce": (configure_reproduce, "reproduce_command",
                  "run the paper's grid or the heterogeneity study, resumably, into --out"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m fedgs_lite",
        description="fedgs_lite: client sampling under intermittent availability (FedGS, AAAI 2023). "
                    "`python -m fedgs_lite COMMAND --help` shows a command's options.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (configure, _, help_text) in COMMANDS.items():
        configure(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def one_line_warnings():
    """A showwarning that prints each degenerate availability mode once, in one line on stderr (other
    warnings as Python shows them)."""
    shown: set[str] = set()
    original = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        if not issubclass(category, DegenerateModeWarning):
            original(message, category, filename, lineno, file, line)
        elif str(message) not in shown:
            shown.add(str(message))
            print(f"warning: {message}", file=sys.stderr if file is None else file)

    return show


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        with warnings.catch_warnings():
            warnings.showwarning = one_line_warnings()
            return int(globals()[COMMANDS[args.command][1]](args) or 0)
    except ValueError as err:  # a bad argument or setting: one line, no traceback
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # the loop has already saved what it had; finished runs are reused on the next call
        print("\ninterrupted: results so far are saved; run the same command again to continue",
              file=sys.stderr)
        return 130
