"""alphas_cumprod of DDPMScheduler's beta schedules, computed with torch as the scheduler does (float32 betas,
torch.cumprod). Usage: ddpm_schedules.py JSON_LIST_OF_PARAMS; prints one JSON list of alphas_cumprod lists."""
import json
import math
import sys

import torch


def betas(p):
    T = p['num_train_timesteps']
    if p['beta_schedule'] == 'linear':
        return torch.linspace(p['beta_start'], p['beta_end'], T, dtype=torch.float32)
    if p['beta_schedule'] == 'scaled_linear':
        return torch.linspace(p['beta_start'] ** 0.5, p['beta_end'] ** 0.5, T, dtype=torch.float32) ** 2

    def alpha_bar(t):
        return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2
    return torch.tensor([min(1 - alpha_bar((i + 1) / T) / alpha_bar(i / T), 0.999) for i in range(T)], dtype=torch.float32)


def alphas_cumprod(p):
    return torch.cumprod(1.0 - betas(p), dim=0)


if __name__ == '__main__':
    print(json.dumps([alphas_cumprod(p).tolist() for p in json.loads(sys.argv[1])]))
