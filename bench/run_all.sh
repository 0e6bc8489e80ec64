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
# Without a GPU every bench prints "no CUDA device (...): benchmark skipped" and the script still
# exits 0 (nothing to compare). It exits 1 if a bench failed (e.g. its validation).
# The RBM block at the end runs bench_rbm (GPU), bench_rbm --cpu (the CPU reference's epoch) and
# the peers bench/peers/rbm_torch.py (GPU) and rbm_sklearn.py (scikit-learn, CPU) when available.
#
# On the lent GPU machine (the session's `run` tool, kind nvidia-h100-x1 or nvidia-h200): the
# working tree is copied there, ignored build folders are not, and only files under $OUT come back:
#   run: command = bash bench/run_all.sh "$OUT/results"      (timeout_s 600)
# Building there from scratch takes a few minutes of the 10-minute limit per call; to split it,
# first `BENCH_ARGS=--smoke bash bench/run_all.sh "$OUT/smoke"` (builds, then smoke-runs), then the
# full command above while the machine is still warm (build outputs there are kept between calls).
# Then copy the markdown tables from the returned results/ into bench/RESULTS.md, with the device,
# date and commit from their header lines.
set -euo pipefail
cd "$(dirname "$0")/.."

RESULTS="${1:-bench/results}"
BUILD="${LATENTKIT_BUILD_DIR:-build-bench}"
BENCH_ARGS="${BENCH_ARGS:-}"
PEER_MODES="${PEER_MODES:-eager cuda-graphs}"
mkdir -p "$RESULTS"
export PATH="/usr/local/cuda/bin:$PATH"

echo "== build ($BUILD)"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DLATENTKIT_BUILD_BENCH=ON >"$RESULTS/cmake.log"
cmake --build "$BUILD" -j"$(nproc)" --target bench_dense bench_vae bench_rbm bench_pairwise bench_gmm \
  bench_tsne >>"$RESULTS/cmake.log"
BIN="$BUILD/bin"

status=0
run_bench() {  # name, extra args...
  local name="$1"
  shift
  echo "== $name"
  # shellcheck disable=SC2086  # BENCH_ARGS is a list of flags
  if ! "$BIN/$name" --json "$RESULTS/$name.json" --markdown "$RESULTS/$name.md" $BENCH_ARGS "$@" \
      2>&1 | tee "$RESULTS/$name.log"; then
    echo "!! $name failed (see $RESULTS/$name.log)"
    status=1
  fi
}

# ---- the PyTorch peer first, so bench_vae can report the ratio itself ----
peer_jsons=()
if python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
  for mode in $PEER_MODES; do
    flag=""
    [ "$mode" = "eager" ] || flag="--$mode"
    out="$RESULTS/vae_torch_${mode//-/_}.json"
    echo "== PyTorch peer ($mode)"
    epochs_flag=""
    case " $BENCH_ARGS " in *" --smoke "*) epochs_flag="--epochs 1 --n 1000" ;; esac
    # shellcheck disable=SC2086
    if python3 bench/peers/vae_torch.py --device cuda $flag $epochs_flag --json "$out" \
        2>&1 | tee "$RESULTS/vae_torch_${mode//-/_}.log"; then
      peer_jsons+=("$out")
    else
      echo "!! PyTorch peer ($mode) failed (see $RESULTS/vae_torch_${mode//-/_}.log)"
    fi
  done
elif python3 -c "import torch" 2>/dev/null; then
  echo "== PyTorch peer skipped: torch is installed but sees no CUDA device"
else
  echo "== PyTorch peer skipped: python3 cannot import torch"
fi

run_bench bench_dense
if [ "${#peer_jsons[@]}" -gt 0 ]; then
  run_bench bench_vae --peer-json "${peer_jsons[0]}"
else
  run_bench bench_vae
fi

# ---- t-SNE (bench/bench_tsne.cu) and its CPU peer, scikit-learn (bench/peers/tsne_sklearn.py:
# skipped with a line when numpy/scikit-learn are missing). FMNIST_DIR: the directory of
# Fashion-MNIST's IDX files (train + t10k images, 70000 x 784 together) that both read for the
# end-to-end pipeline (each skips that case with a line when they are absent).
FMNIST_DIR="${FMNIST_DIR:-/usr/share/datasets/fashion-mnist}"
run_bench bench_tsne --fmnist-dir "$FMNIST_DIR"
case " $BENCH_ARGS " in
  *" --smoke "*) echo "== scikit-learn t-SNE peer skipped (--smoke)" ;;
  *) echo "== scikit-learn t-SNE peer (CPU)"
     python3 bench/peers/tsne_sklearn.py --fmnist-dir "$FMNIST_DIR" --json "$RESULTS/tsne_sklearn.json" \
       2>&1 | tee "$RESULTS/tsne_sklearn.log" || echo "!! scikit-learn peer failed" ;;
esac

# ---- the headline: the seed training run, latentkit vs each PyTorch mode ----
python3 - "$RESULTS/bench_vae.json" "${peer_jsons[@]}" <<'EOF'
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
"$BIN/bench_rbm" --cpu --json "$RESULTS/bench_rbm_cpu.json" --markdown "$RESULTS/bench_rbm_cpu.md" \
  $BENCH_ARGS 2>&1 | tee "$RESULTS/bench_rbm_cpu.log" || status=1
rbm_peer_n=60000
case " $BENCH_ARGS " in *" --smoke "*) rbm_peer_n=1031 ;; esac
if python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
  echo "== PyTorch RBM peer"
  python3 bench/peers/rbm_torch.py --n "$rbm_peer_n" --json "$RESULTS/rbm_torch.json" \
    2>&1 | tee "$RESULTS/rbm_torch.log" || echo "!! PyTorch RBM peer failed"
else
  echo "== PyTorch RBM peer skipped: torch missing or sees no CUDA device"
fi
if python3 -c "import sklearn" 2>/dev/null; then
  echo "== scikit-learn BernoulliRBM peer (CPU, one epoch)"
  python3 bench/peers/rbm_sklearn.py --n "$rbm_peer_n" --json "$RESULTS/rbm_sklearn.json" \
    2>&1 | tee "$RESULTS/rbm_sklearn.log" || echo "!! scikit-learn RBM peer failed"
else
  echo "== scikit-learn RBM peer skipped: python3 cannot import sklearn"
fi

# ---- pairwise family (issue 4): bench_pairwise, the torch.cdist MMD peer, the sklearn peer ----
run_bench bench_pairwise
pair_smoke=""
case " $BENCH_ARGS " in *" --smoke "*) pair_smoke=1 ;; esac
if python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
  echo "== torch.cdist MMD peer"
  # shellcheck disable=SC2046
  python3 bench/peers/mmd_torch.py --device cuda --json "$RESULTS/mmd_torch.json" \
      $([ -n "$pair_smoke" ] && echo "--n 1021 --runs 2 --permutations 5") \
      2>&1 | tee "$RESULTS/mmd_torch.log" || echo "!! torch MMD peer failed"
else
  echo "== torch.cdist MMD peer skipped: no torch with a CUDA device"
fi
if python3 -c "import sklearn" 2>/dev/null; then
  echo "== scikit-learn KMeans / silhouette peer (CPU)"
  # shellcheck disable=SC2046
  python3 bench/peers/kmeans_sklearn.py --json "$RESULTS/kmeans_sklearn.json" \
      $([ -n "$pair_smoke" ] && echo "--n 20000 --iters 5 --sil-n 1021 --runs 1") \
      2>&1 | tee "$RESULTS/kmeans_sklearn.log" || echo "!! sklearn peer failed"
else
  echo "== scikit-learn peer skipped: python3 cannot import sklearn"
fi

# ---- GMM-EM (issue 3): scikit-learn on the same data first, then bench_gmm with its ratio ----
gmm_peer=()
if "$BIN/bench_gmm" --write-data "$RESULTS/gmm_seed.csv" $BENCH_ARGS >/dev/null &&
    python3 -c "import sklearn" 2>/dev/null; then
  echo "== scikit-learn peer (GaussianMixture, seed case)"
  gmm_k=""
  case " $BENCH_ARGS " in *" --smoke "*) gmm_k="--k-min 2 --k-max 4 --max-iter 3" ;; esac
  # shellcheck disable=SC2086
  if python3 bench/peers/gmm_sklearn.py --data "$RESULTS/gmm_seed.csv" $gmm_k \
      --json "$RESULTS/gmm_sklearn.json" 2>&1 | tee "$RESULTS/gmm_sklearn.log"; then
    gmm_peer=(--peer-json "$RESULTS/gmm_sklearn.json")
  else
    echo "!! scikit-learn peer failed (see $RESULTS/gmm_sklearn.log)"
  fi
else
  echo "== scikit-learn peer skipped: python3 cannot import sklearn (pip install --user scikit-learn)"
fi
run_bench bench_gmm "${gmm_peer[@]}"
echo "== results in $RESULTS"
exit $status
