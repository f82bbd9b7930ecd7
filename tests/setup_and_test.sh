#!/usr/bin/env bash
# Set up a fresh machine and run the whole test suite (unit tests, notebooks, browser test).
# Usage: bash tests/setup_and_test.sh [extra pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."

# The CPU build of torch first: a plain `torch` requirement would pull a multi-GB CUDA build.
python -m pip install -q torch==2.13.0
python -m pip install -q -e ".[test]"

# Debian's Chromium for the real-browser notebook test (skipped with a reason when absent).
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "warning: could not install chromium; the browser test will be skipped"
fi
# The notebook tests' "python3" kernel is this environment's own (installed into the environment when it
# has none, never with --user, which would replace the user's global python3 kernel), and it wins over a
# user-wide one.
python tests/jupyter_kernel.py
export JUPYTER_PREFER_ENV_PATH=1

# Offline datasets: the shared folder beside the checkout, unless the caller set FEDGS_DATA.
if [ -z "${FEDGS_DATA:-}" ] && [ -d ../shared/data ]; then
  export FEDGS_DATA="$(cd ../shared/data && pwd)"
fi
export MPLBACKEND=Agg
python -m pytest -q "$@"
