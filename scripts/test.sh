#!/usr/bin/env bash
# Set up, build and run the whole test suite:
#  1. the normal build (nvcc): CPU tests and the GPU tests, which skip with their reason when no
#     CUDA device is present (label `gpu`); extra arguments go to this ctest (e.g. -L cpu);
#  2. the emulated-GPU build (tests/emu/README.md), under ASan+UBSan: the same GPU tests, the
#     emulation layer's own tests and the apps' --device cuda paths on the CPU execution layer
#     (label `emu`), once in each thread order of LATENTKIT_EMU_ORDERS (default: forward and
#     reverse; `shuffle:SEED` is a third), and the CPU tests once more under the sanitizers (label
#     `asan`; the thread order does not reach them, so they run once). LATENTKIT_EMU=0 skips this
#     part (e.g. for a quick local run); CI runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
ctest --preset release -j "$(nproc)" "$@"

if [ "${LATENTKIT_EMU:-1}" = 1 ]; then
  cmake --preset emu >/dev/null
  cmake --build --preset emu -j "$(nproc)"
  echo "== CPU tests under ASan+UBSan (emulated tree)"
  ctest --preset emu -j "$(nproc)" -L asan
  for order in ${LATENTKIT_EMU_ORDERS:-forward reverse}; do
    echo "== emulated GPU, thread order: $order"
    LATENTKIT_EMU_ORDER="$order" ctest --preset emu -j "$(nproc)" -L emu
  done
fi
