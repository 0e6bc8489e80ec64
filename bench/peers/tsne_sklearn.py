#!/usr/bin/env python3
"""Peer of bench/bench_tsne.cu: scikit-learn's TSNE on the CPU, on the same data.

Cases (as bench_tsne):
  exact   : method='exact' on a 2-D 10-component Gaussian mixture of --n points (default 10000:
            slow, O(N^2) memory in scikit-learn: minutes); --n 2000 for a quick look;
  fmnist  : method='barnes_hut' on Fashion-MNIST, train (60000) and test (10000) images together
            in that order (70000 x 784, pixels / 255), read from the IDX files in --fmnist-dir
            (train-images-idx3-ubyte.gz, t10k-images-idx3-ubyte.gz) with numpy and gzip: the same
            data as bench_tsne; --limit N keeps the first N; perplexity 30, 1000 iterations,
            init='pca'.
Prints one JSON object per case (name, n, seconds, kl, sklearn version, threads) and writes them to
--json. Needs numpy and scikit-learn (pip install --user numpy scikit-learn); exits 0 with a
"skipped" line when they are missing or the data files are absent.

  python3 bench/peers/tsne_sklearn.py --case exact --n 10000 --json out.json
"""
import argparse
import gzip
import json
import os
import sys
import time


def read_idx_images(path, np):
    """uint8 IDX images (magic 0x00000803, big-endian header n, rows, cols), plain or gzip, as a
    float32 [n, rows * cols] array of pixels / 255 (as latentkit/io/idx.h)."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    header = np.frombuffer(raw, dtype=">u4", count=4)
    if header[0] != 0x803:
        raise ValueError(f"{path}: not an IDX image file (magic {int(header[0]):#x})")
    n, rows, cols = (int(v) for v in header[1:])
    if len(raw) != 16 + n * rows * cols:
        raise ValueError(f"{path}: {len(raw)} bytes, expected {16 + n * rows * cols}")
    pixels = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, rows * cols)
    return pixels.astype(np.float32) / np.float32(255.0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", choices=["exact", "fmnist", "all"], default="all")
    ap.add_argument("--n", type=int, default=10000, help="points of the exact case")
    ap.add_argument("--iterations", type=int, default=1000)
    ap.add_argument("--fmnist-dir", default="/usr/share/datasets/fashion-mnist",
                    help="directory of train-images-idx3-ubyte.gz and t10k-images-idx3-ubyte.gz")
    ap.add_argument("--limit", type=int, default=0, help="first N Fashion-MNIST images (0: all)")
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    try:
        import numpy as np
        import sklearn
        from sklearn.manifold import TSNE
    except ImportError as e:
        print(f"scikit-learn peer skipped: {e} (pip install --user numpy scikit-learn)")
        return 0

    def run(name, x, method):
        kw = dict(n_components=2, perplexity=30.0, init="pca", learning_rate="auto",
                  method=method, random_state=0)
        # the iteration count's keyword changed name in scikit-learn 1.5
        kw["max_iter" if "max_iter" in TSNE().get_params() else "n_iter"] = args.iterations
        t0 = time.perf_counter()
        model = TSNE(**kw)
        model.fit_transform(x)
        secs = time.perf_counter() - t0
        row = {"name": name, "n": int(x.shape[0]), "d": int(x.shape[1]), "seconds": secs,
               "kl": float(model.kl_divergence_), "method": method,
               "sklearn_version": sklearn.__version__, "cpu_threads": os.cpu_count()}
        print(json.dumps(row))
        return row

    rows = []
    if args.case in ("exact", "all"):
        rng = np.random.default_rng(20240601)
        means = rng.uniform(-10, 10, size=(10, 2))
        comp = rng.integers(0, 10, size=args.n)
        x = (means[comp] + rng.normal(size=(args.n, 2))).astype(np.float32)
        rows.append(run(f"sklearn exact N={args.n} 2-D mixture", x, "exact"))
    if args.case in ("fmnist", "all"):
        files = [os.path.join(args.fmnist_dir, f)
                 for f in ("train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz")]
        missing = [f for f in files if not os.path.exists(f)]
        if missing:
            print(f"Fashion-MNIST case skipped: {missing[0]} not found (--fmnist-dir)")
        else:
            x = np.concatenate([read_idx_images(f, np) for f in files])
            if args.limit > 0:
                x = x[:args.limit]
            rows.append(run(f"sklearn barnes_hut Fashion-MNIST N={x.shape[0]}", x, "barnes_hut"))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
