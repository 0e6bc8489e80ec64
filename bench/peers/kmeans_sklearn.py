#!/usr/bin/env python3
"""The scikit-learn peer of latentkit's KMeans and silhouette (bench/bench_pairwise.cu's rows).

KMeans: 1,000,000 x 3 standard-normal points (numpy default_rng(--seed)), k = 10, algorithm
"lloyd", n_init = 1, max_iter = 50, tol = 0 (so it runs the 50 iterations unless the labels stop
changing first; the n_iter it ran is reported), init = the first k points (as the bench does, so
the timing is the Lloyd iterations, not the seeding). silhouette_score on the first 10000 points
with the labels of that fit (exact, all pairs). Both on the CPU with the threads sklearn picks
(--threads caps them through threadpoolctl when installed).

Usage:
  python3 bench/peers/kmeans_sklearn.py --json bench/results/kmeans_sklearn.json
  python3 bench/peers/kmeans_sklearn.py --n 20000 --iters 5 --sil-n 1021    (smoke sizes)
Prints one line per figure and, with --json FILE, writes {"kmeans_ms", "n_iter", "inertia",
"silhouette_ms", "silhouette", "sklearn_version", "threads", ...}.
"""
import argparse
import json
import os
import sys
import time


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1000000)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--iters", type=int, default=50)
    p.add_argument("--sil-n", type=int, default=10000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default="")
    args = p.parse_args()
    import numpy as np
    import sklearn
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    limiter = None
    if args.threads > 0:
        try:
            from threadpoolctl import threadpool_limits
            limiter = threadpool_limits(args.threads)
        except ImportError:
            pass
    x = np.random.default_rng(args.seed).standard_normal((args.n, 3)).astype(np.float32)
    init = x[: args.k].copy()

    def fit():
        return KMeans(args.k, init=init, n_init=1, max_iter=args.iters, tol=0.0,
                      algorithm="lloyd").fit(x)

    times, km = [], None
    for _ in range(args.runs):
        t0 = time.perf_counter()
        km = fit()
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    xs, ls = x[: args.sil_n], km.labels_[: args.sil_n]
    st = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        sil = silhouette_score(xs, ls)
        st.append((time.perf_counter() - t0) * 1e3)
    st.sort()
    result = {"name": "scikit-learn KMeans + silhouette_score (CPU)",
              "sklearn_version": sklearn.__version__, "n": args.n, "k": args.k,
              "max_iter": args.iters, "kmeans_ms": times[len(times) // 2], "n_iter": int(km.n_iter_),
              "inertia": float(km.inertia_), "sil_n": args.sil_n,
              "silhouette_ms": st[len(st) // 2], "silhouette": float(sil),
              "threads": args.threads or os.cpu_count()}
    print(f"sklearn {sklearn.__version__}: KMeans {args.n}x3 k={args.k} {km.n_iter_} iterations "
          f"{result['kmeans_ms']:.1f} ms; silhouette_score {args.sil_n} points "
          f"{result['silhouette_ms']:.1f} ms = {sil:.4f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    del limiter
    return 0


if __name__ == "__main__":
    sys.exit(main())
