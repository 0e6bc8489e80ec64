#!/usr/bin/env bash
# The GPU bundle's one command (packed by scripts/gpu_bundle.sh; README "Validating on a GPU"):
# validates and measures everything on a lent H100/H200 in at most 9 minutes, then writes
# OUT/summary.md (one table: each step passed / failed / no GPU / refused / skipped, with the
# headline figures and ratios), OUT/results.tar.gz (every log, JUnit XML, JSON and table) and
# OUT/run.log (this script's console). Nothing else is written under OUT.
#
#   bash gpu_bundle/run.sh [--rebuild | --no-rebuild] [--budget SECONDS] [--only STEPS] OUT
#
# --only gpu_tests,sanitizer,apps,benches (any of them, comma-separated) runs just those after the
# binaries and device steps, e.g. a second call with the device time left: --only benches.
#
# Steps, in order, each under its own `timeout`, later heavy steps cut or skipped when the budget
# (default 540 s; --budget or LK_BUNDLE_BUDGET_S) runs short:
#   binaries   every bundled binary starts (LD_LIBRARY_PATH = the bundle's lib/); if one does
#              not (other system libraries on the image), the sources are rebuilt there with the
#              image's CMake and nvcc (--rebuild forces that, --no-rebuild forbids it)
#   device     nvidia-smi: device, driver, memory; no GPU listed -> every GPU step says "no GPU"
#   gpu_tests  latentkit_gpu_tests with LATENTKIT_REQUIRE_GPU=1 (a skip is a failure: a driver too
#              old for CUDA 13 cannot pass by skipping), in LK_GPU_TEST_SHARDS (default 4) parallel
#              GoogleTest shards, JUnit XML per shard
#   sanitizer  compute-sanitizer memcheck, racecheck, initcheck and synccheck on a small subset of
#              the GPU tests (LK_SANITIZER_FILTER); "refused" where the tool refuses the device
#              (seen on gVisor machines), which is recorded and is not a failure
#   apps       every app end to end at small sizes, --device cuda against --device cpu (the CPU
#              runs start in the background after the device step), figures compared within the
#              tolerances of compare.py, and a same-seed --device cuda rerun that must write
#              byte-identical CSVs (and models and images)
#   benches    bench/run_all.sh with the prebuilt binaries and the Python peers
# Exit status: 0 every step passed (a sanitizer refusal allowed); 1 a step failed; 2 bad usage;
# 3 no GPU (nvidia-smi absent or listing no GPU: the GPU steps say "no GPU", nothing failed);
# 4 nothing failed but a step was cut or skipped for time.
# Testing without a GPU: LK_BUNDLE_APPS_DEVICE=cpu runs the apps step anyway, with --device cpu
# standing in for cuda (checks this script, compare.py and the CPU side's determinism);
# LK_BUNDLE_APPS="gmm_fit kmeans" limits it to those cases. Testing --rebuild here:
# LK_BUNDLE_REBUILD_TARGETS (default: every bundled binary), LK_BUNDLE_REBUILD_S (default 420),
# LK_BUNDLE_REBUILD_DIR (default $TMPDIR/latentkit-rebuild). LK_BUNDLE_ASSUME_GPU=1 runs the GPU
# steps without asking nvidia-smi: where CUDA finds no device they must fail, as with a driver
# too old for CUDA 13.
set -uo pipefail

B="$(cd "$(dirname "$0")" && pwd)"
usage() { awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "$0"; exit 2; }
mode=auto
OUT=""
ONLY=""
BUDGET="${LK_BUNDLE_BUDGET_S:-540}"
while [ $# -gt 0 ]; do
  case "$1" in
    --rebuild) mode=force ;;
    --no-rebuild) mode=never ;;
    --budget) BUDGET="${2:-}"; shift ;;
    --only) ONLY="${2:-}"; shift ;;
    -h|--help) usage ;;
    -*) echo "run.sh: unknown flag $1" >&2; usage ;;
    *) [ -z "$OUT" ] || usage; OUT="$1" ;;
  esac
  shift
done
[ -n "$OUT" ] || usage
case "$BUDGET" in ''|*[!0-9]*) echo "run.sh: --budget needs seconds" >&2; exit 2 ;; esac
for s in ${ONLY//,/ }; do
  case "$s" in gpu_tests|sanitizer|apps|benches) ;; *) echo "run.sh: --only: unknown step $s" >&2; exit 2 ;; esac
done
want() { [ -z "$ONLY" ] || [[ ",$ONLY," == *",$1,"* ]]; }
# The least time kept for the later steps that were asked for (seconds).
R_SAN=0; R_APPS=0; R_BENCH=0
want sanitizer && R_SAN=60
want apps && R_APPS=60
want benches && R_BENCH=150
mkdir -p "$OUT" || exit 2
OUT="$(cd "$OUT" && pwd)"

START=$(date +%s)
DEADLINE=$((START + BUDGET))
FINAL_RESERVE=20  # seconds kept for the summary and the archive
W="$(mktemp -d "${TMPDIR:-/tmp}/lk-bundle.XXXXXX")"
mkdir -p "$W/apps" "$W/bench" "$W/sanitizer"
STEPS="$W/steps.tsv"
: >"$STEPS"
exec > >(tee "$OUT/run.log") 2>&1
export PATH="/usr/local/cuda/bin:$PATH"
BIN="$B/bin"  # bin.tar.xz is unpacked into a temporary folder below
# Our binaries' library path: the bundle's lib/, then the CUDA toolkit's usual folders (the
# binaries' RUNPATH names the build machine's /usr/local/cuda/lib, which an image may lack).
CUDA_LIBS="/usr/local/cuda/lib64:/usr/local/cuda/targets/x86_64-linux/lib"
LIB="$B/lib:$CUDA_LIBS"
X=""
HAVE_GPU=0
APPS_DEVICE="${LK_BUNDLE_APPS_DEVICE:-cuda}"
NPROC=$(nproc 2>/dev/null || echo 4)
TAB=$'\t'

left() { echo $((DEADLINE - $(date +%s))); }
# limit CAP RESERVE: the seconds a step may take: CAP, less when fewer than CAP + RESERVE (what
# the later steps need at least) are left; prints 0 when the step must be skipped.
limit() {
  local l=$(($(left) - $2 - FINAL_RESERVE))
  [ "$l" -lt "$1" ] || l="$1"
  [ "$l" -ge 5 ] || l=0
  echo "$l"
}
record() {  # step status seconds note
  printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "${4:-}" >>"$STEPS"
  echo "== [$1] $2${4:+: $4} (${3}s, $(left)s of the budget left)"
}
lk() { env "LD_LIBRARY_PATH=$LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$@"; }
# run_limited SECONDS LOG CMD...: CMD under timeout, output to LOG; returns its status.
run_limited() {
  local secs="$1" log="$2"
  shift 2
  timeout -k 5 "$secs" "$@" >"$log" 2>&1
}

finished=0
finalize() {
  [ "$finished" = 0 ] || return
  finished=1
  stop_runs  # whatever still runs in the background (the CPU app runs)
  {
    echo "bundle: $(head -3 "$B/MANIFEST.txt" 2>/dev/null | tail -2 | tr '\n' ' ')"
    echo "host: $(hostname) $(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME"), $NPROC cores"
    echo "started: $(date -u -d "@$START" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || echo "$START"), budget ${BUDGET}s, took $(($(date +%s) - START))s"
  } >"$W/context.txt"
  if ! python3 "$B/summarize.py" "$W" "$OUT/summary.md"; then
    {
      echo "# latentkit GPU bundle: summary (summarize.py failed; the raw step table)"
      echo
      echo "| step | status | seconds | note |"
      echo "|---|---|---:|---|"
      awk -F'\t' '{printf "| %s | %s | %s | %s |\n", $1, $2, $3, $4}' "$STEPS"
    } >"$OUT/summary.md"
  fi
  cp "$OUT/summary.md" "$W/summary.md"
  [ -z "$X" ] || rm -rf "$X"
  tar -C "$W" -czf "$OUT/results.tar.gz" . 2>/dev/null ||
    echo "!! could not write $OUT/results.tar.gz"
  # 16 MiB at most per file comes back: without the apps' raw outputs if it is larger.
  if [ "$(stat -c %s "$OUT/results.tar.gz" 2>/dev/null || echo 0)" -gt 15728640 ]; then
    echo "!! results.tar.gz over 15 MiB: packing it without the apps' output folders"
    tar -C "$W" -czf "$OUT/results.tar.gz" --exclude='./apps/*/*/*' . 2>/dev/null
  fi
  rm -rf "$W"
}
trap 'finalize; exit 1' TERM INT

# Stops the background app runs (their `timeout`s, which stop the apps) and waits for them.
# (A bare `wait` would also wait for the `tee` of run.log: bash 5.1+ waits for process
# substitutions too.)
stop_runs() {
  local pids f
  pids=$(jobs -pr)
  [ -n "$pids" ] || return 0
  for f in "$W"/apps/*/cpu.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
  # shellcheck disable=SC2086
  wait $pids 2>/dev/null
}

exit_code() {
  if grep -qE "${TAB}(failed|timeout)${TAB}" "$STEPS"; then echo 1
  elif [ "$HAVE_GPU" = 0 ]; then echo 3
  elif grep -qE "${TAB}(cut${TAB}|skipped${TAB}out of time)" "$STEPS"; then echo 4
  else echo 0; fi
}

echo "== latentkit GPU bundle: $B -> $OUT (budget ${BUDGET}s)"

# ---- binaries: do the prebuilt ones start here? Otherwise rebuild from the packed sources ------
if [ ! -d "$BIN" ] && [ -f "$B/bin.tar.xz" ]; then
  X="$(mktemp -d "${TMPDIR:-/tmp}/lk-bundle-bin.XXXXXX")"
  if command -v xz >/dev/null 2>&1; then
    tar -C "$X" -xJf "$B/bin.tar.xz"
  else
    python3 -c "import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])" "$B/bin.tar.xz" "$X"
  fi
  BIN="$X/bin"
fi
mkdir -p "$BIN"
# The app cases (compare.py knows each one's figures): tsne_fft runs the tsne app's FFT method.
# LK_BUNDLE_APPS="gmm_fit kmeans" runs only those (the CI test's quick check of this step).
# shellcheck disable=SC2206
APPS=(${LK_BUNDLE_APPS:-vae_gmm gmm_fit kmeans mmd tsne tsne_fft rbm_mnist})
all_bins() { (cd "$BIN" && ls); }
check_bins() {  # prints the binaries of $BIN that do not start (the loader refuses them)
  local b out rc
  for b in $(all_bins); do
    case "$b" in
      latentkit_tests|latentkit_gpu_tests) out=$(lk timeout 20 "$BIN/$b" --gtest_list_tests 2>&1) ;;
      *) out=$(lk timeout 20 "$BIN/$b" --help 2>&1) ;;
    esac
    rc=$?
    if [ "$rc" = 127 ] || [ "$rc" = 126 ] ||
        grep -qE 'error while loading shared libraries|version .* not found|symbol lookup error' <<<"$out"; then
      echo "$b"
    fi
  done
}
rebuild() {
  local t0=$SECONDS R="${LK_BUNDLE_REBUILD_DIR:-${TMPDIR:-/tmp}/latentkit-rebuild}"
  local log="$W/rebuild.log" secs
  secs=$(limit "${LK_BUNDLE_REBUILD_S:-420}" 100)
  [ "$secs" -gt 0 ] || { record rebuild skipped 0 "out of time"; return 1; }
  echo "== rebuilding in $R from src.tar.gz and deps.tar.gz (at most ${secs}s; log rebuild.log)"
  # One script under one timeout: gtest from source, then latentkit with the packed headers.
  TARGETS="${LK_BUNDLE_REBUILD_TARGETS:-$(sed -n 's/^binaries: //p' "$B/MANIFEST.txt")}" \
  R="$R" B="$B" NPROC="$NPROC" timeout -k 5 "$secs" bash -eu -o pipefail -c '
    gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
    rm -rf "$R"; mkdir -p "$R/src"
    tar -xzf "$B/src.tar.gz" -C "$R/src"; tar -xzf "$B/deps.tar.gz" -C "$R"
    commit=$(sed -n "s/^commit: //p" "$B/MANIFEST.txt")
    echo "== googletest"
    cmake -S "$R/deps/googletest" -B "$R/gtest-build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
      -DBUILD_GMOCK=OFF -DINSTALL_GTEST=ON -DCMAKE_INSTALL_PREFIX="$R/deps" -DCMAKE_INSTALL_LIBDIR=lib
    cmake --build "$R/gtest-build" -j"$NPROC" --target install
    zlib=$(ldconfig -p 2>/dev/null | awk "/libz\\.so\\.1 .*x86-64/ {print \$NF; exit}")
    mkdir -p "$R/lib"
    if [ -z "$zlib" ]; then cp "$B/lib/libz.so.1" "$R/lib/"; zlib="$R/lib/libz.so.1"; fi
    echo "== latentkit (zlib: $zlib)"
    cmake -S "$R/src" -B "$R/build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_PREFIX_PATH="$R/deps" -DZLIB_INCLUDE_DIR="$R/deps/include" -DZLIB_LIBRARY="$zlib" \
      -DLATENTKIT_BUILD_TESTS=ON -DLATENTKIT_BUILD_BENCH=ON -DLATENTKIT_GIT_COMMIT="$commit"
    cmake --build "$R/build" -j"$NPROC" --target $TARGETS
    for t in latentkit_tests latentkit_gpu_tests; do  # the test binaries land in tests/
      [ ! -x "$R/build/tests/$t" ] || cp "$R/build/tests/$t" "$R/build/bin/"
    done
  ' >"$log" 2>&1
  local rc=$?
  if [ "$rc" = 0 ]; then
    BIN="$R/build/bin"
    LIB="$R/lib:$CUDA_LIBS"  # $R/lib holds libz.so.1 only when the image has none
    record rebuild passed $((SECONDS - t0)) "built with $(cmake --version | head -1), $(nvcc --version | tail -1)"
    return 0
  fi
  tail -20 "$log"
  case "$rc" in
    124|137) record rebuild timeout $((SECONDS - t0)) "stopped after ${secs}s; see rebuild.log" ;;
    *) record rebuild failed $((SECONDS - t0)) "exit $rc; see rebuild.log" ;;
  esac
  return 1
}

t0=$SECONDS
bad=""
if [ "$mode" != force ]; then bad=$(check_bins); fi
if [ "$mode" = force ] || [ -n "$bad" ]; then
  if [ -n "$bad" ]; then
    for b in $bad; do
      echo "-- $b does not start:"; lk "$BIN/$b" --help 2>&1 | head -3; lk ldd "$BIN/$b" | grep 'not found'
    done >"$W/binaries.log" 2>&1
    cat "$W/binaries.log"
  fi
  if [ "$mode" = never ]; then
    record binaries failed $((SECONDS - t0)) "do not start: $(echo $bad); rebuild forbidden (--no-rebuild); see binaries.log"
  elif rebuild; then
    prebuilt_bad="$bad"
    bad=$(check_bins)
    if [ -n "$bad" ]; then
      record binaries failed $((SECONDS - t0)) "rebuilt ones do not start either: $(echo $bad)"
    else
      record binaries passed $((SECONDS - t0)) "rebuilt here (${prebuilt_bad:+prebuilt did not start: $(echo $prebuilt_bad)}${prebuilt_bad:---rebuild})"
    fi
  else
    record binaries failed $((SECONDS - t0)) "prebuilt ones do not start ($(echo $bad)) and the rebuild failed"
  fi
else
  record binaries passed $((SECONDS - t0)) "prebuilt: all $(all_bins | wc -l) start"
fi
if grep -qE "^binaries${TAB}failed" "$STEPS"; then BINARIES_OK=0; else BINARIES_OK=1; fi

# ---- device ------------------------------------------------------------------------------------
t0=$SECONDS
if [ -n "${LK_BUNDLE_ASSUME_GPU:-}" ]; then
  HAVE_GPU=1  # testing only: the GPU steps run (and fail) where CUDA finds no device
  record device passed 0 "LK_BUNDLE_ASSUME_GPU is set: assuming a GPU without asking nvidia-smi"
elif ! command -v nvidia-smi >/dev/null 2>&1; then
  record device "no GPU" $((SECONDS - t0)) "nvidia-smi not found"
elif ! run_limited 30 "$W/nvidia-smi.txt" nvidia-smi; then
  record device "no GPU" $((SECONDS - t0)) "nvidia-smi failed: $(head -1 "$W/nvidia-smi.txt")"
else
  timeout 15 nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap,clocks.max.sm \
    --format=csv >"$W/gpu.csv" 2>&1
  if timeout 15 nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then
    HAVE_GPU=1
    record device passed $((SECONDS - t0)) "$(sed -n 2p "$W/gpu.csv")"
  else
    record device "no GPU" $((SECONDS - t0)) "nvidia-smi lists no GPU"
  fi
fi

# ---- the apps: the CPU side starts now, in the background ---------------------------------------
# Small sizes: each CPU run takes 2-25 s on one core of the 2-core CI machine, less there.
app_bin() { case "$1" in tsne_fft) echo tsne ;; *) echo "$1" ;; esac; }
app_args() {
  local d="$B/data"
  case "$1" in
    vae_gmm) echo "--n 2000 --k 5 --epochs 3 --n-generate 2000 --gmm-k-min 3 --gmm-k-max 7
                   --gmm-n-init 2 --kmeans-k-min 2 --kmeans-k-max 7 --kmeans-n-init 2
                   --mmd-permutations 50 --mmd-perm-max-points 2000 --tsne-iterations 300
                   --seed 7" ;;
    gmm_fit) echo "--input $d/mixture_a.csv --k-min 3 --k-max 8 --n-init 2 --seed 7" ;;
    kmeans)  echo "--input $d/mixture_a.csv --k-min 2 --k-max 8 --n-init 1 --seed 7" ;;
    mmd)     echo "--x $d/mixture_a.csv --y $d/mixture_b.csv --permutations 100 --perm-max-points 0 --seed 7" ;;
    tsne)    echo "--idx $d/fashion-mnist/t10k-images-idx3-ubyte.gz
                   --labels $d/fashion-mnist/t10k-labels-idx1-ubyte.gz --limit 500
                   --iterations 300 --seed 7" ;;
    tsne_fft) echo "--idx $d/fashion-mnist/train-images-idx3-ubyte.gz
                    --labels $d/fashion-mnist/train-labels-idx1-ubyte.gz --limit 2000
                    --method fft --iterations 300 --seed 7" ;;
    rbm_mnist) echo "--data $d/fashion-mnist --limit 2000 --test-limit 100 --eval-limit 500
                     --hidden 64 --epochs 2 --inpaint-steps 20 --n-samples 16 --seed 7" ;;
  esac
}
run_app() {  # case device outdir seconds: writes outdir/, outdir.log, .rc (status), .secs, .pid
  local app="$1" dev="$2" dir="$3" secs="$4" t0 rc
  mkdir -p "$dir"
  t0=$(date +%s.%N)
  # `env` execs `timeout`: $! is timeout's pid, which stop_runs signals (timeout passes it on).
  # shellcheck disable=SC2046
  env "LD_LIBRARY_PATH=$LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" timeout -k 5 "$secs" \
    "$BIN/$(app_bin "$app")" --device "$dev" --out "$dir" $(app_args "$app") >"$dir.log" 2>&1 &
  echo $! >"$dir.pid"
  wait $!
  rc=$?
  python3 -c "import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 3))" "$t0" \
    "$(date +%s.%N)" >"$dir.secs" 2>/dev/null
  echo "$rc" >"$dir.rc"
}
run_apps=0
if want apps && [ "$BINARIES_OK" = 1 ] && { [ "$HAVE_GPU" = 1 ] || [ -n "${LK_BUNDLE_APPS_DEVICE:-}" ]; }; then
  run_apps=1
  cpu_secs=$(limit 240 "$R_BENCH")
  if [ "$cpu_secs" -gt 0 ]; then
    for app in "${APPS[@]}"; do
      run_app "$app" cpu "$W/apps/$app/cpu" "$cpu_secs" &
    done
  fi
fi

# ---- GPU tests -----------------------------------------------------------------------------------
t0=$SECONDS
if ! want gpu_tests; then
  record gpu_tests "not asked" 0 "--only $ONLY"
elif [ "$HAVE_GPU" = 0 ]; then
  record gpu_tests "no GPU" 0 "not run"
elif [ "$BINARIES_OK" = 0 ]; then
  record gpu_tests failed 0 "the binaries do not start"
else
  secs=$(limit 180 $((R_SAN + R_APPS + R_BENCH)))
  if [ "$secs" = 0 ]; then
    record gpu_tests skipped 0 "out of time"
  else
    # Shards in parallel (GoogleTest's GTEST_TOTAL_SHARDS): the tests' time is mostly their CPU
    # references, so 4 processes on the machine's cores share the one GPU well.
    shards="${LK_GPU_TEST_SHARDS:-4}"
    for ((i = 0; i < shards; i++)); do
      LATENTKIT_REQUIRE_GPU=1 GTEST_TOTAL_SHARDS=$shards GTEST_SHARD_INDEX=$i \
        lk timeout -k 5 "$secs" "$BIN/latentkit_gpu_tests" \
        --gtest_output="xml:$W/gpu_tests_$i.xml" >"$W/gpu_tests_$i.log" 2>&1 &
      shard_pids[i]=$!
    done
    rc=0
    for ((i = 0; i < shards; i++)); do
      wait "${shard_pids[i]}" || { r=$?; [ "$rc" = 124 ] || [ "$rc" = 137 ] || rc=$r; }
    done
    tail -n 2 "$W"/gpu_tests_*.log
    passed=$(cat "$W"/gpu_tests_*.log | grep -c '^\[       OK \]')
    nfailed=$(cat "$W"/gpu_tests_*.log | grep -c '^\[  FAILED  \] .* ([0-9]* ms)$')
    case "$rc" in
      0) record gpu_tests passed $((SECONDS - t0)) "$passed tests OK in $shards shards" ;;
      124|137) record gpu_tests timeout $((SECONDS - t0)) "stopped after ${secs}s ($passed OK so far); see gpu_tests_*.log" ;;
      *) record gpu_tests failed $((SECONDS - t0)) "exit $rc: $passed OK, $nfailed FAILED; see gpu_tests_*.log" ;;
    esac
  fi
fi

# ---- compute-sanitizer on a small subset ---------------------------------------------------------
# About 30 small cases, one or two odd shapes per family (tails), that between them launch every
# kernel family: dense (custom tiles and the cuBLAS path), pairwise distances and kNN, MMD sums,
# KMeans assign/update (shared-memory centres), GMM E/M steps, t-SNE forces, RBM half steps, the
# losses, reparameterisation, Adam/SGD, shuffle, gather and sum, Philox. The tools slow kernels
# 10-100x (racecheck most), so the cases stay at test sizes. LK_SANITIZER_FILTER overrides it.
san_cases=(
  'PhiloxGpu.*'
  'Shapes/DenseGpu.ForwardAndBackwardMatchReference/n33_in31_out33_*'
  'Shapes/DenseGpu.ForwardAndBackwardMatchReference/n1021_in128_out256_relu_*_cublas'
  'Shapes/PairwiseGpu.SqdistAndRowSumsMatchReference/n31_m33_d3'
  'Shapes/PairwiseGpu.SqdistAndRowSumsMatchReference/n65_m64_d31'
  'Shapes/KnnGpu.RandomDataMatchesReference/nq33_nx33_d2_k32_self'
  'Shapes/MmdGpu.*/n31_m33_d3'
  'Shapes/KMeansGpu.AssignAndUpdateMatchReference/n1021_d3_k15'
  'Shapes/KMeansGpu.AssignAndUpdateMatchReference/n257_d33_k400'
  'GmmGpu.EStepAndMStepMatchReference'
  'TsneGpu.ForcesKlAndUpdateMatchReference'
  'RbmGpu.HalfStepsMatchReference'
  'Shapes/LossesGpu.*/n33_d31'
  'Shapes/ReparamGpu.*/n33_l31'
  'Sizes/OptimGpu.*/n1021_wd'
  'Sizes/ShuffleGpu.PermutationEqualsReference/n1021'
  'Shapes/GatherGpu.CopiesTheIndexedRows/rows31_count33_d3'
  'Sizes/SumGpu.MatchesReferenceWithinDoubleRounding/n1021'
)
SAN_FILTER="${LK_SANITIZER_FILTER:-$(IFS=:; echo "${san_cases[*]}")}"
SANITIZER=$(command -v compute-sanitizer || true)
for tool in memcheck racecheck initcheck synccheck; do
  t0=$SECONDS
  if ! want sanitizer; then record "sanitizer_$tool" "not asked" 0 "--only $ONLY"; continue; fi
  if [ "$HAVE_GPU" = 0 ]; then record "sanitizer_$tool" "no GPU" 0 "not run"; continue; fi
  if [ "$BINARIES_OK" = 0 ]; then record "sanitizer_$tool" failed 0 "the binaries do not start"; continue; fi
  if [ -z "$SANITIZER" ]; then record "sanitizer_$tool" "n/a" 0 "compute-sanitizer not found"; continue; fi
  secs=$(limit 60 $((R_APPS + R_BENCH)))
  if [ "$secs" = 0 ]; then record "sanitizer_$tool" skipped 0 "out of time"; continue; fi
  log="$W/sanitizer/$tool.log"
  extra=()
  [ "$tool" != memcheck ] || extra=(--leak-check full)
  LATENTKIT_REQUIRE_GPU=1 lk timeout -k 5 "$secs" "$SANITIZER" --tool "$tool" --error-exitcode 99 \
    --print-limit 20 "${extra[@]}" "$BIN/latentkit_gpu_tests" --gtest_filter="$SAN_FILTER" \
    --gtest_brief=1 >"$log" 2>&1
  rc=$?
  summary=$(grep -o 'ERROR SUMMARY: .*' "$log" | tail -1)
  if grep -qiE 'device not supported|not supported on this (device|platform)|unable to (create|connect)|error 999|Target application terminated before first instrumented' "$log"; then
    record "sanitizer_$tool" refused $((SECONDS - t0)) "the tool refused this device: $(grep -iE -m1 'not supported|unable|error 999|terminated before' "$log" | cut -c1-100)"
  else
    case "$rc" in
      0) record "sanitizer_$tool" passed $((SECONDS - t0)) "${summary:-no errors}" ;;
      124|137) record "sanitizer_$tool" timeout $((SECONDS - t0)) "stopped after ${secs}s (${summary:-no summary})" ;;
      99) record "sanitizer_$tool" failed $((SECONDS - t0)) "$summary; see sanitizer/$tool.log" ;;
      *) record "sanitizer_$tool" failed $((SECONDS - t0)) "exit $rc (${summary:-tests failed under the tool}); see sanitizer/$tool.log" ;;
    esac
  fi
done

# ---- apps: the device runs, then the comparison -------------------------------------------------
t0=$SECONDS
if ! want apps; then
  record apps "not asked" 0 "--only $ONLY"
elif [ "$run_apps" = 0 ]; then
  if [ "$HAVE_GPU" = 0 ]; then record apps "no GPU" 0 "not run"; else record apps failed 0 "the binaries do not start"; fi
else
  secs=$(limit 150 "$R_BENCH")
  if [ "$secs" = 0 ]; then
    record apps skipped 0 "out of time"
  else
    app_deadline=$(($(date +%s) + secs))
    for app in "${APPS[@]}"; do
      for run in cuda cuda2; do
        s=$((app_deadline - $(date +%s)))
        if [ "$s" -lt 5 ]; then echo 124 >"$W/apps/$app/$run.rc"; mkdir -p "$W/apps/$app/$run"; continue; fi
        run_app "$app" "$APPS_DEVICE" "$W/apps/$app/$run" "$s"
      done
    done
    # The CPU runs: wait for them until the step's time is up, then stop what is left.
    while [ -n "$(jobs -pr)" ] && [ "$(date +%s)" -lt "$app_deadline" ]; do sleep 1; done
    [ -z "$(jobs -pr)" ] || { echo "== stopping CPU app runs still going"; stop_runs; }
    for app in "${APPS[@]}"; do [ -f "$W/apps/$app/cpu.rc" ] || echo 124 >"$W/apps/$app/cpu.rc"; done
    python3 "$B/compare.py" "$W/apps" --device-label "$APPS_DEVICE" --json "$W/apps/compare.json" \
      --markdown "$W/apps/compare.md"
    rc=$?
    case "$rc" in
      0) record apps passed $((SECONDS - t0)) "$(head -1 "$W/apps/compare.md" 2>/dev/null)" ;;
      *) record apps failed $((SECONDS - t0)) "$(head -1 "$W/apps/compare.md" 2>/dev/null); see apps/compare.md" ;;
    esac
  fi
fi
# Nothing of the apps step may still run when the benches start (it would perturb the timings).
stop_runs

# ---- benches -------------------------------------------------------------------------------------
t0=$SECONDS
if ! want benches; then
  record benches "not asked" 0 "--only $ONLY"
elif [ "$HAVE_GPU" = 0 ]; then
  record benches "no GPU" 0 "not run"
elif [ "$BINARIES_OK" = 0 ]; then
  record benches failed 0 "the binaries do not start"
elif [ "$(limit 600 0)" -lt 30 ]; then
  record benches skipped 0 "out of time"
else
  # bench_tsne's 70000-image case: the bundle's full image files (else skipped with a line).
  fmnist="$B/data/fashion-mnist-full"
  [ -d "$fmnist" ] || fmnist=/usr/share/datasets/fashion-mnist
  (cd "$B/bench" && LATENTKIT_BIN_DIR="$BIN" LATENTKIT_LIB_DIR="$LIB" LATENTKIT_REQUIRE_GPU=1 \
    BENCH_DEADLINE=$((DEADLINE - FINAL_RESERVE)) BENCH_MIN_STEP_S=20 FMNIST_DIR="$fmnist" \
    RBM_CPU_ARGS="${LK_RBM_CPU_ARGS:---runs 1}" TSNE_PEER_ARGS="${LK_TSNE_PEER_ARGS:---case exact --n 2000}" \
    bash ./run_all.sh "$W/bench" >"$W/bench/run_all.log" 2>&1)
  rc=$?
  grep -E '^(==|!!)' "$W/bench/run_all.log" | tail -40
  nfail=$(grep -cE "${TAB}(failed|timeout)${TAB}" "$W/bench/steps.tsv" 2>/dev/null)
  nskip=$(grep -cE "${TAB}skipped${TAB}" "$W/bench/steps.tsv" 2>/dev/null)
  nok=$(grep -cE "${TAB}ok${TAB}" "$W/bench/steps.tsv" 2>/dev/null)
  note="$nok ok, $nfail failed or stopped, $nskip skipped (bench/steps.tsv)"
  if [ "$rc" != 0 ] || [ "$nfail" != 0 ]; then record benches failed $((SECONDS - t0)) "$note"
  elif grep -qE "${TAB}skipped${TAB}out of time" "$W/bench/steps.tsv"; then record benches cut $((SECONDS - t0)) "$note"
  else record benches passed $((SECONDS - t0)) "$note"; fi
fi

code=$(exit_code)
echo "$code" >"$W/exit_code"
finalize
echo "== exit $code (0 passed, 1 failed, 3 no GPU, 4 cut for time); $OUT: $(cd "$OUT" && ls | tr '\n' ' ')"
sleep 0.2  # let tee write run.log's last lines
exit "$code"
