#!/usr/bin/env python3
"""The PyTorch peer of bench/bench_rbm.cu: one CD-1 epoch of a Bernoulli RBM on the GPU.

Same data (bench/peers/rbm_common.py), same algorithm as latentkit's CD-1 step
(latentkit/families/rbm.h with pcd = false, k = 1, momentum 0, weight decay 0):
  p0 = sigmoid(v0 W + c); h0 ~ Bernoulli(p0); pv = sigmoid(h0 W^T + b); v1 ~ Bernoulli(pv);
  p1 = sigmoid(v1 W + c);
  W += lr (v0^T p0 - v1^T p1) / B;  b += lr mean(v0 - v1);  c += lr mean(p0 - p1)
with W [784, hidden] ~ N(0, 0.01^2), minibatches as consecutive slices of the data on the device
(no shuffle, as bench_rbm), float32, torch.no_grad(), no TF32
(torch.backends.cuda.matmul.allow_tf32 = False, as latentkit's FP32 cuBLAS calls).

Timing: one warm-up epoch (CUDA context, cuBLAS handles, kernel loading), then --runs epochs each
bracketed by torch.cuda.synchronize() + time.perf_counter(); reports the median.

Usage:
  python3 bench/peers/rbm_torch.py --json bench/results/rbm_torch.json            (all 4 configs)
  python3 bench/peers/rbm_torch.py --hidden 256 --batch 64 --device cpu --n 2000
Prints one line per configuration and, with --json FILE, writes {"device", "torch_version",
"results": [{"hidden", "batch", "median_ms", "runs", ...}]}.
"""
import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rbm_common import load_data  # noqa: E402


def cd1_epoch(torch, x, W, b, c, batch, lr):
    n = x.shape[0]
    for start in range(0, n, batch):
        v0 = x[start:start + batch]
        p0 = torch.sigmoid(v0 @ W + c)
        h0 = torch.bernoulli(p0)
        pv = torch.sigmoid(h0 @ W.T + b)
        v1 = torch.bernoulli(pv)
        p1 = torch.sigmoid(v1 @ W + c)
        rows = v0.shape[0]
        W.add_((v0.T @ p0 - v1.T @ p1), alpha=lr / rows)
        b.add_((v0 - v1).mean(0), alpha=lr)
        c.add_((p0 - p1).mean(0), alpha=lr)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    p.add_argument("--n", type=int, default=60000)
    p.add_argument("--hidden", type=int, nargs="*", default=[256, 512])
    p.add_argument("--batch", type=int, nargs="*", default=[64, 128])
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default="")
    a = p.parse_args(argv)
    import torch

    if a.device == "cuda" and not torch.cuda.is_available():
        print("rbm_torch: torch sees no CUDA device", file=sys.stderr)
        return 1
    torch.backends.cuda.matmul.allow_tf32 = False
    dev = torch.device(a.device)
    sync = torch.cuda.synchronize if a.device == "cuda" else (lambda: None)
    x_np, source = load_data(a.n)
    x = torch.from_numpy(x_np).to(dev)
    gen = torch.Generator(device="cpu").manual_seed(a.seed)
    torch.manual_seed(a.seed)
    results = []
    with torch.no_grad():
        for hidden in a.hidden:
            for batch in a.batch:
                W0 = (torch.randn(784, hidden, generator=gen) * 0.01).to(dev)
                W, b, c = W0.clone(), torch.zeros(784, device=dev), torch.zeros(hidden, device=dev)
                cd1_epoch(torch, x, W, b, c, batch, a.lr)  # warm-up
                times = []
                for _ in range(a.runs):
                    W.copy_(W0)
                    b.zero_()
                    c.zero_()
                    sync()
                    t0 = time.perf_counter()
                    cd1_epoch(torch, x, W, b, c, batch, a.lr)
                    sync()
                    times.append((time.perf_counter() - t0) * 1e3)
                med = statistics.median(times)
                r = {"name": f"PyTorch CD-1 epoch {len(x_np)}x784, {hidden} hidden, batch {batch}",
                     "hidden": hidden, "batch": batch, "median_ms": med, "min_ms": min(times),
                     "max_ms": max(times), "runs": a.runs}
                print(f"{r['name']}: median {med:.2f} ms (min {min(times):.2f}, {a.runs} runs)")
                results.append(r)
    out = {
        "device": torch.cuda.get_device_name(0) if a.device == "cuda" else "cpu",
        "torch_version": torch.__version__,
        "data": source,
        "results": results,
    }
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
