#!/usr/bin/env bash
# CTest `gpu_bundle_no_gpu` (label cpu): the GPU bundle on a machine without a GPU.
#   bash tests/test_gpu_bundle.sh BUILD_DIR
# Packs BUILD_DIR/bin with scripts/gpu_bundle.sh --pack-only (no second build) into a temporary
# folder and checks that
#   1. every bundled binary resolves every library through the bundle's lib/ (ldd with
#      LD_LIBRARY_PATH=lib), except the CUDA driver's libcuda.so.1, and that each non-glibc,
#      non-CUDA library resolves to the bundle's own copy;
#   2. run.sh exits 3 (no GPU) within its budget, writes summary.md saying "no GPU" for every GPU
#      step, and leaves at most 8 files in OUT;
#   3. its apps step works end to end in test mode (LK_BUNDLE_APPS_DEVICE=cpu, two quick cases):
#      compare.py passes and the same-seed rerun is byte-identical.
# Skips (exit 77) where a GPU is present, or when the build has no benches or the Fashion-MNIST
# package is missing (scripts/setup.sh installs it).
set -euo pipefail
SRC="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="$(cd "${1:?usage: test_gpu_bundle.sh BUILD_DIR}" && pwd)"
skip() { echo "SKIP: $*"; exit 77; }
fail() {  # with the tails of whatever logs exist so far, for CI
  local f
  for f in "${T:-/nonexistent}"/{pack.log,run.log,run2.log,out/summary.md,out2/summary.md}; do
    [ -f "$f" ] && { echo "--- $f"; tail -25 "$f"; }
  done
  echo "FAIL: $*"
  exit 1
}

if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then
  skip "a GPU is present: this checks the no-GPU path (run gpu_bundle/run.sh itself)"
fi
[ -x "$BUILD/bin/bench_vae" ] || skip "$BUILD has no benches (LATENTKIT_BUILD_BENCH=OFF)"
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] ||
  skip "dataset-fashion-mnist is not installed"

T="$(mktemp -d)"
trap 'rm -rf "$T"' EXIT
# xz -1: a quicker pack for the test (the real bundle uses -6).
LATENTKIT_BUILD_DIR="$BUILD" LK_BUNDLE_XZ_LEVEL=-1 bash "$SRC/scripts/gpu_bundle.sh" --pack-only \
  "$T/bundle" >"$T/pack.log" 2>&1 || { cat "$T/pack.log"; fail "gpu_bundle.sh --pack-only failed"; }
tail -4 "$T/pack.log"
size=$(du -sb "$T/bundle" | cut -f1)
[ "$size" -le $((60 * 1048576)) ] || fail "bundle is $size bytes, over 60 MiB"

# 1. libraries
mkdir "$T/x"
tar -C "$T/x" -xJf "$T/bundle/bin.tar.xz"
n=0
for b in "$T"/x/bin/*; do
  n=$((n + 1))
  out=$(LD_LIBRARY_PATH="$T/bundle/lib" ldd "$b")
  missing=$(grep 'not found' <<<"$out" | grep -v 'libcuda\.so\.1' || true)
  [ -z "$missing" ] || fail "$(basename "$b") does not resolve: $missing"
  while read -r name _ path _; do
    case "$name" in
      linux-vdso*|ld-linux*|libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*|libresolv.so*) ;;
      libcuda.so*|libcudart.so*|libcublas.so*|libcublasLt.so*|libcufft.so*|libcurand.so*) ;;
      *) [ "$path" = "$T/bundle/lib/$name" ] ||
           fail "$(basename "$b"): $name resolves to $path, not the bundle's lib/" ;;
    esac
  done < <(awk '/=>/ {print $1, $2, $3, $4}' <<<"$out")
done
[ "$n" -ge 10 ] || fail "only $n binaries in the bundle"
echo "ok: $n binaries resolve their libraries through the bundle's lib/"

# 2. no GPU: exit 3, "no GPU" in summary.md, at most 8 files
rc=0
timeout 300 bash "$T/bundle/run.sh" "$T/out" >"$T/run.log" 2>&1 || rc=$?
[ "$rc" = 3 ] || { cat "$T/run.log"; fail "run.sh exited $rc, expected 3 (no GPU)"; }
[ -f "$T/out/summary.md" ] || fail "no summary.md"
for step in device gpu_tests sanitizer_memcheck sanitizer_racecheck sanitizer_initcheck \
            sanitizer_synccheck apps benches; do
  grep -qE "^\| $step \| \*\*no GPU\*\*" "$T/out/summary.md" ||
    { cat "$T/out/summary.md"; fail "summary.md does not say 'no GPU' for $step"; }
done
grep -qE '^\| binaries \| \*\*passed\*\*' "$T/out/summary.md" || fail "binaries step did not pass"
files=$(find "$T/out" -type f | wc -l)
[ "$files" -le 8 ] || fail "$files files in OUT (at most 8 come back)"
# The listing goes to a variable first: `tar | grep -q` under pipefail fails whenever grep exits on
# its match before tar has written the rest (tar then dies of SIGPIPE), which a large archive does.
listing=$(tar -tzf "$T/out/results.tar.gz")
grep -q steps.tsv <<<"$listing" || fail "results.tar.gz holds no steps.tsv"
echo "ok: run.sh without a GPU exits 3 and says 'no GPU' ($files files in OUT)"

# 3. the apps step in test mode
rc=0
LK_BUNDLE_APPS_DEVICE=cpu LK_BUNDLE_APPS="gmm_fit kmeans" timeout 300 \
  bash "$T/bundle/run.sh" "$T/out2" >"$T/run2.log" 2>&1 || rc=$?
[ "$rc" = 3 ] || { cat "$T/run2.log"; fail "run.sh (apps test mode) exited $rc, expected 3"; }
grep -qE '^\| apps \| \*\*passed\*\*' "$T/out2/summary.md" ||
  { cat "$T/out2/summary.md"; fail "the apps step did not pass in test mode"; }
grep -qE 'same-seed rerun: byte-identical outputs \| ([0-9]+) files \| \1 identical \|.*\| yes \|' \
    "$T/out2/summary.md" ||
  { cat "$T/out2/summary.md"; fail "no byte-identical rerun check in summary.md"; }
echo "ok: the apps step (cpu standing in for cuda) compares and reruns"
