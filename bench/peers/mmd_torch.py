#!/usr/bin/env python3
"""The PyTorch peer of latentkit's MMD^2 (bench/bench_pairwise.cu's "MMD^2 N=M=10000" row).

The seed's approach: full N x M distance matrices with torch.cdist, squared, then a sum of
Gaussian RBFs k(x, y) = exp(-d^2 / (2h)) over the bandwidths h, h/2, ..., (7 of them), and the
biased estimator mean(K_xx) + mean(K_yy) - 2 mean(K_xy). Same sizes as the bench: N = M = 10000,
d = 3, h = 6 (fixed, as the bench uses), float32 on the GPU (three 10000 x 10000 matrices:
1.2 GB). Its own data (torch.Generator, --seed): timing does not depend on the values.
Also times the permutation test the seed way: one full MMD^2 per permutation on the pooled
kernel matrix (--permutations, default 200; 0 skips it).

Timing: --warmup untimed calls, then --runs timed calls between torch.cuda.synchronize() and
time.perf_counter(); the median is reported.

Usage:
  python3 bench/peers/mmd_torch.py --device cuda --json bench/results/mmd_torch.json
Prints one line and, with --json FILE, writes {"name", "device", "torch_version", "n", "d",
"bandwidths", "median_ms", "mmd2", "perm_median_ms", "permutations"}.
"""
import argparse
import json
import statistics
import sys
import time


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    p.add_argument("--n", type=int, default=10000)
    p.add_argument("--d", type=int, default=3)
    p.add_argument("--h", type=float, default=6.0)
    p.add_argument("--kernels", type=int, default=7)
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--permutations", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default="")
    args = p.parse_args()
    import torch

    dev = torch.device(args.device)
    g = torch.Generator(device="cpu").manual_seed(args.seed)
    x = torch.randn(args.n, args.d, generator=g).to(dev)
    y = (torch.randn(args.n, args.d, generator=g) + 0.1).to(dev)
    hs = [args.h / 2**b for b in range(args.kernels)]

    def kernel(a, b):
        d2 = torch.cdist(a, b) ** 2
        return sum(torch.exp(-d2 / (2 * h)) for h in hs)

    def mmd2():
        return kernel(x, x).mean() + kernel(y, y).mean() - 2 * kernel(x, y).mean()

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    def timed(fn, runs, warmup):
        for _ in range(warmup):
            fn()
        sync()
        t = []
        for _ in range(runs):
            t0 = time.perf_counter()
            fn()
            sync()
            t.append((time.perf_counter() - t0) * 1e3)
        return statistics.median(t)

    value = float(mmd2())
    ms = timed(mmd2, args.runs, args.warmup)
    result = {"name": "torch.cdist MMD^2 (seed approach)", "device": str(dev),
              "device_name": torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu",
              "torch_version": torch.__version__, "n": args.n, "d": args.d, "bandwidths": hs,
              "median_ms": ms, "mmd2": value, "permutations": args.permutations}
    if args.permutations > 0:
        z = torch.cat([x, y])
        kz = kernel(z, z)  # the pooled kernel matrix once, then one weighted sum per permutation
        n = args.n

        def perm_test():
            stats = []
            for _ in range(args.permutations):
                idx = torch.randperm(2 * n, device=dev)
                a, b = idx[:n], idx[n:]
                stats.append(kz[a][:, a].mean() + kz[b][:, b].mean() - 2 * kz[a][:, b].mean())
            return torch.stack(stats)

        result["perm_median_ms"] = timed(perm_test, max(1, args.runs // 10), 1)
    print(f"{result['name']} on {result['device_name']}: {ms:.3f} ms per MMD^2 (n = m = {args.n}, "
          f"d = {args.d}, {args.kernels} bandwidths), mmd2 = {value:.6g}"
          + (f"; permutation test {result['perm_median_ms']:.1f} ms" if "perm_median_ms" in result
             else ""))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
