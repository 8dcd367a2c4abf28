#!/usr/bin/env python3
"""PyTorch reference of tweedie's training step, for the speed comparison of issue 3 item 6.

Same network as src/models/mlp.ts (input [x, emb(t)], emb the sinusoidal embedding of 1000 t
with frequencies exp(-ln(10000) k / (half - 1)), `depth` hidden SiLU layers, linear output;
PyTorch's default nn.Linear init) and the same step as src/models/train.ts: times t ~ U[tMin, 1]
and noise eps ~ N(0, I) drawn per step, x_t = alpha_t x0 + sigma_t eps on the VP SDE (0.1, 20),
noise-parametrisation DSM loss (mean of w * (eps_hat - eps)^2, w = 1), backward, global
gradient-norm clipping (1.0), Adam (torch.optim.Adam, lr from a warm-up/cosine schedule set per
step), EMA of the weights with the warm-up decay min(decay, (1+k)/(10+k)) and a finite-loss guard.

Usage: python3 train_step.py [--threads 1,2] [--batches 64,1024] [--steps N] [--warmup N]
Prints one JSON object: {"torch": version, "blas": ..., "results": [{threads, batch, ms_per_step}...]}.
Run with Debian's python3-torch and OpenBLAS (see DESIGN.md: LD_LIBRARY_PATH pointing at the
openblas-openmp folder of libopenblas0-openmp); the driver src/bench/train-step.ts does that.
"""
import argparse
import json
import resource
import math
import time

import torch
from torch import nn


class Mlp(nn.Module):
    def __init__(self, dim=2, hidden=128, depth=3, emb_dim=32):
        super().__init__()
        half = emb_dim // 2
        k = torch.arange(half, dtype=torch.float64)
        self.register_buffer("freqs", (1000.0 * torch.exp(-math.log(10000.0) * k / max(1, half - 1))).float())
        sizes = [dim + emb_dim] + [hidden] * depth + [dim]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))

    def forward(self, x, t):
        phase = t[:, None] * self.freqs[None, :]
        h = torch.cat([x, torch.sin(phase), torch.cos(phase)], dim=-1)
        for layer in self.layers[:-1]:
            h = torch.nn.functional.silu(layer(h))
        return self.layers[-1](h)


def vp_alpha_sigma(t, beta_min=0.1, beta_max=20.0):
    b = t * (beta_min + 0.5 * t * (beta_max - beta_min))
    alpha = torch.exp(-0.5 * b)
    sigma = torch.sqrt(-torch.expm1(-b))
    return alpha, sigma


def lr_at(k, lr=1e-3, warmup=200, total=10000, min_factor=0.01):
    if k < warmup:
        return lr * (k + 1) / warmup
    p = min(1.0, max(0.0, (k - warmup) / max(1, total - warmup)))
    return lr * (min_factor + (1 - min_factor) * 0.5 * (1 + math.cos(math.pi * p)))


def bench(batch, threads, steps, warmup, dim=2, t_min=1e-3, clip=1.0, ema_decay=0.999):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = Mlp(dim)
    ema = [p.detach().clone() for p in net.parameters()]
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    x0 = torch.randn(batch, dim)

    def step(k):
        t = t_min + (1 - t_min) * torch.rand(batch)
        eps = torch.randn(batch, dim)
        alpha, sigma = vp_alpha_sigma(t)
        xt = alpha[:, None] * x0 + sigma[:, None] * eps
        loss = ((net(xt, t) - eps) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(net.parameters(), clip)
        if not (torch.isfinite(loss) and torch.isfinite(gnorm)):
            return
        for g in opt.param_groups:
            g["lr"] = lr_at(k)
        opt.step()
        d = min(ema_decay, (1 + k) / (10 + k))
        with torch.no_grad():
            for e, p in zip(ema, net.parameters()):
                e.mul_(d).add_(p, alpha=1 - d)
        return loss.item()  # the TS side reads loss and gradient norm back every step too

    for k in range(warmup):
        step(k)
    best = math.inf
    reps = 5
    per = max(1, steps // reps)
    for r in range(reps):
        t0 = time.perf_counter()
        for k in range(per):
            step(warmup + r * per + k)
        best = min(best, (time.perf_counter() - t0) / per)
    return best * 1000.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--batches", default="64,1024")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=30)
    a = ap.parse_args()
    results = []
    for threads in [int(s) for s in a.threads.split(",")]:
        for batch in [int(s) for s in a.batches.split(",")]:
            steps = a.steps if batch <= 256 else max(50, a.steps // 4)
            results.append({"threads": threads, "batch": batch, "ms_per_step": round(bench(batch, threads, steps, a.warmup), 4)})
    cfg = torch.__config__.show()
    blas = "OpenBLAS" if "openblas" in cfg.lower() else "unknown"
    # Peak resident memory of this process (Linux ru_maxrss is in KiB), torch import included.
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"torch": torch.__version__, "blas_build": blas, "results": results, "peak_rss_mb": round(peak_mb, 1),
                      "timing": "best of 5 repetitions, ms per step (forward, backward, clip, Adam, EMA)"}))


if __name__ == "__main__":
    main()
