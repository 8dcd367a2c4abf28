#!/usr/bin/env python3
"""PyTorch reference of tweedie's ISSGM sampler, for the speed comparison of issue 6 item 6.

The sampler a researcher would write in PyTorch for the same job as src/issgm/sampler.ts
(SPEC §2, the ISSGM paper's eq. 13-16), float32, batched, under torch.no_grad():

  s   = score(x, t)                     (score evaluation 1: -eps_net(x, t) / sigma_t)
  x0h = (x + (1 - abar) s) / sqrt(abar)                                     (13) Tweedie
  g   = grad log max(l, m) at x0h, l = |x|^2: g = 2 x0h / |x0h|^2 (0 where l <= m)
  eps = eps0 / max(1, |g|) per row
  sp  = score(x + eps g, t)             (score evaluation 2)
  sq  = s + g / sqrt(abar) + (1 - abar) / (eps sqrt(abar)) (sp - s)         (16)

then one reverse Euler-Maruyama step of the VP SDE with sq in place of the score, on the uniform
grid t_k = 1 - (k / steps)(1 - tMin), k = 0..steps, and at tMin the Tweedie mean under q,
(x + (1 - abar) sq) / sqrt(abar) (tweedie's `denoiseLast`). The two score evaluations cannot be
one batched forward: the probe point x + eps g depends on s(x) through x0h and g.

The network is the checkpoint's own: `model.safetensors` is parsed with numpy (8-byte
little-endian header length, JSON header, raw little-endian data) into the same module as
bench/reference/train_step.py (input [x, emb(t)], emb the sinusoidal embedding of 1000 t,
SiLU hidden layers, linear output; nn.Linear layout [out, in], as our export writes it).

Usage:
  python3 issgm_sampler.py --model data/2spirals-model.safetensors --n 10000 --steps 1000 \
      --threads 2 [--seed 0] [--warmup 5]
    prints one JSON object: seconds of the timed run, the median step time, peak RSS
    (resource.getrusage), and the output's mean |x|^2 with its standard deviation (for the Monte
    Carlo agreement check).
  python3 issgm_sampler.py --model M --check IN.json
    reads {"t": [..], "x": [[..], ..]} and prints the network score s(x, t) and the guided score
    sq(x, t) at every t (for the pointwise same-network check).
Run under Debian's python3-torch with OpenBLAS (LD_LIBRARY_PATH at the openblas-openmp folder of
libopenblas0-openmp; DESIGN.md); the driver src/bench/issgm-speed.ts does that.
"""
import argparse
import json
import math
import resource
import struct
import sys
import time

import numpy as np
import torch
from torch import nn

DTYPES = {"F32": np.float32, "F64": np.float64}


def read_safetensors(path):
    """Tensors and metadata of a safetensors file, parsed by hand (the format is that small)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    tensors = {}
    for name, info in header.items():
        a, b = info["data_offsets"]
        arr = np.frombuffer(raw[base + a:base + b], dtype=np.dtype(DTYPES[info["dtype"]]).newbyteorder("<"))
        tensors[name] = torch.from_numpy(arr.reshape(info["shape"]).astype(np.float32))
    return tensors, meta


class Mlp(nn.Module):
    """Same module as train_step.py's (and src/models/mlp.ts)."""

    def __init__(self, dim=2, hidden=128, depth=3, emb_dim=32):
        super().__init__()
        half = emb_dim // 2
        k = torch.arange(half, dtype=torch.float64)
        self.register_buffer("freqs", (1000.0 * torch.exp(-math.log(10000.0) * k / max(1, half - 1))).float())
        sizes = [dim + emb_dim] + [hidden] * depth + [dim]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))

    def forward(self, x, t):
        phase = t * self.freqs[None, :]  # t: [n, 1]
        h = torch.cat([x, torch.sin(phase), torch.cos(phase)], dim=-1)
        for layer in self.layers[:-1]:
            h = torch.nn.functional.silu(layer(h))
        return self.layers[-1](h)


def load_model(path):
    tensors, meta = read_safetensors(path)
    cfg = json.loads(meta["tweedie_model"])
    net_cfg = cfg["network"]
    if net_cfg["kind"] != "mlp":
        raise SystemExit(f"the reference runs MLP networks; this model is {net_cfg['kind']}")
    if cfg["diffusion"]["kind"] != "vp":
        raise SystemExit(f"the reference runs continuous-VP models; this model is {cfg['diffusion']['kind']}")
    net = Mlp(net_cfg["dim"], net_cfg["hidden"], net_cfg["depth"], net_cfg["embDim"])
    state = dict(tensors)
    state["freqs"] = net.freqs
    net.load_state_dict(state, strict=True)
    net.eval()
    return net, cfg


class Vp:
    """VP SDE schedule scalars in float64 (Python floats), as src/diffusion/vp.ts."""

    def __init__(self, beta_min, beta_max):
        self.b0, self.b1 = beta_min, beta_max

    def beta(self, t):
        return self.b0 + t * (self.b1 - self.b0)

    def integral(self, t):
        return t * (self.b0 + 0.5 * t * (self.b1 - self.b0))

    def alpha(self, t):
        return math.exp(-0.5 * self.integral(t))

    def sigma2(self, t):
        return -math.expm1(-self.integral(t))


class Sampler:
    def __init__(self, net, cfg, eps0=1e-3, floor=1e-6):
        self.net = net
        self.kind = cfg["parametrisation"]
        self.dim = cfg["network"]["dim"]
        d = cfg["diffusion"]
        self.sde = Vp(d["betaMin"], d["betaMax"])
        self.eps0 = eps0
        self.floor = floor

    def score(self, x, tcol, t):
        out = self.net(x, tcol)
        if self.kind == "noise":
            return out * (-1.0 / math.sqrt(self.sde.sigma2(t)))
        if self.kind == "mean":
            return (self.sde.alpha(t) * out - x) / self.sde.sigma2(t)
        return out

    def guided(self, x, t):
        """sq of eq. (16) and the base score s, at one shared time t."""
        alpha, s2 = self.sde.alpha(t), self.sde.sigma2(t)
        tcol = torch.full((x.shape[0], 1), t)
        s = self.score(x, tcol, t)
        x0 = (x + s2 * s) / alpha
        l = (x0 * x0).sum(dim=1, keepdim=True)
        g = 2.0 * x0 / l
        # log max(l, m): the floored rows (and a non-finite l) get g = 0.
        g = torch.where((l > self.floor) & torch.isfinite(l), g, torch.zeros_like(g))
        eps = self.eps0 / torch.clamp(g.norm(dim=1, keepdim=True), min=1.0)
        sp = self.score(x + eps * g, tcol, t)
        sq = s + g / alpha + (s2 / alpha) * (sp - s) / eps
        return sq, s

    def sample(self, n, steps, gen, t_min=1e-3, step_times=None):
        grid = [1.0 - (k / steps) * (1.0 - t_min) for k in range(steps + 1)]
        grid[-1] = t_min
        x = torch.randn(n, self.dim, generator=gen)
        for k in range(steps):
            if step_times is not None:
                step_times.append(time.perf_counter())
            t, dt = grid[k], grid[k] - grid[k + 1]
            sq, _ = self.guided(x, t)
            beta = self.sde.beta(t)
            # reverse EM: x - [f - g^2 sq] dt + g sqrt(dt) z, f = -beta x / 2, g^2 = beta
            z = torch.randn(x.shape, generator=gen)
            x = x + (0.5 * beta * dt) * x + (beta * dt) * sq + math.sqrt(beta * dt) * z
        if step_times is not None:
            step_times.append(time.perf_counter())
        t = grid[-1]
        sq, _ = self.guided(x, t)
        return (x + self.sde.sigma2(t) * sq) / self.sde.alpha(t)


def max_rss_mb():
    # Linux reports ru_maxrss in kilobytes.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--eps0", type=float, default=1e-3)
    ap.add_argument("--floor", type=float, default=1e-6)
    ap.add_argument("--check")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    rss_import = max_rss_mb()
    net, cfg = load_model(a.model)
    sampler = Sampler(net, cfg, a.eps0, a.floor)
    with torch.no_grad():
        if a.check:
            with open(a.check) as f:
                inp = json.load(f)
            x = torch.tensor(inp["x"], dtype=torch.float32)
            out = []
            for t in inp["t"]:
                sq, s = sampler.guided(x, float(t))
                out.append({"t": t, "score": s.double().tolist(), "sq": sq.double().tolist()})
            print(json.dumps({"torch": torch.__version__, "results": out}))
            return
        gen = torch.Generator().manual_seed(a.seed)
        # Warm-up: a short run at the same n (allocator, OpenMP pool, BLAS buffers).
        sampler.sample(a.n, max(1, a.warmup), gen)
        rss_ready = max_rss_mb()
        stamps = []
        t0 = time.perf_counter()
        x = sampler.sample(a.n, a.steps, gen, step_times=stamps)
        secs = time.perf_counter() - t0
    # Per-step durations: their median is robust to the pauses another process's load causes.
    durations = sorted(b - a for a, b in zip(stamps[:-1], stamps[1:]))
    median_step = durations[len(durations) // 2] if durations else float("nan")
    r2 = (x.double() ** 2).sum(dim=1)
    cfg_show = torch.__config__.show().lower()
    print(json.dumps({
        "torch": torch.__version__,
        "blas_build": "OpenBLAS" if "openblas" in cfg_show else "unknown",
        "threads": torch.get_num_threads(),
        "n": a.n, "steps": a.steps, "seed": a.seed,
        "seconds": round(secs, 4),
        "ms_per_step": round(1000.0 * secs / (a.steps + 1), 4),
        "median_step_ms": round(1000.0 * median_step, 4),
        "peak_rss_mb": round(max_rss_mb(), 1),
        "rss_after_import_mb": round(rss_import, 1),
        "rss_before_timed_run_mb": round(rss_ready, 1),
        "mean_norm2": float(r2.mean()),
        "sd_norm2": float(r2.std()),
        "finite": bool(torch.isfinite(x).all()),
    }))


if __name__ == "__main__":
    sys.exit(main())
