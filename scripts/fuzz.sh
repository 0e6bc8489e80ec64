#!/usr/bin/env bash
# Fuzzes the file parsers with libFuzzer (clang, -fsanitize=fuzzer,address,undefined):
#   csv  latentkit::parse_csv_matrix   (host/src/io/data.cpp)
#   idx  latentkit::parse_idx_images / parse_idx_labels, plain and gzip (host/src/io/idx.cpp)
#   lkm  latentkit::parse_model_file, models and checkpoints (host/src/io/io.cpp)
# Usage: scripts/fuzz.sh [--build-only] [TARGET|all] [SECONDS]   (default: all, 600 s each)
# Each target (tests/fuzz/fuzz_<target>.cpp) starts from tests/fuzz/corpus/<target>/ and, when the
# run ends without a finding, merges what it found back into that corpus minimised (-merge=1 keeps
# the smallest set of inputs with the same coverage), so the corpora stay small. A finding stops
# the run and leaves the input in build-fuzz/artifacts/<target>/ (replay it with
# build-fuzz/fuzz_<target> FILE). CI replays the corpora (CTest fuzz_replay_<target>, label cpu).
set -euo pipefail
cd "$(dirname "$0")/.."
build_only=0
if [ "${1:-}" = --build-only ]; then build_only=1; shift; fi
targets="${1:-all}"
seconds="${2:-600}"
[ "$targets" = all ] && targets="csv idx lkm"
out=build-fuzz
mkdir -p "$out"
CXX="${CXX_FUZZ:-clang++}"
# -O1 -g: libFuzzer's recommended build (fast enough, readable stack traces).
flags=(-std=c++17 -O1 -g -fno-omit-frame-pointer -Ihost/include)
san=-fsanitize=address,undefined
srcs=(host/src/io/io.cpp host/src/io/data.cpp host/src/io/idx.cpp)
for t in $targets; do
  [ -f "tests/fuzz/fuzz_$t.cpp" ] || { echo "fuzz.sh: no target '$t' (csv, idx, lkm)"; exit 2; }
  "$CXX" "${flags[@]}" "$san",fuzzer -fno-sanitize-recover=undefined \
    "tests/fuzz/fuzz_$t.cpp" tests/fuzz/fuzz_libfuzzer.cpp "${srcs[@]}" -lz -o "$out/fuzz_$t"
done
[ "$build_only" = 1 ] && exit 0
for t in $targets; do
  corpus="tests/fuzz/corpus/$t"
  work="$out/work/$t"
  artifacts="$out/artifacts/$t/"
  mkdir -p "$corpus" "$work" "$artifacts"
  echo "== fuzz_$t for $seconds s"
  # -max_len 4096: parser bugs need structure, not size, and small inputs keep the corpus small;
  # -rss_limit_mb 2048 and -timeout 10: a parser that allocates or loops without bound is a bug.
  "$out/fuzz_$t" -max_total_time="$seconds" -max_len=4096 -rss_limit_mb=2048 -timeout=10 \
    -artifact_prefix="$artifacts" -print_final_stats=1 "$work" "$corpus"
  merged="$out/merged/$t"
  rm -rf "$merged"
  mkdir -p "$merged"
  "$out/fuzz_$t" -merge=1 -max_len=4096 "$merged" "$corpus" "$work" 2>&1 | tail -n 2
  rm -rf "$corpus"
  mkdir -p "$corpus"
  cp "$merged"/* "$corpus"/
  echo "== fuzz_$t: corpus now $(ls "$corpus" | wc -l) files, $(du -sh "$corpus" | cut -f1)"
done
