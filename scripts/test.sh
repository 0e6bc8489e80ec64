#!/usr/bin/env bash
# Set up, build and run the whole test suite:
#  1. the normal build (nvcc): CPU tests and the GPU tests, which skip with their reason when no
#     CUDA device is present (label `gpu`); extra arguments go to this ctest (e.g. -L cpu);
#  2. the emulated-GPU build (tests/emu/README.md): the same GPU tests, the emulation layer's own
#     tests and the apps' --device cuda paths, run on the CPU execution layer under ASan+UBSan
#     (label `emu`), once in each thread order of LATENTKIT_EMU_ORDERS (default: forward and
#     reverse; `shuffle:SEED` is a third). For now this part runs only with LATENTKIT_EMU=1: it
#     joins the default (and so CI) once the whole emulated suite has been seen green after the
#     stream-ordering and tolerance fixes it prompted (issue 10 stays open until then).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
ctest --preset release -j "$(nproc)" "$@"

if [ "${LATENTKIT_EMU:-0}" = 1 ]; then
  cmake --preset emu >/dev/null
  cmake --build --preset emu -j "$(nproc)"
  for order in ${LATENTKIT_EMU_ORDERS:-forward reverse}; do
    echo "== emulated GPU, thread order: $order"
    LATENTKIT_EMU_ORDER="$order" ctest --preset emu -j "$(nproc)"
  done
fi
