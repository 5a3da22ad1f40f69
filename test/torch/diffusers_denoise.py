"""D(x, sigma) of a diffusers UNet2DModel under its DDPM schedule, as an EDM denoiser: sigma_t = sqrt((1 - abar_t) /
abar_t) at integer timesteps t, D = x - sigma eps(x / sqrt(1 + sigma^2), t), with eps from diffusers_reference.py's
torch.nn.functional UNet2DModel on weights read by torch.load(weights_only=True).
Usage: diffusers_denoise.py CASE_JSON; the case is {"bin", "config", "scheduler", "x" [n, C, H, W], "timesteps" [n],
"labels" [n, L] or null}; prints {"sigma": [n], "D": [n, C, H, W]}."""
import json
import os
import sys

import torch

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ddpm_schedules import alphas_cumprod  # noqa: E402
from diffusers_reference import unet2d  # noqa: E402

torch.set_grad_enabled(False)
with open(sys.argv[1]) as f:
    case = json.load(f)
P = torch.load(case['bin'], weights_only=True)
abar = alphas_cumprod(case['scheduler'])
t = torch.tensor(case['timesteps'], dtype=torch.long)
sigma = ((1 - abar[t]) / abar[t]).sqrt()
x = torch.tensor(case['x'], dtype=torch.float32)
labels = torch.tensor(case['labels'], dtype=torch.float32) if case['labels'] is not None else None
s = sigma.view(-1, 1, 1, 1)
blocks = {}
unet2d(P, case['config'], x / (1 + s ** 2).sqrt(), t.float(), labels, blocks.__setitem__)
print(json.dumps({'sigma': sigma.tolist(), 'D': (x - s * blocks['out']).tolist()}))
