#!/usr/bin/env bash
# Builds (or reuses) release sm_90 binaries and packs the bundle that validates and measures
# everything in one call on a lent GPU machine (README "Validating on a GPU"):
#
#   bash scripts/gpu_bundle.sh [--pack-only] [--no-full-fmnist] [DIR]   (DIR default: gpu_bundle)
#
# Build tree: LATENTKIT_BUILD_DIR (default build-bundle), configured Release with the benches if
# it has no CMakeCache.txt yet; then every app, both test binaries and every bench are built
# (incremental). --pack-only builds nothing and packs what the tree's bin/ already holds (the CI
# test packs build/bin this way, so it costs no second build).
#
# DIR (git-ignored: /gpu_bundle/ in .gitignore) then holds:
#   bin.tar.xz   bin/: the apps, latentkit_tests, latentkit_gpu_tests, bench_* (xz: the device
#             code compresses ~8x; run.sh unpacks it into a temporary folder)
#   lib/      every shared library those load that is neither glibc's nor CUDA's (found with ldd:
#             libstdc++, libgcc_s, libz, ...); run.sh puts it on LD_LIBRARY_PATH for our binaries
#             only. The CUDA runtime libraries (cudart, cuBLAS(Lt), cuFFT, cuRAND) and the driver
#             (libcuda) come from the GPU image.
#   data/     fashion-mnist/: the first 2000 training and 500 test images and labels of
#             /usr/share/datasets/fashion-mnist, IDX gzip as the originals; mixture_a.csv and
#             mixture_b.csv: two small 3-D Gaussian-mixture samples (gmm_fit, kmeans, mmd);
#             fashion-mnist-full/: the two full image files (70000 images, 31 MB) for bench_tsne's
#             end-to-end Fashion-MNIST case (--no-full-fmnist leaves them out: that case is
#             then skipped with a line)
#   bench/    run_all.sh and peers/ (the Python peers), run with the prebuilt binaries
#   src.tar.gz   the source tree (git archive of HEAD, or of the working tree when it is dirty)
#   deps.tar.gz  CLI11 and nlohmann-json headers, zlib.h/zconf.h, GoogleTest's sources and small
#                CMake config files, so that `run.sh --rebuild` can build there with the image's
#                CMake and nvcc when the prebuilt binaries do not start
#   run.sh, compare.py, summarize.py (from scripts/gpu_bundle/), MANIFEST.txt
# The whole folder must stay under 60 MiB (the lent machine takes 64 MiB of working tree with the
# repository); the script fails loudly when it is larger.
set -euo pipefail
CALLER="$PWD"
cd "$(dirname "$0")/.."
ROOT="$PWD"

pack_only=0
full_fmnist=1
DIR=""
for a in "$@"; do
  case "$a" in
    --pack-only) pack_only=1 ;;
    --no-full-fmnist) full_fmnist=0 ;;
    -h|--help) awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    -*) echo "gpu_bundle: unknown flag $a" >&2; exit 2 ;;
    *) DIR="$a" ;;
  esac
done
case "$DIR" in
  "") DIR="$ROOT/gpu_bundle" ;;
  /*) ;;
  *) DIR="$CALLER/$DIR" ;;  # relative to where the script was called from
esac
BUILD="${LATENTKIT_BUILD_DIR:-build-bundle}"
case "$BUILD" in /*) ;; *) [ -d "$BUILD" ] || [ ! -d "$CALLER/$BUILD" ] || BUILD="$CALLER/$BUILD" ;; esac
LIMIT_MIB=60
FMNIST="${FMNIST_SRC:-/usr/share/datasets/fashion-mnist}"
export PATH="/usr/local/cuda/bin:$PATH"

die() { echo "gpu_bundle: ERROR: $*" >&2; exit 1; }

APPS=()
for d in apps/*/; do APPS+=("$(basename "$d")"); done
BENCHES=()
for f in bench/bench_*.cu; do BENCHES+=("$(basename "$f" .cu)"); done
BINARIES=("${APPS[@]}" latentkit_tests latentkit_gpu_tests "${BENCHES[@]}")

# ---- build ------------------------------------------------------------------------------------
if [ "$pack_only" = 0 ]; then
  if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    gen=()
    command -v ninja >/dev/null && gen=(-G Ninja)
    echo "== configure $BUILD (Release, benches on)"
    cmake -S . -B "$BUILD" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DLATENTKIT_BUILD_TESTS=ON \
      -DLATENTKIT_BUILD_BENCH=ON >/dev/null
  else
    cmake "$BUILD" >/dev/null  # re-run the configure step: the benches report the current commit
  fi
  echo "== build ${#BINARIES[@]} targets in $BUILD (-j${JOBS:-2}; about 15-20 min from scratch on 2 cores)"
  cmake --build "$BUILD" -j"${JOBS:-2}" --target "${BINARIES[@]}"
fi
[ -f "$BUILD/CMakeCache.txt" ] || die "$BUILD is not a configured build tree (run without --pack-only)"
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$BUILD/CMakeCache.txt")
archs=$(sed -n 's/^CMAKE_CUDA_ARCHITECTURES:[A-Z]*=//p' "$BUILD/CMakeCache.txt")
[ "$build_type" = Release ] || echo "gpu_bundle: WARNING: $BUILD is a '$build_type' build, not Release" >&2
case ";$archs;" in
  *";90"*) ;;
  *) die "$BUILD builds CUDA architectures '$archs': no sm_90 code for H100/H200" ;;
esac
# Apps and benches land in $BUILD/bin, the test binaries in $BUILD/tests.
binary_path() { if [ -x "$BUILD/bin/$1" ]; then echo "$BUILD/bin/$1"; else echo "$BUILD/tests/$1"; fi; }
for b in "${BINARIES[@]}"; do
  [ -x "$(binary_path "$b")" ] || die "$b is missing from $BUILD/bin and $BUILD/tests (build it, or drop --pack-only)"
done

# ---- pack -------------------------------------------------------------------------------------
case "$DIR" in /|"$ROOT"|.) die "refusing to use '$DIR' as the bundle folder" ;; esac
if [ -e "$DIR" ] && [ ! -f "$DIR/MANIFEST.txt" ] && [ -n "$(ls -A "$DIR" 2>/dev/null)" ]; then
  die "$DIR exists, is not empty and holds no MANIFEST.txt: not a bundle, not overwriting it"
fi
rm -rf "$DIR"
mkdir -p "$DIR"/{lib,data/fashion-mnist,bench/peers}
if git check-ignore -q "$DIR" 2>/dev/null; then :; else
  case "$(cd "$DIR" && pwd)" in
    "$ROOT"/*) die "$DIR is inside the repository but not git-ignored (add it to .gitignore)" ;;
  esac
fi
echo "== pack $DIR"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/deps"
for b in "${BINARIES[@]}"; do cp "$(binary_path "$b")" "$stage/bin/"; done

# Shared libraries: everything ldd resolves except the loader, glibc's own libraries, the CUDA
# runtime libraries and the driver (those the GPU image provides), and linux-vdso.
skip_lib() {
  case "$1" in
    linux-vdso*|ld-linux*|libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*|libresolv.so*) return 0 ;;
    libcuda.so*|libcudart.so*|libcublas.so*|libcublasLt.so*|libcufft.so*|libcurand.so*) return 0 ;;
    libnvidia-*) return 0 ;;
  esac
  return 1
}
declare -A bundled=()
for b in "${BINARIES[@]}"; do
  while read -r name _ path _; do
    [ -n "$name" ] || continue
    skip_lib "$name" && continue
    [ -n "${bundled[$name]:-}" ] && continue
    [ -f "$path" ] || die "ldd: $b needs $name, which does not resolve here ($path)"
    cp -L "$path" "$DIR/lib/$name"
    bundled[$name]=1
  done < <(ldd "$stage/bin/$b" | awk '/=>/ {print $1, $2, $3, $4}')
done
echo "   compressing the binaries (xz)"
tar -C "$stage" -cf - bin | xz -T"${JOBS:-2}" "${LK_BUNDLE_XZ_LEVEL:--6}" >"$DIR/bin.tar.xz"

# The data: a Fashion-MNIST subset (first N images and labels, same IDX layout and gzip) and two
# Gaussian-mixture samples (deterministic: Python's random.Random with a fixed seed).
[ -f "$FMNIST/train-images-idx3-ubyte.gz" ] ||
  die "$FMNIST/train-images-idx3-ubyte.gz not found: install dataset-fashion-mnist (scripts/setup.sh)"
python3 - "$FMNIST" "$DIR/data" <<'EOF'
import gzip, random, struct, sys
src, out = sys.argv[1], sys.argv[2]
def subset(name, n):
    with gzip.open(f"{src}/{name}.gz", "rb") as f:
        data = f.read()
    magic, count = struct.unpack(">II", data[:8])
    dims = (magic & 0xFF) - 1                      # 0x803: images (n, rows, cols); 0x801: labels
    shape = struct.unpack(">" + "I" * dims, data[8:8 + 4 * dims])
    item = 1
    for s in shape:
        item *= s
    head = 8 + 4 * dims
    body = data[head:head + n * item]
    # mtime=0: the same bytes on every pack
    with gzip.GzipFile(f"{out}/fashion-mnist/{name}.gz", "wb", mtime=0) as g:
        g.write(struct.pack(">II", magic, n) + data[8:head] + body)
for name, n in [("train-images-idx3-ubyte", 2000), ("train-labels-idx1-ubyte", 2000),
                ("t10k-images-idx3-ubyte", 500), ("t10k-labels-idx1-ubyte", 500)]:
    subset(name, n)
def mixture(path, n, seed, shift):
    rng = random.Random(seed)
    means = [[-6, -6, 0], [6, -6, 2], [0, 6, -2], [-6, 6, 4], [6, 6, -4], [0, 0, 8]]
    with open(path, "w") as f:
        for i in range(n):
            m = means[i % len(means)]
            f.write(",".join(f"{rng.gauss(mu + shift, 1.0):.6f}" for mu in m) + "\n")
mixture(f"{out}/mixture_a.csv", 3000, 1, 0.0)
mixture(f"{out}/mixture_b.csv", 3000, 2, 0.3)
EOF

if [ "$full_fmnist" = 1 ]; then
  mkdir -p "$DIR/data/fashion-mnist-full"
  cp "$FMNIST/train-images-idx3-ubyte.gz" "$FMNIST/t10k-images-idx3-ubyte.gz" "$DIR/data/fashion-mnist-full/"
fi

# The scripts and the Python peers.
cp scripts/gpu_bundle/run.sh scripts/gpu_bundle/compare.py scripts/gpu_bundle/summarize.py "$DIR/"
chmod +x "$DIR/run.sh"
cp bench/run_all.sh "$DIR/bench/"
cp bench/peers/*.py "$DIR/bench/peers/"

# The sources at this commit (the working tree's tracked files when they differ from HEAD).
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
tree="HEAD"
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
  tree=$(git stash create 2>/dev/null || true)
  [ -n "$tree" ] || tree=HEAD
  commit="$commit+dirty"
fi
git archive --format=tar.gz -o "$DIR/src.tar.gz" "$tree"

# Header-only and source dependencies for run.sh --rebuild, with minimal CMake config files for
# the header-only ones (an INTERFACE target on the packed headers, found through
# CMAKE_PREFIX_PATH=<deps>).
deps="$stage/deps"
mkdir -p "$deps/deps/include" "$deps/deps/lib/cmake/CLI11" "$deps/deps/lib/cmake/nlohmann_json"
cp -r /usr/include/CLI /usr/include/nlohmann /usr/include/zlib.h /usr/include/zconf.h "$deps/deps/include/"
for pkg in CLI11:CLI11::CLI11 nlohmann_json:nlohmann_json::nlohmann_json; do
  name=${pkg%%:*} target=${pkg#*:}
  cat >"$deps/deps/lib/cmake/$name/${name}Config.cmake" <<EOF
# Written by scripts/gpu_bundle.sh: the packed headers of $name as $target.
get_filename_component(_lk_root "\${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)
if(NOT TARGET $target)
  add_library($target INTERFACE IMPORTED)
  set_target_properties($target PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "\${_lk_root}/include")
endif()
set(${name}_FOUND TRUE)
EOF
done
if [ -d /usr/src/googletest ]; then
  cp -r /usr/src/googletest "$deps/deps/googletest"
  rm -rf "$deps/deps/googletest/googletest/test" "$deps/deps/googletest/googlemock/test" \
         "$deps/deps/googletest/googletest/docs" "$deps/deps/googletest/googlemock/docs"
else
  echo "gpu_bundle: WARNING: /usr/src/googletest not found: run.sh --rebuild cannot build the tests" >&2
fi
tar -C "$deps" -czf "$DIR/deps.tar.gz" deps

# The manifest: what was built where, and the newest glibc / libstdc++ symbol versions needed.
need_glibc=$(objdump -T "$stage"/bin/* 2>/dev/null | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)
need_glibcxx=$(objdump -T "$stage"/bin/* 2>/dev/null | grep -o 'GLIBCXX_[0-9.]*' | sort -uV | tail -1)
{
  echo "latentkit GPU bundle"
  echo "commit: $commit"
  echo "packed: $(date -u +%Y-%m-%dT%H:%MZ) on $(. /etc/os-release && echo "$PRETTY_NAME"), glibc $(getconf GNU_LIBC_VERSION | cut -d' ' -f2)"
  echo "build: $BUILD ($build_type, CUDA architectures $archs, $(nvcc --version | tail -1))"
  echo "needs: $need_glibc, $need_glibcxx (libstdc++ is in lib/)"
  echo "binaries: ${BINARIES[*]}"
  echo "lib: $(cd "$DIR/lib" && ls | tr '\n' ' ')"
  echo
  (cd "$DIR" && find . -type f ! -name MANIFEST.txt -printf '%s\t%p\n' | sort -k2)
} >"$DIR/MANIFEST.txt"

size=$(du -sb "$DIR" | cut -f1)
mib=$(( (size + 1048575) / 1048576 ))
echo "== $DIR: $mib MiB ($size bytes; limit $LIMIT_MIB MiB)"
(cd "$DIR" && du -sh bin.tar.xz lib data bench src.tar.gz deps.tar.gz | sed 's/^/   /')
if [ "$size" -gt $((LIMIT_MIB * 1048576)) ]; then
  die "$DIR is $mib MiB, over the $LIMIT_MIB MiB limit: the lent machine would refuse it"
fi
rel="${DIR#"$ROOT"/}"
echo "== on the lent GPU machine: run with carry [\"$rel\"], command: bash $rel/run.sh \"\$OUT\""
