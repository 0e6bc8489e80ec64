#!/usr/bin/env bash
# Set up, build and run the whole test suite. GPU tests (label `gpu`) skip with their reason when
# no CUDA device is present. Extra arguments go to ctest (e.g. -L gpu).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
ctest --preset release -j "$(nproc)" "$@"
