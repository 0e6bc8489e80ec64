#!/usr/bin/env bash
# Byte-identity check of the six apps between two builds, for changes that must not change any
# result (moves, refactors):
#   scripts/compare_apps.sh OLD_BIN_DIR NEW_BIN_DIR [WORK_DIR]
# e.g. scripts/compare_apps.sh /path/to/base/build/bin build/bin
# Runs vae_gmm, gmm_fit, kmeans, mmd, tsne and rbm_mnist at small sizes with --device cpu and fixed
# seeds from both bin dirs (WORK_DIR/old/<case>, WORK_DIR/new/<case>; the runs' stdout and stderr
# in <case>.log beside them), checks that the exit codes match and are 0, then compares every
# output file with scripts/compare_apps.py (bytes, except wall times: see there). One line per
# file, `same` or `DIFFERENT (...)`; exit status 0 only when nothing differs.
# Inputs are made once, with OLD's vae_gmm (WORK_DIR/inputs): its synthetic mixture data.csv,
# generated.csv and model.lkm (the one both sides --load), and from them x.csv (the label column
# dropped), x1.csv / x2.csv (its halves) and gen.csv. rbm_mnist and `tsne --idx` read
# $COMPARE_APPS_MNIST (default /usr/share/datasets/fashion-mnist, Debian's dataset-fashion-mnist)
# with --limit, or, when it is absent, tiny random IDX files written here.
# WORK_DIR defaults to a new temporary directory; its old/, new/ and inputs/ are replaced. About
# 30 s on 2 CPU cores.
set -euo pipefail
if [ $# -lt 2 ] || [ $# -gt 3 ]; then
  sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
here="$(cd "$(dirname "$0")" && pwd)"
old="$(cd "$1" && pwd)"
new="$(cd "$2" && pwd)"
work="${3:-$(mktemp -d "${TMPDIR:-/tmp}/compare_apps.XXXXXX")}"
mkdir -p "$work"
work="$(cd "$work" && pwd)"
case "$work$old$new" in *[[:space:]]*) echo "compare_apps: paths with spaces are not supported"; exit 2;; esac
for app in vae_gmm gmm_fit kmeans mmd tsne rbm_mnist; do
  for dir in "$old" "$new"; do
    [ -x "$dir/$app" ] || { echo "compare_apps: no executable $dir/$app"; exit 2; }
  done
done
rm -rf "$work/old" "$work/new" "$work/inputs"
mkdir -p "$work/old" "$work/new" "$work/inputs"
in="$work/inputs"

# ---- inputs ----------------------------------------------------------------------------------
if ! "$old/vae_gmm" --device cpu --seed 5 --n 400 --k 4 --d 3 --epochs 1 --hidden 8 \
    --n-generate 200 --tsne-iterations 0 --no-gmm --skip-kmeans --skip-mmd \
    --out "$in/gen" >"$in/gen.log" 2>&1; then
  echo "compare_apps: making the inputs failed:"; cat "$in/gen.log"; exit 2
fi
python3 - "$in" <<'EOF'
import sys
d = sys.argv[1]
rows = open(f"{d}/gen/data.csv").read().splitlines()
x = [",".join(r.split(",")[:-1]) for r in rows]  # drop the label column
half = 1 + (len(x) - 1) // 2
open(f"{d}/data.csv", "w").write("\n".join(rows) + "\n")
open(f"{d}/x.csv", "w").write("\n".join(x) + "\n")
open(f"{d}/x1.csv", "w").write("\n".join(x[:half]) + "\n")
open(f"{d}/x2.csv", "w").write("\n".join([x[0]] + x[half:]) + "\n")
open(f"{d}/gen.csv", "w").write(open(f"{d}/gen/generated.csv").read())
EOF
mnist="${COMPARE_APPS_MNIST:-/usr/share/datasets/fashion-mnist}"
if [ -f "$mnist/train-images-idx3-ubyte.gz" ] && [ -f "$mnist/t10k-images-idx3-ubyte.gz" ]; then
  idx="$mnist/t10k-images-idx3-ubyte.gz"
else
  mnist="$in/mnist"
  idx="$mnist/t10k-images-idx3-ubyte"
  python3 - "$mnist" <<'EOF'
import os, random, struct, sys
d = sys.argv[1]
os.makedirs(d, exist_ok=True)
rng = random.Random(7)
for name, n in (("train", 300), ("t10k", 40)):
    with open(f"{d}/{name}-images-idx3-ubyte", "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, 28, 28))
        f.write(bytes(rng.randrange(256) if rng.random() < 0.3 else 0 for _ in range(n * 784)))
EOF
fi

# ---- the cases: NAME APP ARGS... (@IN@: the inputs; both sides load the same model) ----------
vae="--seed 11 --n 600 --gmm-k-min 2 --gmm-k-max 3 --gmm-n-init 1 --kmeans-k-max 4
     --mmd-permutations 10"
train="--epochs 3 --hidden 16,16"
cases=(
  "vae_gmm vae_gmm $vae $train --n-generate 200 --tsne-iterations 100"
  "vae_gmm_standard vae_gmm $vae $train --n-generate 200 --tsne-iterations 100 --scale standard
     --checkpoint-every 1"
  "vae_gmm_load vae_gmm $vae --n-generate 100 --tsne-iterations 60
     --load @IN@/gen/model.lkm"
  "gmm_fit gmm_fit --input @IN@/x.csv --k-min 2 --k-max 4 --n-init 2 --seed 3"
  "gmm_fit_diag gmm_fit --input @IN@/x.csv --k-min 2 --k-max 4 --n-init 2 --seed 3
     --covariance diag --init random"
  "kmeans kmeans --input @IN@/x.csv --k-min 2 --k-max 5 --n-init 2 --seed 3"
  "kmeans_sample kmeans --input @IN@/x.csv --k-min 2 --k-max 5 --n-init 2 --seed 3
     --silhouette-sample 100"
  "mmd mmd --x @IN@/x.csv --y @IN@/gen.csv --permutations 20 --seed 3"
  "mmd_imq mmd --x @IN@/x1.csv --y @IN@/x2.csv --permutations 20 --seed 3 --kernel imq
     --bandwidths 1,2 --unbiased --perm-max-points 100"
  "tsne tsne --input @IN@/data.csv --label-column --iterations 120 --seed 3"
  "tsne_fft tsne --input @IN@/data.csv --label-column --iterations 80 --seed 3 --method fft
     --init random --dims 3"
  "tsne_idx tsne --idx $idx --limit 150 --iterations 60 --seed 3"
  "rbm_mnist rbm_mnist --data $mnist --seed 3 --limit 300 --test-limit 20 --eval-limit 100
     --epochs 2 --hidden 16 --batch 20 --n-samples 4 --sample-steps 10 --inpaint-steps 3
     --checkpoint-every 1"
)

status=0
names=()
for spec in "${cases[@]}"; do
  read -r -a words <<<"${spec//$'\n'/ }"
  name="${words[0]}" app="${words[1]}"
  names+=("$name")
  codes=()
  for side in old new; do
    bin="$old"; [ "$side" = new ] && bin="$new"
    args=()
    for w in "${words[@]:2}"; do args+=("${w//@IN@/$in}"); done
    code=0
    "$bin/$app" --device cpu "${args[@]}" --out "$work/$side/$name" \
      >"$work/$side/$name.log" 2>&1 || code=$?
    codes+=("$code")
  done
  if [ "${codes[0]}" != "${codes[1]}" ]; then
    echo "$name: DIFFERENT (exit ${codes[0]} vs ${codes[1]}; see $work/{old,new}/$name.log)"
    status=1
  elif [ "${codes[0]}" != 0 ]; then
    echo "$name: FAILED on both sides (exit ${codes[0]}; see $work/old/$name.log)"
    status=1
  fi
done

python3 "$here/compare_apps.py" "$work/old" "$work/new" "${names[@]}" || status=1
echo "compare_apps: outputs in $work"
exit "$status"
