"""D(x, sigma) of EDM's preconditionings (Karras et al. 2022, Table 1: EDMPrecond, VPPrecond, VEPrecond) around the
torch.nn.functional networks of edm_reference.py, loaded from .pt state dicts with torch.load(weights_only=True).
Usage: denoiser_reference.py DIR; DIR/cases.json: {"cases": [{"name", "pt", "kind", "spec", "precond", "x", "sigma",
"labels"}]} with x [n, C, H, W], sigma [n], labels [n, L] or null as nested lists; writes DIR/out.json {name: D}."""
import json
import math
import os
import sys

import torch

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from edm_reference import dhariwal_unet, song_unet  # noqa: E402

torch.set_grad_enabled(False)


def coefficients(p, s):
    """c_skip, c_out, c_in, c_noise as [n] float32 tensors, computed in float32 as EDM's preconditioning classes do."""
    if p['type'] == 'edm':
        sd = 0.5
        return sd ** 2 / (s ** 2 + sd ** 2), s * sd / (s ** 2 + sd ** 2).sqrt(), 1 / (sd ** 2 + s ** 2).sqrt(), s.log() / 4
    if p['type'] == 'vp':
        t = ((p['beta_min'] ** 2 + 2 * p['beta_d'] * (1 + s ** 2).log()).sqrt() - p['beta_min']) / p['beta_d']
        return torch.ones_like(s), -s, 1 / (s ** 2 + 1).sqrt(), (p['M'] - 1) * t
    return torch.ones_like(s), s, torch.ones_like(s), (0.5 * s).log()


def main(d):
    with open(os.path.join(d, 'cases.json')) as f:
        cases = json.load(f)['cases']
    out = {}
    for case in cases:
        state = torch.load(case['pt'], weights_only=True)
        P = {k[len('model.'):] if k.startswith('model.') else k: v for k, v in state.items()}
        x = torch.tensor(case['x'], dtype=torch.float32)
        sigma = torch.tensor(case['sigma'], dtype=torch.float32)
        labels = torch.tensor(case['labels'], dtype=torch.float32) if case['labels'] is not None else None
        c_skip, c_out, c_in, c_noise = coefficients(case['precond'], sigma)
        net = song_unet if case['kind'] == 'edm-songunet' else dhariwal_unet
        F_x = net(P, case['spec'], c_in.view(-1, 1, 1, 1) * x, c_noise, labels)
        out[case['name']] = (c_skip.view(-1, 1, 1, 1) * x + c_out.view(-1, 1, 1, 1) * F_x).tolist()
    with open(os.path.join(d, 'out.json'), 'w') as f:
        json.dump(out, f)


if __name__ == '__main__':
    main(sys.argv[1])
