"""Why uniform random D stays hard for the fast search: per-walk hit rates on non-metric instances.

For each instance (fedgs_lite.instances.non_metric) a reference: the best of `walks` independent tabu
walks from random greedy starts and of the default fast solver from 5 seeds and with 10x its budget from
3 seeds. Printed: the share of the walks that end within 0.1% of it, how many members each walk's set
shares with the reference set (all, some, none), and how many of the 5 default runs reach it. A
landscape where walks either land on the best set or share nothing with it gives local search nothing
to follow: only more walks help, about linearly in time.

    python benchmarks/bench_rugged.py      # N = 200, 500, 1000; M = 5, 10; 3 instances, 40 walks each
    python benchmarks/bench_rugged.py --sizes 200:5,500:10,1000:5,1000:10 --instances 2 --walks 30  # 171 s
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from fedgs_lite import instances
from fedgs_lite.conditioning import condition
from fedgs_lite.fast_search import fast_iterations, random_start
from fedgs_lite.objective import fedgs_objective, relative_gap
from fedgs_lite.solvers import solve_selection
from fedgs_lite.tabu import tabu_search

NEAR = 1e-3


def walk_sets(inst, walks: int, steps: int, rng: np.random.Generator) -> list[np.ndarray]:
    """`walks` tabu walks of `steps` steps (no early stop) from greedy + 1-swap from random first picks."""
    p = condition(*inst.args())
    return [tabu_search(p.w, p.u, random_start(p, rng), steps, rng, p.bound(), quit=steps)
            for _ in range(walks)]


def probe(inst, walks: int, rng: np.random.Generator) -> str:
    d, u, alpha, m = inst.args()
    n = u.size
    steps = fast_iterations(n, m)
    t0 = time.perf_counter()
    sets = walk_sets(inst, walks, steps, rng)
    t_walk = (time.perf_counter() - t0) / walks
    default = [solve_selection(d, u, alpha, m, rng=np.random.default_rng(s)) for s in range(5)]
    long = [solve_selection(d, u, alpha, m, rng=np.random.default_rng(100 + s),
                            iterations=10 * steps) for s in range(3)]
    found = [(fedgs_objective(s, d, u, alpha, m), s) for s in sets]
    found += [(r.objective, r.selected) for r in default + long]
    ref_val, ref_set = max(found, key=lambda t: t[0])
    ref_members = set(np.asarray(ref_set).tolist())
    near = [relative_gap(v, ref_val, u, m) <= NEAR for v, _ in found[:walks]]
    shared = [len(ref_members & set(np.asarray(s).tolist())) for s in sets]
    full, none = sum(k == m for k in shared), sum(k == 0 for k in shared)
    reached = sum(relative_gap(r.objective, ref_val, u, m) <= NEAR for r in default)
    med = float(np.median([r.seconds for r in default]))
    return (f"| {n} | {m} | {sum(near)}/{walks} | {full} / {walks - full - none} / {none} | "
            f"{1e3 * t_walk:.0f} | {reached}/5 | {1e3 * med:.0f} |")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="200:5,200:10,500:5,500:10,1000:5,1000:10",
                   help="comma-separated N:M pairs")
    p.add_argument("--instances", type=int, default=3, help="instances per size")
    p.add_argument("--walks", type=int, default=40, help="independent walks per instance")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    print("| N | M | walks within 0.1% | walk shares all / some / no members | ms per walk | "
          "default fast reaches it (5 seeds) | default median ms |")
    print("|---|---|---|---|---|---|---|")
    for pair in args.sizes.split(","):
        n, m = (int(x) for x in pair.split(":"))
        for _ in range(args.instances):
            print(probe(instances.non_metric(rng, n, m), args.walks, rng), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
