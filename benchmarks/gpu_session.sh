#!/usr/bin/env bash
# For a session that is lent a GPU (the `device` tool; see ../shared/DEVICE.md: torch with CUDA is there,
# cvxpy and papermill are not, and neither is needed here). Only the repo travels, so first copy the data
# into the git-ignored data/ folder and carry it:
#   mkdir -p data && cp -r ../shared/data/fashion-mnist ../shared/data/cifar10-subset data/
#   run(command="bash benchmarks/gpu_session.sh bench", carry=["data"])
#   run(command="bash benchmarks/gpu_session.sh grid", carry=["data", "results"])   # repeat until done
# Each device call may run 10 minutes and a machine goes back 30 s after a call, so the grid spans calls:
# every call leaves $OUT/runs.tgz (the run directories without model files; a finished cell needs only
# its history.json) and $OUT/results.tgz (summary, figures, benchmarks/RESULTS.md). Unpack runs.tgz here
# (`tar xzf runs.tgz`) and carry results/ into the next `grid` call: finished cells are never recomputed.
# Commit the small files from results.tgz at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
root="${DATA_ROOT:-data}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
case "${1:-bench}" in
  bench)
    # GPU row of benchmarks/RESULTS.md: batched vs sequential, FLOPs, fraction of measured peak
    PYTHONUNBUFFERED=1 python benchmarks/bench_training.py --data-root "$root" --append
    ;;
  grid)
    # the paper's grid; stop a few minutes before the device call's limit, rerun to continue
    # SIGINT, not SIGTERM: run_experiment saves what it has on KeyboardInterrupt
    PYTHONUNBUFFERED=1 timeout -s INT "${GRID_SECONDS:-540}" python -m fedgs_lite reproduce --data-root "$root" \
      --datasets "${DATASETS:-synthetic,fashion_mnist,cifar10}" --out results --no-progress || true
    python -m fedgs_lite reproduce --data-root "$root" --datasets "${DATASETS:-synthetic,fashion_mnist,cifar10}" \
      --out results --dry-run | tail -n 1
    ;;
  *)
    echo "usage: bash benchmarks/gpu_session.sh bench|grid" >&2
    exit 2
    ;;
esac
if [ -n "${OUT:-}" ]; then
  tar czf "$OUT/results.tgz" benchmarks/RESULTS.md $(ls results/summary.* results/*.png 2>/dev/null) || true
  [ -d results/runs ] && tar czf "$OUT/runs.tgz" --exclude='*.pt' results/runs || true
fi
