"""Benchmark the sampling-only simulator: T rounds x N clients per sampler, metrics included.

Goal (issue 3): 1000 rounds x 100 clients in well under a second for the baselines and a few seconds
for FedGS with the fast solver. Prints a markdown table; `--write` puts it into benchmarks/RESULTS.md
as the '## Simulator' section.

    python benchmarks/bench_simulate.py [--rounds 1000] [--clients 100] [--m 10] [--repeats 3] [--write]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import numpy as np

from fedgs_lite.availability import ClientStats, make_availability
from fedgs_lite.graph import build_3dg, label_features
from fedgs_lite.samplers import SAMPLERS, make_sampler
from fedgs_lite.simulate import label_prior_losses, simulate_sampling

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
GOAL_S, FEDGS_GOAL_S = 1.0, 5.0  # every baseline well under a second; FedGS (fast solver) a few seconds


def label_skew_stats(num_clients: int, num_classes: int, rng: np.random.Generator) -> ClientStats:
    """Clients with two classes each and lognormal sizes, like a paper-style label-skew partition."""
    hist = np.zeros((num_clients, num_classes), dtype=np.int64)
    for i in range(num_clients):
        classes = rng.choice(num_classes, 2, replace=False)
        hist[i, classes] = rng.integers(20, 400, size=2)
    return ClientStats(sizes=hist.sum(axis=1), label_histograms=hist)


def time_sampler(name: str, stats: ClientStats, distances: np.ndarray, spec: str, rounds: int, m: int,
                 repeats: int) -> tuple[float, float]:
    times, variance = [], float("nan")
    for r in range(repeats):
        rng = np.random.default_rng(r)
        availability = make_availability(spec, stats, rng)
        sampler = make_sampler(name, sizes=stats.sizes, distances=distances,
                               loss_fn=label_prior_losses(stats.label_histograms))
        t = time.perf_counter()
        result = simulate_sampling(sampler, availability, rounds, m, rng,
                                   label_histograms=stats.label_histograms, distances=distances)
        times.append(time.perf_counter() - t)
        variance = result.final_variance
    return statistics.median(times), variance


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=1000)
    p.add_argument("--clients", type=int, default=100)
    p.add_argument("--m", type=int, default=10)
    p.add_argument("--mode", default="LN-0.5")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--write", action="store_true", help="write the '## Simulator' section of RESULTS.md")
    args = p.parse_args(argv)

    stats = label_skew_stats(args.clients, 10, np.random.default_rng(0))
    distances = build_3dg(label_features(stats.label_histograms)).distances
    rows = []
    for name in SAMPLERS:
        seconds, variance = time_sampler(name, stats, distances, args.mode, args.rounds, args.m, args.repeats)
        goal = FEDGS_GOAL_S if name == "fedgs" else GOAL_S
        rows.append(f"| {name} | {seconds:.3f} | {goal:g} | {goal / seconds:.1f}x | "
                    f"{'PASS' if seconds < goal else 'MISS'} | {variance:.1f} |")
    cmd = "python benchmarks/bench_simulate.py" + (" --write" if args.write else "")
    table = "\n".join([
        f"{args.rounds} rounds x {args.clients} clients, M={args.m}, mode {args.mode}, label-skew clients; "
        f"simulate_sampling end to end (availability trace, selection, all metrics); median of "
        f"{args.repeats} runs. CPU: {platform.processor() or platform.machine()}.",
        "",
        f"Command: `{cmd}`",
        "",
        "| sampler | seconds | goal (s) | goal / measured | result | final count variance |",
        "|---|---:|---:|---:|---|---:|",
        *rows,
    ])
    print(table)
    if args.write:
        text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n\n"
        head, marker, rest = text.partition("## Simulator")
        if marker:  # replace the old section, keep whatever follows it
            nxt = rest.find("\n## ")
            tail = rest[nxt + 1:] if nxt >= 0 else ""
        else:  # before '## Training', which bench_training.py rewrites to the end of the file
            i = text.find("## Training")
            head, tail = (text[:i], text[i:]) if i >= 0 else (text, "")
        RESULTS.write_text(head.rstrip() + "\n\n## Simulator\n\n" + table + "\n\n" + tail.lstrip())
        print(f"\nwrote the '## Simulator' section of {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
