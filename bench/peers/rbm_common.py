"""Shared by the RBM peers (rbm_sklearn.py, rbm_torch.py): the data of bench/bench_rbm.cu.

Fashion-MNIST's training images from the Debian package dataset-fashion-mnist
(/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz), grey levels / 255, when installed;
otherwise synthetic Bernoulli(0.3) pixels (same shape and work; numpy's generator, not latentkit's
Philox draw).
"""
import gzip
import os
import struct

import numpy as np

FASHION_MNIST = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"


def read_idx_images(path, limit=None):
    """uint8 IDX images (magic 0x00000803), plain or gzip, as float32 [n, rows*cols] in [0, 1]."""
    opener = gzip.open if open(path, "rb").read(2) == b"\x1f\x8b" else open
    with opener(path, "rb") as f:
        data = f.read()
    magic, n, rows, cols = struct.unpack(">IIII", data[:16])
    if magic != 0x803:
        raise SystemExit(f"{path}: not an IDX images file (magic {magic:#x})")
    if len(data) != 16 + n * rows * cols:
        raise SystemExit(f"{path}: truncated or wrong size")
    x = np.frombuffer(data, dtype=np.uint8, offset=16).reshape(n, rows * cols)
    if limit is not None:
        x = x[:limit]
    return x.astype(np.float32) / 255.0


def load_data(n, seed=20240601):
    """(x [n, 784] float32, description)."""
    if os.path.exists(FASHION_MNIST):
        x = read_idx_images(FASHION_MNIST, n)
        return x, f"Fashion-MNIST (first {len(x)} training images, grey levels)"
    rng = np.random.default_rng(seed)
    x = (rng.random((n, 784)) < 0.3).astype(np.float32)
    return x, "synthetic Bernoulli(0.3) pixels (dataset-fashion-mnist not installed)"
