#!/usr/bin/env bash
# Set up (scripts/setup.sh), configure with the release preset and build everything.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="/usr/local/cuda/bin:$PATH"
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)"
