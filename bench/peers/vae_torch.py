#!/usr/bin/env python3
"""The PyTorch peer of latentkit's seed VAE run (bench/bench_vae.cu reads its --json).

Same problem as apps/vae_gmm's defaults (seed report 002):
  data   : a K=10 component Gaussian mixture in D=3, N=10000: means ~ U[-10,10]^D, diagonal
           variances ~ U[0.5,2], weights ~ Dirichlet(1,...,1), no scaling. The peer draws its OWN
           data of that distribution with a torch.Generator (seed --seed); it is not bitwise
           latentkit's Philox draw, which does not matter for timing (same shapes, same work).
  model  : encoder 3-128-128 (ReLU) -> two linear heads (mu, logvar: 2 each); decoder
           2-128-128 (ReLU) -> 3 (linear); torch.nn.Linear's default initialisation.
  loss   : per sample sum of squared errors + beta * KL(N(mu, exp(logvar)) || N(0, I)),
           mean over the batch; beta = 1.
  train  : Adam lr 1e-3 (torch defaults otherwise), batch 32, reshuffled every epoch
           (torch.randperm), drop_last=False (the last batch of an epoch has 16 rows),
           100 epochs -> 31,300 steps.
The data set lives on the device and batches are gathered by indexing (no DataLoader), and the
per-sample losses are summed on the device and read once per epoch -- as latentkit does.

Timing: one warm-up epoch first (CUDA context, cuBLAS and kernel loading, torch.compile's
compilation land there; CUDA-graph capture happens before it), after which the weights and Adam's
state are put back to their initial values in place; the warm-up is EXCLUDED from "seconds" and
reported separately as "warmup_seconds" (--no-warmup skips it). The timed run then trains for
--epochs epochs from the initial weights, between torch.cuda.synchronize() + time.perf_counter().

Modes: eager (default); --compile (torch.compile of the model's forward + loss, default mode);
--cuda-graphs (the whole step -- forward, loss, backward, Adam with capturable=True -- captured
once per batch shape, 32 and the epoch's last partial batch, and replayed; CUDA only).
--cuda-graphs was written without a GPU or torch at hand: check its final loss against eager.

Usage:
  python3 bench/peers/vae_torch.py --device cuda --json bench/results/vae_torch.json
  python3 bench/peers/vae_torch.py --device cpu --epochs 1 --threads 2
Prints one line and, with --json FILE, writes {"name", "device", "torch_version", "epochs",
"steps", "seconds", "samples_per_s", "final_loss", "final_recon", "final_kl", ...}.
"""
import argparse
import json
import math
import platform
import sys
import time


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--threads", type=int, default=0,
                   help="torch.set_num_threads(N) (0: leave torch's default)")
    p.add_argument("--compile", action="store_true", help="torch.compile the forward + loss")
    p.add_argument("--cuda-graphs", action="store_true",
                   help="capture the whole training step in CUDA graphs (CUDA only)")
    p.add_argument("--json", default="", help="write the result as JSON to FILE")
    p.add_argument("--n", type=int, default=10000, help="samples")
    p.add_argument("--k", type=int, default=10, help="mixture components")
    p.add_argument("--d", type=int, default=3, help="dimensions")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--beta", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-warmup", action="store_true", help="skip the warm-up epoch")
    a = p.parse_args(argv)
    if a.compile and a.cuda_graphs:
        p.error("--compile and --cuda-graphs exclude each other")
    if a.cuda_graphs and a.device != "cuda":
        p.error("--cuda-graphs needs --device cuda")
    if a.epochs < 1 or a.batch < 1 or a.n < a.batch:
        p.error("need --epochs >= 1, --batch >= 1 and --n >= --batch")
    return a


def make_mixture(torch, k, d, n, seed, device):
    """K-component diagonal Gaussian mixture, same distribution as latentkit's
    make_gaussian_mixture (means U[-10,10], variances U[0.5,2], Dirichlet(1) weights)."""
    g = torch.Generator().manual_seed(seed)
    means = -10.0 + 20.0 * torch.rand(k, d, generator=g, dtype=torch.float64)
    variances = 0.5 + 1.5 * torch.rand(k, d, generator=g, dtype=torch.float64)
    w = -torch.log(torch.rand(k, generator=g, dtype=torch.float64))  # Exp(1) draws
    w = w / w.sum()                                                    # -> Dirichlet(1, ..., 1)
    comp = torch.multinomial(w, n, replacement=True, generator=g)
    noise = torch.randn(n, d, generator=g, dtype=torch.float64)
    x = means[comp] + variances[comp].sqrt() * noise
    return x.to(torch.float32).to(device)


def build(torch, args, device):
    nn = torch.nn

    class Vae(nn.Module):
        def __init__(self, d, hidden=128, latent=2):
            super().__init__()
            self.enc = nn.Sequential(nn.Linear(d, hidden), nn.ReLU(),
                                     nn.Linear(hidden, hidden), nn.ReLU())
            self.mu = nn.Linear(hidden, latent)
            self.logvar = nn.Linear(hidden, latent)
            self.dec = nn.Sequential(nn.Linear(latent, hidden), nn.ReLU(),
                                     nn.Linear(hidden, hidden), nn.ReLU(),
                                     nn.Linear(hidden, d))

        def forward(self, x):
            h = self.enc(x)
            mu, logvar = self.mu(h), self.logvar(h)
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
            xhat = self.dec(z)
            recon = ((xhat - x) ** 2).sum(dim=1)                              # per sample
            kl = -0.5 * (1.0 + logvar - mu * mu - torch.exp(logvar)).sum(dim=1)
            return recon, kl

    model = Vae(args.d).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr,
                           capturable=bool(args.cuda_graphs))
    fwd = torch.compile(model) if args.compile else model
    return model, opt, fwd


def reset_in_place(torch, model, opt, init_params):
    """Back to the initial weights and a fresh Adam, in place (CUDA graphs keep their addresses):
    Adam's exp_avg, exp_avg_sq and step counter at zero equal a newly constructed Adam."""
    with torch.no_grad():
        for p, p0 in zip(model.parameters(), init_params):
            p.copy_(p0)
        for st in opt.state.values():
            for key, v in st.items():
                if torch.is_tensor(v):
                    v.zero_()
                else:
                    st[key] = 0


class GraphedSteps:
    """The whole step captured once per batch shape (torch's documented whole-network capture:
    warm-up iterations on a side stream, then torch.cuda.graph around forward, loss, backward and
    a capturable Adam step). Replaying a graph = one training step on its static input."""

    def __init__(self, torch, opt, step, x, sizes):
        self.graphs, self.inputs = {}, {}
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for size in sizes:
                for _ in range(3):
                    opt.zero_grad(set_to_none=True)
                    step(x[:size])
        torch.cuda.current_stream().wait_stream(side)
        for size in sizes:
            static_x = x[:size].clone()
            g = torch.cuda.CUDAGraph()
            opt.zero_grad(set_to_none=True)  # backward inside the capture allocates the grads
            with torch.cuda.graph(g):
                step(static_x)
            self.graphs[size], self.inputs[size] = g, static_x

    def __call__(self, xb):
        size = xb.shape[0]
        self.inputs[size].copy_(xb)
        self.graphs[size].replay()


def train(torch, args, device, x):
    """Builds the model once, runs the warm-up epoch (unless --no-warmup), puts the model and
    Adam back to their initial state in place, then times --epochs epochs.
    Returns (warm-up seconds or None, timed seconds, per-epoch (loss, recon, kl))."""
    model, opt, fwd = build(torch, args, device)
    init_params = [p.detach().clone() for p in model.parameters()]
    n, B = x.shape[0], args.batch
    acc = torch.zeros(2, dtype=torch.float64, device=device)  # sums of recon, kl over an epoch

    def step(xb):
        recon, kl = fwd(xb)
        loss = (recon + args.beta * kl).mean()
        loss.backward()
        opt.step()
        with torch.no_grad():
            acc[0] += recon.sum()
            acc[1] += kl.sum()

    graphed = None
    if args.cuda_graphs:
        sizes = sorted({B, n - (n // B) * B} - {0}, reverse=True)  # 32 and the last batch's 16
        graphed = GraphedSteps(torch, opt, step, x, sizes)
        reset_in_place(torch, model, opt, init_params)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def epochs(count):
        history = []
        sync()
        t0 = time.perf_counter()
        for _ in range(count):
            perm = torch.randperm(n, device=device)
            acc.zero_()
            for r0 in range(0, n, B):  # drop_last=False
                xb = x[perm[r0:r0 + B]]
                if graphed is not None:
                    graphed(xb)
                else:
                    opt.zero_grad(set_to_none=True)
                    step(xb)
            recon_mean, kl_mean = (acc / n).tolist()  # one synchronisation per epoch
            history.append((recon_mean + args.beta * kl_mean, recon_mean, kl_mean))
        sync()
        return time.perf_counter() - t0, history

    warmup_s = None
    if not args.no_warmup:
        warmup_s, _ = epochs(1)
        reset_in_place(torch, model, opt, init_params)
    torch.manual_seed(args.seed + 1)  # the timed run's shuffles and noise
    seconds, history = epochs(args.epochs)
    return warmup_s, seconds, history


def main(argv=None):
    args = parse_args(argv)
    try:
        import torch
    except ImportError:
        print("vae_torch: PyTorch is not installed (pip install torch): peer skipped",
              file=sys.stderr)
        return 3
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("vae_torch: --device cuda but torch sees no CUDA device; use --device cpu",
              file=sys.stderr)
        return 2
    device = torch.device(args.device)
    torch.manual_seed(args.seed)
    x = make_mixture(torch, args.k, args.d, args.n, args.seed, device)

    warmup_s, seconds, history = train(torch, args, device, x)

    steps = args.epochs * math.ceil(args.n / args.batch)
    loss, recon, kl = history[-1]
    mode = "cuda-graphs" if args.cuda_graphs else ("compile" if args.compile else "eager")
    dev_name = (torch.cuda.get_device_name(device) if device.type == "cuda"
                else "cpu: " + (platform.processor() or platform.machine())
                + f" ({torch.get_num_threads()} threads)")
    result = {
        "name": f"vae_torch {mode}",
        "device": dev_name,
        "torch_version": torch.__version__,
        "epochs": args.epochs,
        "steps": steps,
        "seconds": seconds,
        "samples_per_s": args.epochs * args.n / seconds,
        "final_loss": loss,
        "final_recon": recon,
        "final_kl": kl,
        "warmup_seconds": warmup_s,
        "warmup": "one epoch on the same model, then weights and Adam reset; excluded from seconds",
        "mode": mode,
        "n": args.n,
        "batch": args.batch,
        "threads": torch.get_num_threads(),
        "data": f"own draw of the same mixture distribution (torch.Generator, seed {args.seed})",
    }
    print(f"{result['name']} on {dev_name}: {args.epochs} epochs, {steps} steps in "
          f"{seconds:.3f} s ({result['samples_per_s']:.0f} samples/s; warm-up epoch "
          f"{'skipped' if warmup_s is None else f'{warmup_s:.3f} s, excluded'}); final loss "
          f"{loss:.4f} (recon {recon:.4f}, kl {kl:.4f})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
