#!/usr/bin/env python3
"""scikit-learn peer of bench/bench_gmm.cu: GaussianMixture for K = k_min..k_max, one after
another (scikit-learn has no batching), on the same data (the CSV that
`bench_gmm --write-data FILE` writes), full covariances, the same iteration count: tol = 0 so
every fit runs max_iter EM iterations, as the benchmark's device loop does.

It reports the total wall time and the EM time alone: the k-means initialisation
(GaussianMixture's default) is timed separately per K (KMeans(n_init=1) as GaussianMixture runs
it) and subtracted, since bench_gmm times only the device EM loop. Threads: whatever BLAS/OpenMP
scikit-learn uses by default on this machine (state it with the figures).

    python3 bench/peers/gmm_sklearn.py --data seed.csv --json out.json [--k-min 5 --k-max 15
        --max-iter 100]
"""
import argparse
import json
import platform
import sys
import time
import warnings


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", required=True, help="CSV of N x D numbers, no header")
    ap.add_argument("--k-min", type=int, default=5)
    ap.add_argument("--k-max", type=int, default=15)
    ap.add_argument("--max-iter", type=int, default=100)
    ap.add_argument("--covariance", default="full", choices=["full", "diag"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args()

    try:
        import numpy as np
        import sklearn
        from sklearn.cluster import KMeans
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.mixture import GaussianMixture
    except ImportError as e:
        print(f"gmm_sklearn: cannot import numpy/scikit-learn ({e}): pip install --user "
              "numpy scikit-learn", file=sys.stderr)
        return 1

    X = np.loadtxt(args.data, delimiter=",", ndmin=2)
    warnings.filterwarnings("ignore", category=ConvergenceWarning)  # tol = 0 never converges
    per_k = []
    total = 0.0
    init_total = 0.0
    for k in range(args.k_min, args.k_max + 1):
        t0 = time.perf_counter()
        KMeans(n_clusters=k, n_init=1, random_state=args.seed).fit(X)
        t_init = time.perf_counter() - t0
        t0 = time.perf_counter()
        g = GaussianMixture(n_components=k, covariance_type=args.covariance, tol=0.0,
                            max_iter=args.max_iter, random_state=args.seed).fit(X)
        t_fit = time.perf_counter() - t0
        total += t_fit
        init_total += t_init
        per_k.append({"k": k, "seconds": t_fit, "init_seconds": t_init, "n_iter": int(g.n_iter_),
                      "bic": float(g.bic(X))})
        print(f"K={k:3d}  fit {t_fit * 1e3:9.1f} ms  (k-means init {t_init * 1e3:7.1f} ms)  "
              f"iterations {g.n_iter_}  BIC {g.bic(X):.1f}")
    em = max(total - init_total, 0.0)
    print(f"scikit-learn {sklearn.__version__}: {X.shape[0]} x {X.shape[1]}, K {args.k_min}.."
          f"{args.k_max}, {args.max_iter} iterations each: {total:.3f} s in all, "
          f"{em:.3f} s without the k-means initialisations")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"name": "gmm_sklearn", "sklearn_version": sklearn.__version__,
                       "numpy_version": np.__version__, "python": platform.python_version(),
                       "machine": platform.processor() or platform.machine(),
                       "n": int(X.shape[0]), "d": int(X.shape[1]), "k_min": args.k_min,
                       "k_max": args.k_max, "max_iter": args.max_iter,
                       "covariance": args.covariance, "seconds": total, "em_seconds": em,
                       "init_seconds": init_total, "per_k": per_k}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
