"""Training-engine throughput: federated rounds per second, batched (vmap) engine vs sequential loop.

Fashion-MNIST, FedAvg CNN, `--clients` clients (label-skew or IID), `--per-round` selected uniformly
each round, `--epochs` local epochs (or `--steps`), batch `--batch`. Both engines run in the same
process on the same device, on the same client selections and minibatch plans. Reports rounds/s, the
analytic FLOPs per round (3 x forward FLOPs of conv + linear layers per trained sample), achieved
FLOP/s, the fraction of the device's measured fp32 matmul peak, and the projected time of a 200-round
run (training + aggregation only; evaluation excluded).

    python benchmarks/bench_training.py                 # full setting (meant for a GPU)
    python benchmarks/bench_training.py --quick         # CPU-sized: 1 local epoch, 3 timed rounds
    python benchmarks/bench_training.py --cohort 8      # also 8 runs trained together (per-run time)
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def measure_peak(device: torch.device, n: int, repeats: int = 5) -> float:
    """Best fp32 matmul FLOP/s over `repeats` products of two n x n matrices."""
    g = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(n, n, device=device, generator=g)
    b = torch.randn(n, n, device=device, generator=g)
    a @ b
    _sync(device)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        _sync(device)
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best


def precision_settings() -> str:
    return (f"dtype float32 (no bf16/autocast); torch.backends.cuda.matmul.allow_tf32="
            f"{torch.backends.cuda.matmul.allow_tf32}, torch.backends.cudnn.allow_tf32="
            f"{torch.backends.cudnn.allow_tf32}, float32_matmul_precision="
            f"{torch.get_float32_matmul_precision()!r}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", default=None, help="dataset root (else $FEDGS_DATA or repo data/)")
    p.add_argument("--clients", type=int, default=100)
    p.add_argument("--per-round", type=int, default=10)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--steps", type=int, default=None, help="fixed local steps instead of epochs")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--partition", default="label_skew", choices=["label_skew", "iid"])
    p.add_argument("--rounds", type=int, default=5, help="timed rounds per engine")
    p.add_argument("--warmup", type=int, default=1, help="untimed rounds per engine")
    p.add_argument("--engines", default="batched,sequential")
    p.add_argument("--cohort", type=int, default=0,
                   help="also time R runs trained together (cohort.run_cohort's step: one batched "
                        "computation for all R x per-round clients); reported per run")
    p.add_argument("--device", default=None, help="cuda / cpu (default: cuda if available)")
    p.add_argument("--peak-n", type=int, default=None, help="matmul size for the peak (8192 GPU, 2048 CPU)")
    p.add_argument("--quick", action="store_true", help="CPU-sized: --epochs 1 --rounds 3 --warmup 1")
    p.add_argument("--out", default=str(REPO / "benchmarks" / "RESULTS.md"),
                   help="markdown file whose '## Training' section is (re)written (default %(default)s)")
    p.add_argument("--append", action="store_true",
                   help="add this device's table to the section instead of replacing the section")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.quick:
        args.epochs, args.rounds, args.warmup = 1, 3, 1
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from fedgs_lite.config import LocalTraining
    from fedgs_lite.data import load_dataset
    from fedgs_lite.models import count_flops, get_params, make_model
    from fedgs_lite.partitions import partition
    from fedgs_lite.server import aggregate
    from fedgs_lite.training import DeviceData, default_device, local_train, make_schedule

    device = torch.device(args.device) if args.device else default_device()
    root = args.data_root or os.environ.get("FEDGS_DATA")
    ds = load_dataset("fashion_mnist", root, download=False)
    fed = partition(ds, args.clients, args.partition, rng=np.random.default_rng(args.seed))
    data = DeviceData.from_federated(fed, device)
    model = make_model("fashion_mnist", ds.input_shape, ds.num_classes,
                       generator=torch.Generator().manual_seed(args.seed)).to(device)
    epochs = None if args.steps is not None else args.epochs  # steps, when given, replace epochs
    cfg = LocalTraining(epochs=epochs, steps=args.steps, batch_size=args.batch, lr=args.lr)
    fwd = count_flops(model, ds.input_shape)

    n_rounds = args.warmup + args.rounds
    sel_rng = np.random.default_rng(args.seed + 1)
    selections = [np.sort(sel_rng.choice(args.clients, args.per_round, replace=False))
                  for _ in range(n_rounds)]
    samples = [int(make_schedule(data.sizes[s], cfg, torch.Generator().manual_seed(0)).sample_mask.sum())
               for s in selections]
    flops_round = 3 * fwd * float(np.mean(samples[args.warmup:]))

    peak_n = args.peak_n or (8192 if device.type == "cuda" else 2048)
    peak = measure_peak(device, peak_n)
    name = device_name(device)
    print(f"device: {name}; {precision_settings()}")
    print(f"fp32 matmul peak ({peak_n}^3): {peak / 1e9:.1f} GFLOP/s; forward FLOPs/sample {fwd / 1e6:.2f} M; "
          f"mean trained samples/round {np.mean(samples):.0f}")

    results = {}
    for engine in args.engines.split(","):
        params = get_params(model)
        gen = torch.Generator().manual_seed(args.seed)
        times = []
        for r, sel in enumerate(selections):
            _sync(device)
            t = time.perf_counter()
            local, _ = local_train(model, params, data, sel, cfg, r, gen, engine)
            params = aggregate(local, data.sizes[sel])
            _sync(device)
            if r >= args.warmup:
                times.append(time.perf_counter() - t)
        sec = float(np.median(times))  # the CPU here is shared; the median resists other jobs' bursts
        results[engine] = sec
        each = ", ".join(f"{x:.3f}" for x in times)
        print(f"{engine}: median {sec:.3f} s/round over {len(times)} rounds ({each})")

    if args.cohort > 1:
        from fedgs_lite.training import local_train_many

        runs = args.cohort
        picks = [[np.sort(sel_rng.choice(args.clients, args.per_round, replace=False)) for _ in range(runs)]
                 for _ in range(n_rounds)]
        params = [get_params(model) for _ in range(runs)]
        gens = [torch.Generator().manual_seed(args.seed + j) for j in range(runs)]
        times = []
        for r, sels in enumerate(picks):
            _sync(device)
            t = time.perf_counter()
            out = local_train_many(model, params, data, [s.tolist() for s in sels], cfg, r, gens, "batched")
            params = [aggregate(local, data.sizes[sel]) for (local, _), sel in zip(out, sels, strict=True)]
            _sync(device)
            if r >= args.warmup:
                times.append((time.perf_counter() - t) / runs)
        sec = float(np.median(times))
        results[f"batched, cohort of {runs} runs (per run)"] = sec
        print(f"cohort of {runs}: median {sec:.3f} s/round per run over {len(times)} rounds")

    ref = results.get("sequential")
    rows = []
    for engine, sec in results.items():
        achieved = flops_round / sec
        rows.append(f"| {name} | {engine} | {1 / sec:.3f} | {sec:.3f} | "
                    f"{(ref / sec if ref else float('nan')):.2f}x | {flops_round / 1e9:.1f} | "
                    f"{achieved / 1e9:.1f} | {100 * achieved / peak:.1f}% | {200 * sec / 60:.1f} min |")
    local = f"{args.epochs} local epochs" if args.steps is None else f"{args.steps} local steps"
    cmd = "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(__file__, REPO), *sys.argv[1:]])
    table = "\n".join([
        f"Fashion-MNIST, FedAvg CNN, {args.clients} clients ({args.partition}), {args.per_round} per round, "
        f"{local}, batch {args.batch}; median of {args.rounds} timed rounds after {args.warmup} warm-up, "
        f"training + aggregation only (no evaluation).",
        "",
        f"Command: `{cmd}`  ",
        f"Device: {name}; measured fp32 matmul peak {peak / 1e9:.1f} GFLOP/s ({peak_n}x{peak_n}); "
        f"{precision_settings()}; torch {torch.__version__}.",
        "",
        "| device | engine | rounds/s | s/round | speed-up vs sequential | GFLOP/round | achieved GFLOP/s "
        "| % of fp32 matmul peak | 200 rounds |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
        *rows,
    ])
    if device.type != "cuda":
        table += ("\n\nGPU row: still to be measured. On a CUDA machine run "
                  "`python benchmarks/bench_training.py --data-root <dir with fashion-mnist/> --append "
                  "--cohort 8` "
                  "(full setting: 100 clients, 10 per round, 5 local epochs, batch 64).")
    print()
    print(table)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    old = out.read_text() if out.exists() else "# Benchmark results\n\n"
    head, marker, section = old.partition("## Training")
    section = (marker + section).rstrip() if args.append and marker else "## Training"
    out.write_text(head.rstrip() + "\n\n" + section + "\n\n" + table + "\n")
    print(f"\nwrote the '## Training' section of {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
