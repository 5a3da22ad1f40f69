"""What the PyTorch PID step scripts of `npm run bench` share: the Karras grid, the update after the loss (gradient,
its norm, the finiteness check, RAdam, the EMA with warm-up min(rate, (1 + n) / (10 + n))), the timing and the line
they print (with the BLAS Debian's torch runs on: whatever libblas.so.3 points to)."""
import json
import math
import os
import time

import torch


def karras(n, smin, smax, rho):
    a, b = smax ** (1 / rho), smin ** (1 / rho)
    return [(a + i / (n - 1) * (b - a)) ** rho for i in range(n)]


def grid_pairs(grid, batch):
    """Grid times (t, t') of a batch: n uniform over the grid, n' = n + 1, or n - 1 at its end (src/core/pid.ts)."""
    last = grid.shape[0] - 1
    n = torch.randint(0, last + 1, (batch,))
    n_next = torch.where(n == last, torch.full_like(n, last - 1), n + 1)
    return grid[n], grid[n_next]


def update(loss, params, opt, ema, updates):
    """One optimiser step on `loss` when it and the gradient norm are finite; returns the EMA's update count."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    norm = torch.sqrt(sum(p.grad.square().sum() for p in params))
    if not (math.isfinite(loss.item()) and math.isfinite(norm.item())):
        return updates
    opt.step()
    r = min(0.999, (1 + updates) / (10 + updates))
    with torch.no_grad():
        for e_, p in zip(ema, params):
            e_.mul_(r).add_(p, alpha=1 - r)
    return updates + 1


def report(step, warmup, steps):
    """Runs `warmup` then `steps` steps and prints steps/s, torch's version, its threads and the BLAS, as one JSON line."""
    for _ in range(warmup):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    seconds = time.perf_counter() - start
    link = '/etc/alternatives/libblas.so.3-x86_64-linux-gnu'
    blas = os.path.realpath(link) if os.path.exists(link) else 'unknown'
    print(json.dumps({'stepsPerSecond': steps / seconds, 'torch': torch.__version__, 'threads': torch.get_num_threads(), 'blas': blas}))
