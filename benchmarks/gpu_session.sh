#!/usr/bin/env bash
# For a session that is lent a GPU (the `device` tool; see ../shared/DEVICE.md: torch with CUDA is there,
# highspy and papermill are not, and neither is needed here). Only the repo travels, so first copy the data
# into the git-ignored data/ folder and carry it:
#   mkdir -p data && cp -r ../shared/data/fashion-mnist ../shared/data/cifar10-subset data/
#   run(command="bash benchmarks/gpu_session.sh bench", carry=["data"])
#   run(command="bash benchmarks/gpu_session.sh grid", carry=["data", "results"])   # repeat until done
#   run(command="bash benchmarks/gpu_session.sh study", carry=["data", "results"])  # the heterogeneity study
# Each device call may run 10 minutes and a machine goes back 30 s after a call, so the grid spans calls:
# `reproduce --time-limit` stops every run after its current round with a checkpoint, and the next call
# continues. While the machine stays warm (calls back to back) its git-ignored results/runs, checkpoints
# included, stays there: do NOT carry results/ then (carrying replaces it). Every call also leaves
# $OUT/runs.tgz (run directories without .pt files: finished cells need only history.json) and
# $OUT/results.tgz (summary, figures, grid_calls.jsonl, benchmarks/RESULTS.md). If the machine was given
# back, unpack runs.tgz here (`tar xzf runs.tgz`) and carry results/ into the next `grid` call: finished
# cells are never recomputed, unfinished ones restart from round 0 (their checkpoints did not travel).
# results/grid_calls.jsonl sums the wall time of every call. Commit the small files at the end.
# Before spending device time: `python -m fedgs_lite reproduce --dry-run --data-root data` prints the
# grid's FLOPs and the TFLOP/s the 30-minute goal needs; the bench's achieved GFLOP/s tells what is real.
set -euo pipefail
cd "$(dirname "$0")/.."
root="${DATA_ROOT:-data}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
case "${1:-bench}" in
  bench)
    # GPU row of benchmarks/RESULTS.md: batched vs sequential, FLOPs, fraction of measured peak
    PYTHONUNBUFFERED=1 python benchmarks/bench_training.py --data-root "$root" --append --cohort "${COHORT:-8}"
    ;;
  grid)
    # the paper's grid; --time-limit stops cleanly before the device call's limit, rerun to continue.
    # The SIGINT timeout is only a backstop (runs save what they have on KeyboardInterrupt).
    PYTHONUNBUFFERED=1 timeout -s INT 560 python -m fedgs_lite reproduce --data-root "$root" \
      --datasets "${DATASETS:-synthetic,fashion_mnist,cifar10}" --out results --no-progress \
      --time-limit "${GRID_SECONDS:-480}" ${COHORT_SIZE:+--cohort-size "$COHORT_SIZE"} || true
    python -m fedgs_lite reproduce --data-root "$root" --datasets "${DATASETS:-synthetic,fashion_mnist,cifar10}" \
      --out results --dry-run | tail -n 1
    ;;
  study)
    # the authors' recorded figure with their CNN (issue 10; 100 runs x 200 rounds, about 31 PFLOP):
    # results/heterogeneity-cnn/, resumable like the grid
    PYTHONUNBUFFERED=1 timeout -s INT 560 python -m fedgs_lite reproduce --study heterogeneity --data-root "$root" \
      --out results/heterogeneity-cnn --no-progress --time-limit "${GRID_SECONDS:-480}" || true
    ;;
  *)
    echo "usage: bash benchmarks/gpu_session.sh bench|grid|study" >&2
    exit 2
    ;;
esac
if [ -n "${OUT:-}" ]; then
  tar czf "$OUT/results.tgz" benchmarks/RESULTS.md \
    $(ls results/summary.* results/*.png results/grid_calls.jsonl results/heterogeneity-cnn/*.* 2>/dev/null) || true
  [ -d results/runs ] && tar czf "$OUT/runs.tgz" --exclude='*.pt' results/runs || true
  [ -d results/heterogeneity-cnn/runs ] && tar czf "$OUT/study-runs.tgz" --exclude='*.pt' \
    results/heterogeneity-cnn/runs || true
fi
