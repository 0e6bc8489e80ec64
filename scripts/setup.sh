#!/usr/bin/env bash
# Installs what latentkit needs from Debian packages when it is missing (nothing is downloaded at
# build time). The CUDA toolkit (nvcc 13, cuBLAS, cuRAND, CCCL) is expected at /usr/local/cuda.
# zlib1g-dev: gzip IDX files and PNG output; dataset-fashion-mnist: apps/rbm_mnist's default data
# (/usr/share/datasets/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz).
# libboost-context-dev, libopenblas-dev, libfftw3-dev, libthrust-dev, libcub-dev: the emulated-GPU
# build (tests/emu/README.md: fibers, the cuBLAS/cuFFT stand-ins, Thrust's CPP backend).
# Safe to run repeatedly: it only calls apt-get when a package is absent.
set -euo pipefail

packages=(cmake g++ make libgtest-dev libbenchmark-dev libcli11-dev nlohmann-json3-dev
          zlib1g-dev dataset-fashion-mnist
          libboost-context-dev libopenblas-dev libfftw3-dev libthrust-dev libcub-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! command -v nvcc >/dev/null 2>&1; then
  if [ -x /usr/local/cuda/bin/nvcc ]; then
    echo "setup: nvcc is at /usr/local/cuda/bin; add it to PATH (scripts/env.sh does)"
  else
    echo "setup: the CUDA toolkit (nvcc) was not found; install CUDA 12.4+ or 13" >&2
    exit 1
  fi
fi
echo "setup: ok"
