#!/usr/bin/env python3
"""The scikit-learn peer of bench/bench_rbm.cu: BernoulliRBM (CPU) for one epoch.

Same data (bench/peers/rbm_common.py: Fashion-MNIST's 60000 training images when installed), same
shapes: 784 visible x --hidden, batch --batch, learning rate --lr, n_iter = --epochs. scikit-learn
trains with PCD-1 (persistent chains, one Gibbs step per minibatch): the same five
batch x 784 x hidden products per minibatch as latentkit's CD-1, so the work matches.
scikit-learn's fit runs single-threaded numpy BLAS unless the BLAS library threads (set
OMP_NUM_THREADS / OPENBLAS_NUM_THREADS to pin it; the figure is printed with the thread count
numpy's BLAS reports when threadpoolctl is present).

Usage:
  python3 bench/peers/rbm_sklearn.py --json bench/results/rbm_sklearn.json
  python3 bench/peers/rbm_sklearn.py --n 10000 --hidden 256 --batch 64
Prints one line and, with --json FILE, writes {"name", "device", "sklearn_version", "epochs",
"seconds", "seconds_per_epoch", "pseudo_likelihood", ...}.
"""
import argparse
import json
import os
import platform
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rbm_common import load_data  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=60000, help="training images")
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default="")
    a = p.parse_args(argv)
    import numpy as np
    import sklearn
    from sklearn.neural_network import BernoulliRBM

    x, source = load_data(a.n)
    rbm = BernoulliRBM(n_components=a.hidden, learning_rate=a.lr, batch_size=a.batch,
                       n_iter=a.epochs, random_state=a.seed, verbose=0)
    t0 = time.perf_counter()
    rbm.fit(x)
    seconds = time.perf_counter() - t0
    pl = float(np.mean(rbm.score_samples(x[:10000])))
    threads = ""
    try:
        from threadpoolctl import threadpool_info
        threads = ", ".join(f"{i['internal_api']} {i['num_threads']} threads"
                            for i in threadpool_info())
    except ImportError:
        pass
    result = {
        "name": f"scikit-learn BernoulliRBM PCD-1 {len(x)}x784 -> {a.hidden}, batch {a.batch}",
        "device": f"cpu: {platform.processor() or platform.machine()} ({os.cpu_count()} threads"
                  f"{'; ' + threads if threads else ''})",
        "sklearn_version": sklearn.__version__,
        "numpy_version": np.__version__,
        "data": source,
        "epochs": a.epochs,
        "seconds": seconds,
        "seconds_per_epoch": seconds / a.epochs,
        "pseudo_likelihood": pl,
    }
    print(f"{result['name']}: {result['seconds_per_epoch']:.2f} s per epoch on {result['device']}"
          f" (pseudo-likelihood of the first 10000 rows {pl:.2f})")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
