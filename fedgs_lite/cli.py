"""`python -m fedgs_lite run | simulate | reproduce`: the kit's command line, its three commands here.

`run` trains samplers side by side; its flags are generated from ExperimentConfig's fields (defaults
and help come from there: `--num-clients`, `--lr`, ...), with short aliases (`--clients`, `--m`,
`--graph`, `--alpha`). `simulate` runs samplers without training; `reproduce` runs the paper's grid.
Each command checks what it can before it writes anything (preflight.py) and holds a lock on its
output folder while it writes there. A mistake prints one line and exits with status 2; Ctrl-C (130)
and SIGTERM (143) keep the results so far and say what continues them (console.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from fedgs_lite import grid_flags, paper
from fedgs_lite.checks import canonical_name
from fedgs_lite.cli_simulate import configure_simulate, simulate_command  # noqa: F401 (COMMANDS names it)
from fedgs_lite.config import DEVICES, LOCAL_FIELDS, ExperimentConfig
from fedgs_lite.console import Parser, guarded, invoked_name
from fedgs_lite.files import lock_folder, new_folder, remove_orphaned_temps, topmost_missing
from fedgs_lite.preflight import check_configs, check_output_folder
from fedgs_lite.tables import write_csv

ALIASES = {"num_clients": ("--clients",), "clients_per_round": ("--m",), "graph_features": ("--graph",),
           "fedgs_alpha": ("--alpha",)}
# Evaluating 10000 test images costs more than a round of local training on a CPU (Fashion-MNIST: 15 of
# 19 s a round), so on these datasets `run` evaluates about EVALS_PER_RUN times unless --eval-every says.
LARGE_TEST_SETS, EVALS_PER_RUN = ("mnist", "fashion_mnist", "cifar10"), 10
HELP_NOTES = {
    "eval_every": f"; on {', '.join(LARGE_TEST_SETS)}: rounds/{EVALS_PER_RUN}, as a full test set costs more "
                  "than a round on a CPU",
    "device": ": the demo's table is then the same on every machine, bit for bit; reproduce defaults to "
              "auto, as its grid is long"}
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
                            help=f"{f.metadata['help']} (default {f.default}{HELP_NOTES.get(f.name, '')})")
    parser.add_argument("--out", default=None, help="output folder (default runs/<time>)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: 1 for synthetic, whose tiny ops only lose from "
                             "threading on a shared CPU; torch's default otherwise)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.epilog = ("CPU cost: the synthetic default trains in seconds; the image datasets train a CNN, "
                     "which takes tens of minutes on 2 CPU cores (Power-of-Choice evaluates each candidate's "
                     "data each round), so run times the first rounds of each run and prints an estimate "
                     "first. --device auto uses a GPU when there is one.")


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
    if "eval_every" not in given and canonical_name(given.get("dataset", "synthetic")) in LARGE_TEST_SETS:
        given["eval_every"] = max(1, given.get("rounds", ExperimentConfig().rounds) // EVALS_PER_RUN)
    return [ExperimentConfig(sampler=s, **given) for s in samplers]


# The commands that train import the training stack (torch) only when they run, so that `--help` and
# `simulate` start in a moment.

def run_command(args: argparse.Namespace) -> int:
    configs = configs_from_args(args)
    check_configs(configs)
    check_output_folder(args.out)
    threads = args.threads if args.threads is not None else (1 if configs[0].dataset == "synthetic" else 0)
    if threads > 0:
        import torch

        torch.set_num_threads(threads)  # this command owns the process
    base = Path(args.out) if args.out is not None else Path("runs")
    made = topmost_missing(base)  # the folder this call creates, removed again if nothing trains
    try:
        out = base if args.out is not None else new_folder(base, time.strftime("%Y%m%d-%H%M%S"))
        made = made or (out if args.out is None else None)
        args.chosen_out = out if args.out is None else None  # what an interrupt's hint must add
        with lock_folder(out, "output folder"):
            remove_orphaned_temps(out)
            return train_and_report(configs, out, not args.no_progress)
    except BaseException:
        if made is not None and not any(made.rglob("history.json")):  # nothing trained: leave nothing
            shutil.rmtree(made, ignore_errors=True)
            args.chosen_out = None
        raise


def train_and_report(configs: list[ExperimentConfig], out: Path, progress: bool) -> int:
    from fedgs_lite.estimate import say_estimate
    from fedgs_lite.report import compare, comparison_rows, comparison_table, plot_learning_curves, run_labels

    c = configs[0]
    title = f"{c.dataset}, {c.num_clients} clients, M={c.m}, mode {c.mode}, seed {c.seed}"
    print(f"fedgs_lite run: {title}, {c.rounds} rounds -> {out}")
    if c.dataset != "synthetic":  # a CNN on a CPU: say how long it will take
        say_estimate(configs, [out / label for label in run_labels(configs)], progress)
    histories = compare(configs, out, progress=progress)
    table = comparison_table(histories)
    print(table)
    (out / "summary.txt").write_text(f"{title}\n\n{table}\n")
    write_csv(out / "summary.csv", comparison_rows(histories))
    plot_learning_curves(histories, title=title).savefig(out / "learning_curves.png", dpi=120)
    for label, h in histories.items():
        if h.stopped_reason:
            print(f"{label}: {h.stopped_reason}")
    if any(h.stopped_reason for h in histories.values()):
        print(f"to try again with a smaller --lr, use another --out ({out} keeps the diverged runs)")
    print(f"table: {out / 'summary.txt'}\nfigure: {out / 'learning_curves.png'}")
    return 0


STUDIES = ("paper", "heterogeneity")


def configure_reproduce(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--study", default="paper", choices=STUDIES,
                        help="paper: the grid of datasets x modes x samplers (default); heterogeneity: the "
                             "authors' recorded figure (Fashion-MNIST, LDF-0.9, dist 4 at skew "
                             "0.1/0.7/0.8/0.9, five methods)")
    parser.add_argument("--datasets", default=None,
                        help="comma-separated: synthetic, fashion_mnist, cifar10 (default: all; cifar10 uses "
                             "the benchmark subset when the full set is absent; --tiny default: synthetic)")
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
                        help="auto = cuda when available (default %(default)s: the grid is long; run's "
                             "default is cpu, for its reproducible demo)")
    parser.add_argument("--tiny", action="store_true",
                        help="pipeline check: 3 rounds, 1 seed, <= 10 clients, 2 local steps")
    parser.add_argument("--dry-run", action="store_true",
                        help="list the cells, their count and the compute budget; run nothing")
    parser.add_argument("--tflops", type=float, default=None,
                        help="with --dry-run: the wall time at this sustained TFLOP/s (bench_training.py)")
    parser.add_argument("--cohort-size", type=int, default=None,
                        help="train at most this many runs together (default: all of a dataset and seed)")
    parser.add_argument("--time-limit", type=float, default=None, metavar="SECONDS",
                        help="stop cleanly (checkpoints written) after this many seconds; rerun to continue")
    parser.add_argument("--no-cohorts", action="store_true",
                        help="train every run on its own instead of a dataset-and-seed's runs together "
                             "(slower; the same results, bit for bit on a CPU)")
    parser.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    grid_flags.configure(parser)  # --engine, --shard and the Ray options


def reproduce_command(args: argparse.Namespace) -> int:
    from fedgs_lite.reproduce import dry_run, plan_reproduce, run_reproduce

    for flag, value, ok in (("--rounds", args.rounds, ">= 1"), ("--cohort-size", args.cohort_size, ">= 1"),
                            ("--time-limit", args.time_limit, "> 0"), ("--tflops", args.tflops, "> 0"),
                            ("--seeds", args.seeds, ">= 1")):
        if value is not None and not (value > 0 if ok == "> 0" else value >= 1):
            raise ValueError(f"{flag} must be {ok}, got {value}")
    plans = grid_flags.select_shard(plan_reproduce(args), args)
    return dry_run(plans, args) if args.dry_run else run_reproduce(plans, args)


# command -> (its flags, the name of its function: looked up when it runs, so tests can patch it, its help)
COMMANDS = {
    "run": (configure_run, "run_command", "train samplers side by side on one dataset and availability mode"),
    "simulate": (configure_simulate, "simulate_command",
                 "sampling only (no training): who gets picked under a mode"),
    "reproduce": (configure_reproduce, "reproduce_command",
                  "run the paper's grid or the heterogeneity study, resumably, into --out"),
}


def package_version() -> str:
    try:
        return version("fedgs_lite")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    prog = invoked_name()
    parser = Parser(
        prog=prog, description="fedgs_lite: client sampling under intermittent availability (FedGS, AAAI "
                               f"2023). `{prog} COMMAND --help` shows a command's options.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (configure, _, help_text) in COMMANDS.items():
        configure(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return guarded(globals()[COMMANDS[args.command][1]], args, argv)
