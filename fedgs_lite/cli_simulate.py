"""`simulate`, the sampling-only command: its flags, the table it prints and the figure it can save.

Who gets picked under an availability mode, without training: every sampler runs on one shared
availability trace (simulate.compare_samplers), with a progress bar; before a large federation's 3DG
is built it says how much memory that takes (N x N matrices: 5000 clients need about 1 GB).
"""

from __future__ import annotations

import argparse

from fedgs_lite.availability import parse_mode
from fedgs_lite.checks import positive_int
from fedgs_lite.graph import PEAK_MATRICES, label_3dg, memory_bytes
from fedgs_lite.masks import ClientStats
from fedgs_lite.partitions import federate
from fedgs_lite.plots import new_figure, plot_counts, plot_variance
from fedgs_lite.preflight import check_dataset, check_output_file, check_solver
from fedgs_lite.samplers import REGISTRY
from fedgs_lite.simulate import compare_samplers
from fedgs_lite.solvers import METHODS
from fedgs_lite.tables import format_table


def configure_simulate(parser: argparse.ArgumentParser) -> None:
    parser.set_defaults(saves_results=False)  # an interrupted simulation keeps nothing
    parser.add_argument("--dataset", default="synthetic", help="dataset name (default synthetic)")
    parser.add_argument("--clients", type=int, default=100, help="number of clients N (default 100)")
    parser.add_argument("--partition", default="auto",
                        help="partition scheme (default auto: natural for synthetic, label_skew otherwise)")
    parser.add_argument("--mode", default="LN-0.5", help="availability mode, e.g. IDL, LN-0.5, MDF-1e-4")
    parser.add_argument("--samplers", default="uniform,md,poc,fedgs", help="comma-separated samplers")
    parser.add_argument("--rounds", type=int, default=500, help="rounds to simulate (default 500)")
    parser.add_argument("--m", type=int, default=10, help="clients per round M (default 10)")
    parser.add_argument("--alpha", type=float, default=0.1, help="FedGS alpha (default 0.1)")
    parser.add_argument("--solver", default="fast", choices=METHODS, help="FedGS per-round solver")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-root", default=None, help="folder holding the datasets (offline)")
    parser.add_argument("--plot", default=None, metavar="PATH", help="save a comparison figure here")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


# Say how much memory the 3DG takes when it is at least this much (1000 clients: 24 MB).
SAY_MEMORY_BYTES = 20 * 2**20


def simulate_command(args: argparse.Namespace) -> int:
    names = [s.strip() for s in str(args.samplers).split(",") if s.strip()]
    if not names or (unknown := [s for s in names if s not in REGISTRY]):
        raise ValueError(f"unknown sampler(s) {unknown or names}; choose from {', '.join(REGISTRY.names())}")
    for flag, value in (("--clients", args.clients), ("--rounds", args.rounds), ("--m", args.m)):
        positive_int(value, flag)
    parse_mode(args.mode)
    check_dataset(args.dataset, args.data_root)
    check_output_file(args.plot, "--plot")
    if "fedgs" in names:
        check_solver(args.solver)
    fed = federate(args.dataset, args.clients, args.partition, seed=args.seed, root=args.data_root,
                   download=False)
    progress = not args.no_progress
    if (need := memory_bytes(fed.num_clients)) >= SAY_MEMORY_BYTES:
        print(f"building the 3DG of {fed.num_clients} clients: about {need / 2**30:.2g} GB of memory "
              f"({PEAK_MATRICES} N x N matrices) and O(N^3) time for its shortest paths", flush=True)
    distances = label_3dg(fed, progress=progress).distances
    results = compare_samplers(names, args.mode, ClientStats.from_federated(fed), distances, args.rounds,
                               args.m, args.seed, alpha=args.alpha, solver=args.solver, progress=progress)
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
