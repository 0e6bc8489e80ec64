#!/usr/bin/env bash
# One command for every benchmark: configures and builds the bench targets (incremental: only
# what changed), runs bench_dense and bench_vae with --json/--markdown into a results folder, runs
# the PyTorch peer (bench/peers/vae_torch.py: eager, then --cuda-graphs) when `import torch` works
# and torch sees a GPU, hands the eager peer's JSON to bench_vae (--peer-json), and prints the
# seed training run's ratio, latentkit vs PyTorch, in samples/s (> 1: latentkit faster).
#
#   bash bench/run_all.sh [RESULTS_DIR]        (default bench/results)
#
# Environment: LATENTKIT_BUILD_DIR (default build-bench: its own build tree, configured with
# -DLATENTKIT_BUILD_BENCH=ON whatever another tree's cache says), BENCH_ARGS (extra flags for
# every bench binary, e.g. "--runs 50" or "--smoke"), PEER_MODES (default "eager cuda-graphs";
# add "compile" for torch.compile).
# Prebuilt binaries (the GPU bundle, scripts/gpu_bundle/run.sh): LATENTKIT_BIN_DIR=DIR runs the
# bench_* binaries found there and builds nothing; LATENTKIT_LIB_DIR=DIR puts DIR on
# LD_LIBRARY_PATH for those binaries only (not for the Python peers); PYTHON (default python3).
# Time limits: BENCH_DEADLINE (a `date +%s` time) stops every step at that time (`timeout`) and
# skips a step when fewer than BENCH_MIN_STEP_S (default 15) seconds are left;
# BENCH_STEP_TIMEOUT (seconds) caps each step. Each step's outcome (ok, failed, timeout, skipped)
# and seconds go to RESULTS_DIR/steps.tsv.
# Without a GPU every bench prints "no CUDA device (...): benchmark skipped" and the script still
# exits 0 (nothing to compare); with LATENTKIT_REQUIRE_GPU=1 they fail instead. It exits 1 if a
# bench failed (e.g. its validation) or was stopped at its time limit (not for a step skipped
# because the deadline was near: steps.tsv records those).
# The RBM block runs bench_rbm (GPU), bench_rbm --cpu (the CPU reference's epoch; RBM_CPU_ARGS
# adds flags, e.g. "--runs 1") and the peers bench/peers/rbm_torch.py (GPU) and rbm_sklearn.py
# (scikit-learn, CPU) when available. The scikit-learn t-SNE peer runs last (minutes on the full
# cases; TSNE_PEER_ARGS passes it flags, e.g. "--case exact --n 2000").
#
# On the lent GPU machine (the session's `run` tool, kind nvidia-h100-x1 or nvidia-h200): prefer
# the GPU bundle (README "Validating on a GPU": prebuilt binaries, one call). To build there
# instead: the working tree is copied there, ignored build folders are not, and only files under
# $OUT come back:
#   run: command = bash bench/run_all.sh "$OUT/results"      (timeout_s 600)
# Building there from scratch takes a few minutes of the 10-minute limit per call; to split it,
# first `BENCH_ARGS=--smoke bash bench/run_all.sh "$OUT/smoke"` (builds, then smoke-runs), then the
# full command above while the machine is still warm (build outputs there are kept between calls).
# Then copy the markdown tables from the returned results/ into bench/RESULTS.md, with the device,
# date and commit from their header lines.
set -euo pipefail
cd "$(dirname "$0")/.."

RESULTS="${1:-bench/results}"
BENCH_ARGS="${BENCH_ARGS:-}"
PEER_MODES="${PEER_MODES:-eager cuda-graphs}"
PYTHON="${PYTHON:-python3}"
mkdir -p "$RESULTS"
RESULTS="$(cd "$RESULTS" && pwd)"
export PATH="/usr/local/cuda/bin:$PATH"

if [ -n "${LATENTKIT_BIN_DIR:-}" ]; then
  BIN="$LATENTKIT_BIN_DIR"
  echo "== prebuilt binaries in $BIN (nothing built)"
else
  BUILD="${LATENTKIT_BUILD_DIR:-build-bench}"
  echo "== build ($BUILD)"
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DLATENTKIT_BUILD_BENCH=ON >"$RESULTS/cmake.log"
  cmake --build "$BUILD" -j"$(nproc)" --target bench_dense bench_vae bench_rbm bench_pairwise \
    bench_gmm bench_tsne >>"$RESULTS/cmake.log"
  BIN="$BUILD/bin"
fi
# Our binaries run through `env` (so `timeout` can start them) with the bundle's libraries first.
LK=(env)
[ -z "${LATENTKIT_LIB_DIR:-}" ] || LK=(env "LD_LIBRARY_PATH=$LATENTKIT_LIB_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")

STEPS="$RESULTS/steps.tsv"
: >"$STEPS"
status=0
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "${4:-}" >>"$STEPS"; }

# The seconds the next step may take ("" = no limit), or "skip" when too little time is left.
step_limit() {
  local limit="${BENCH_STEP_TIMEOUT:-}"
  if [ -n "${BENCH_DEADLINE:-}" ]; then
    local left=$((BENCH_DEADLINE - $(date +%s)))
    [ "$left" -ge "${BENCH_MIN_STEP_S:-15}" ] || { echo skip; return; }
    if [ -z "$limit" ] || [ "$left" -lt "$limit" ]; then limit="$left"; fi
  fi
  echo "$limit"
}

# step NAME LOG CMD...: runs CMD (output to the terminal and LOG) within step_limit, records the
# outcome in steps.tsv and returns CMD's status (3 when skipped for time).
step() {
  local name="$1" log="$2"
  shift 2
  local limit rc=0 t0=$SECONDS
  limit=$(step_limit)
  if [ "$limit" = skip ]; then
    echo "== $name skipped: out of time (BENCH_DEADLINE)"
    record "$name" skipped 0 "out of time"
    return 3
  fi
  if [ -n "$limit" ]; then
    timeout -k 10 "$limit" "$@" 2>&1 | tee "$log" || rc=$?
  else
    "$@" 2>&1 | tee "$log" || rc=$?
  fi
  local secs=$((SECONDS - t0))
  case "$rc" in
    0) record "$name" ok "$secs" ;;
    124|137) echo "!! $name stopped after ${limit}s (time limit)"
             record "$name" timeout "$secs" "stopped after ${limit} s; see $(basename "$log")" ;;
    *) record "$name" failed "$secs" "exit $rc; see $(basename "$log")" ;;
  esac
  return "$rc"
}

# After `step ... || failed LABEL`: says LABEL failed, unless step skipped it for time (status 3).
failed() {
  local rc=$?
  [ "$rc" = 3 ] || echo "!! $1 failed (exit $rc)"
  return 0
}

run_bench() {  # name, extra args...
  local name="$1" rc=0
  shift
  echo "== $name"
  # shellcheck disable=SC2086  # BENCH_ARGS is a list of flags
  step "$name" "$RESULTS/$name.log" "${LK[@]}" "$BIN/$name" --json "$RESULTS/$name.json" \
    --markdown "$RESULTS/$name.md" $BENCH_ARGS "$@" || rc=$?
  case "$rc" in
    0|3) ;;  # 3: skipped for time (steps.tsv says so)
    *) echo "!! $name failed (see $RESULTS/$name.log)"; status=1 ;;
  esac
}

smoke=""
case " $BENCH_ARGS " in *" --smoke "*) smoke=1 ;; esac
torch_cuda=""
if "$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
  torch_cuda=1
elif "$PYTHON" -c "import torch" 2>/dev/null; then
  torch_missing="torch is installed but sees no CUDA device"
else
  torch_missing="$PYTHON cannot import torch"
fi
have_sklearn=""
"$PYTHON" -c "import sklearn" 2>/dev/null && have_sklearn=1

# ---- the PyTorch peer first, so bench_vae can report the ratio itself ----
peer_jsons=()
if [ -n "$torch_cuda" ]; then
  for mode in $PEER_MODES; do
    flag=""
    [ "$mode" = "eager" ] || flag="--$mode"
    out="$RESULTS/vae_torch_${mode//-/_}.json"
    echo "== PyTorch peer ($mode)"
    epochs_flag=""
    [ -z "$smoke" ] || epochs_flag="--epochs 1 --n 1000"
    # shellcheck disable=SC2086
    if step "vae_torch_${mode//-/_}" "$RESULTS/vae_torch_${mode//-/_}.log" \
        "$PYTHON" bench/peers/vae_torch.py --device cuda $flag $epochs_flag --json "$out"; then
      peer_jsons+=("$out")
    else
      failed "PyTorch peer ($mode) (see $RESULTS/vae_torch_${mode//-/_}.log)"
    fi
  done
else
  echo "== PyTorch peer skipped: $torch_missing"
  record vae_torch skipped 0 "$torch_missing"
fi

run_bench bench_dense
if [ "${#peer_jsons[@]}" -gt 0 ]; then
  run_bench bench_vae --peer-json "${peer_jsons[0]}"
else
  run_bench bench_vae
fi

# ---- t-SNE (bench/bench_tsne.cu). FMNIST_DIR: the directory of Fashion-MNIST's IDX files (train
# + t10k images, 70000 x 784 together) that bench_tsne and its scikit-learn peer (run last, below)
# read for the end-to-end pipeline (each skips that case with a line when they are absent).
FMNIST_DIR="${FMNIST_DIR:-/usr/share/datasets/fashion-mnist}"
run_bench bench_tsne --fmnist-dir "$FMNIST_DIR"

# ---- the headline: the seed training run, latentkit vs each PyTorch mode ----
"$PYTHON" - "$RESULTS/bench_vae.json" "${peer_jsons[@]}" <<'EOF' || true
import json, os, sys
path, peers = sys.argv[1], sys.argv[2:]
if not os.path.exists(path):
    print("== no bench_vae.json (no GPU, or the bench failed): no ratio to print")
    sys.exit(0)
ours = next((r for r in json.load(open(path))["results"]
             if r["name"].startswith("VAE seed training run")), None)
if ours is None or not ours.get("samples_per_s"):
    print("== bench_vae.json holds no training-run figure: no ratio to print")
    sys.exit(0)
print(f"== seed training run: latentkit {ours['samples_per_s']:.0f} samples/s "
      f"({ours['seconds']:.3f} s for {ours['epochs']:.0f} epochs)")
if not peers:
    print("   no PyTorch peer ran: no ratio")
for p in peers:
    pj = json.load(open(p))
    print(f"   vs {pj['name']} on {pj['device']} (torch {pj['torch_version']}): "
          f"{pj['samples_per_s']:.0f} samples/s -> ratio latentkit/PyTorch = "
          f"{ours['samples_per_s'] / pj['samples_per_s']:.2f} (> 1: latentkit faster)")
EOF
# ---- RBM (issue 6): bench_rbm, its CPU epoch, the PyTorch peer on the GPU and scikit-learn ----
run_bench bench_rbm
echo "== bench_rbm --cpu (one CD-1 epoch on the CPU reference)"
# shellcheck disable=SC2086
step bench_rbm_cpu "$RESULTS/bench_rbm_cpu.log" "${LK[@]}" "$BIN/bench_rbm" --cpu \
  --json "$RESULTS/bench_rbm_cpu.json" --markdown "$RESULTS/bench_rbm_cpu.md" $BENCH_ARGS \
  ${RBM_CPU_ARGS:-} || { rc=$?; [ "$rc" = 3 ] || status=1; }
rbm_peer_n=60000
[ -z "$smoke" ] || rbm_peer_n=1031
if [ -n "$torch_cuda" ]; then
  echo "== PyTorch RBM peer"
  step rbm_torch "$RESULTS/rbm_torch.log" "$PYTHON" bench/peers/rbm_torch.py --n "$rbm_peer_n" \
    --json "$RESULTS/rbm_torch.json" || failed "PyTorch RBM peer"
else
  echo "== PyTorch RBM peer skipped: torch missing or sees no CUDA device"
  record rbm_torch skipped 0 "${torch_missing:-}"
fi
if [ -n "$have_sklearn" ]; then
  echo "== scikit-learn BernoulliRBM peer (CPU, one epoch)"
  step rbm_sklearn "$RESULTS/rbm_sklearn.log" "$PYTHON" bench/peers/rbm_sklearn.py \
    --n "$rbm_peer_n" --json "$RESULTS/rbm_sklearn.json" || failed "scikit-learn RBM peer"
else
  echo "== scikit-learn RBM peer skipped: $PYTHON cannot import sklearn"
  record rbm_sklearn skipped 0 "no sklearn"
fi

# ---- pairwise family (issue 4): bench_pairwise, the torch.cdist MMD peer, the sklearn peer ----
run_bench bench_pairwise
if [ -n "$torch_cuda" ]; then
  echo "== torch.cdist MMD peer"
  # shellcheck disable=SC2046
  step mmd_torch "$RESULTS/mmd_torch.log" "$PYTHON" bench/peers/mmd_torch.py --device cuda \
      --json "$RESULTS/mmd_torch.json" \
      $([ -n "$smoke" ] && echo "--n 1021 --runs 2 --permutations 5") ||
    failed "torch MMD peer"
else
  echo "== torch.cdist MMD peer skipped: no torch with a CUDA device"
  record mmd_torch skipped 0 "${torch_missing:-}"
fi
if [ -n "$have_sklearn" ]; then
  echo "== scikit-learn KMeans / silhouette peer (CPU)"
  # shellcheck disable=SC2046
  step kmeans_sklearn "$RESULTS/kmeans_sklearn.log" "$PYTHON" bench/peers/kmeans_sklearn.py \
      --json "$RESULTS/kmeans_sklearn.json" \
      $([ -n "$smoke" ] && echo "--n 20000 --iters 5 --sil-n 1021 --runs 1") ||
    failed "sklearn KMeans peer"
else
  echo "== scikit-learn peer skipped: $PYTHON cannot import sklearn"
  record kmeans_sklearn skipped 0 "no sklearn"
fi

# ---- GMM-EM (issue 3): scikit-learn on the same data first, then bench_gmm with its ratio ----
gmm_peer=()
# shellcheck disable=SC2086
if "${LK[@]}" "$BIN/bench_gmm" --write-data "$RESULTS/gmm_seed.csv" $BENCH_ARGS >/dev/null &&
    [ -n "$have_sklearn" ]; then
  echo "== scikit-learn peer (GaussianMixture, seed case)"
  gmm_k=""
  [ -z "$smoke" ] || gmm_k="--k-min 2 --k-max 4 --max-iter 3"
  # shellcheck disable=SC2086
  if step gmm_sklearn "$RESULTS/gmm_sklearn.log" "$PYTHON" bench/peers/gmm_sklearn.py \
      --data "$RESULTS/gmm_seed.csv" $gmm_k --json "$RESULTS/gmm_sklearn.json"; then
    gmm_peer=(--peer-json "$RESULTS/gmm_sklearn.json")
  else
    failed "scikit-learn GMM peer (see $RESULTS/gmm_sklearn.log)"
  fi
else
  echo "== scikit-learn peer skipped: $PYTHON cannot import sklearn (pip install --user scikit-learn)"
  record gmm_sklearn skipped 0 "no sklearn, or bench_gmm --write-data failed"
fi
run_bench bench_gmm "${gmm_peer[@]}"

# ---- the scikit-learn t-SNE peer (CPU; minutes on the full cases, so last): the same data as
# bench_tsne; skipped with a line when numpy/scikit-learn are missing ----
if [ -n "$smoke" ]; then
  echo "== scikit-learn t-SNE peer skipped (--smoke)"
else
  echo "== scikit-learn t-SNE peer (CPU)"
  # shellcheck disable=SC2086
  step tsne_sklearn "$RESULTS/tsne_sklearn.log" "$PYTHON" bench/peers/tsne_sklearn.py \
    --fmnist-dir "$FMNIST_DIR" --json "$RESULTS/tsne_sklearn.json" ${TSNE_PEER_ARGS:-} ||
    failed "scikit-learn t-SNE peer"
fi
echo "== results in $RESULTS"
exit $status
