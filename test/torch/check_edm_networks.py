#!/usr/bin/env python3
"""A development-time check, not run by the tests: torch/pid_torch.py's EDM networks (edm-songunet, edm-dhariwalunet)
and its preconditionings (edm, vp, ve) against EDM's own code (NVlabs/edm training/networks.py, a checkout given on
the command line; nothing of it is copied here). Each case builds EDM's network (EDMPrecond / VPPrecond / VEPrecond
around a SongUNet or DhariwalUNet) with EDM's constructor, sets every tensor to random values on a trained network's
scale (EDM zero-initialises some output layers, which would hide their paths), and feeds the same state dict, noise
and labels to both: the network F(c_in x, c_noise, labels) and the denoiser D(x, sigma, labels), in float32 and in
float64 (EDM's networks.py with its float32 casts made float64, as make_edm_snapshots.py does). It prints the largest
absolute difference and that over the output's largest magnitude.

Usage: /usr/bin/python3 test/torch/check_edm_networks.py EDM_CHECKOUT        (e.g. scratch/edm)
"""
import math
import os
import sys
import tempfile

import numpy as np
import torch

edm_dir = sys.argv[1]
sys.dont_write_bytecode = True
sys.path.insert(0, edm_dir)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'torch'))
from training import networks as edm32  # noqa: E402
import pid_torch  # noqa: E402

scratch = tempfile.mkdtemp()
with open(os.path.join(edm_dir, 'training', 'networks.py')) as f, open(os.path.join(scratch, 'edm_networks64.py'), 'w') as g:
    g.write(f.read().replace('torch.float32', 'torch.float64'))
sys.path.insert(0, scratch)
import edm_networks64 as edm64  # noqa: E402

torch.set_grad_enabled(False)
R, C = 16, 3
SONG = dict(embedding_type='positional', channel_mult_noise=1, encoder_type='standard', decoder_type='standard', resample_filter=[1, 1])
# (name, EDM precond class, our precond, EDM model kwargs, our network type, label_dim, augment_dim)
CASES = [
    ('DDPM++ (EDMPrecond, SongUNet)', 'EDMPrecond', {'type': 'edm'},
     dict(model_type='SongUNet', model_channels=16, channel_mult=[1, 2, 2], num_blocks=2, attn_resolutions=[8], channel_mult_emb=4, **SONG), 0, 0),
    ('DDPM++ class-conditional, augment_dim 9 (VPPrecond)', 'VPPrecond', {'type': 'vp', 'beta_d': 19.9, 'beta_min': 0.1, 'M': 1000, 'epsilon_t': 1e-5},
     dict(model_type='SongUNet', model_channels=16, channel_mult=[1, 2], num_blocks=1, attn_resolutions=[8], channel_mult_emb=2, augment_dim=9, **SONG), 10, 9),
    ('NCSN++ (VEPrecond: Fourier, residual encoder, skip decoder, [1, 3, 3, 1])', 'VEPrecond', {'type': 've', 'sigma_min': 0.02, 'sigma_max': 100},
     dict(model_type='SongUNet', model_channels=16, channel_mult=[1, 2, 2], num_blocks=1, attn_resolutions=[8], channel_mult_emb=2,
          embedding_type='fourier', channel_mult_noise=2, encoder_type='residual', decoder_type='skip', resample_filter=[1, 3, 3, 1]), 0, 0),
    ('SongUNet, skip encoder (EDMPrecond)', 'EDMPrecond', {'type': 'edm'},
     dict(model_type='SongUNet', model_channels=16, channel_mult=[1, 1, 2], num_blocks=1, attn_resolutions=[4], channel_mult_emb=2,
          embedding_type='positional', channel_mult_noise=1, encoder_type='skip', decoder_type='standard', resample_filter=[1, 3, 3, 1]), 0, 0),
    ('ADM (EDMPrecond, DhariwalUNet, class-conditional, 2 heads)', 'EDMPrecond', {'type': 'edm'},
     dict(model_type='DhariwalUNet', model_channels=32, channel_mult=[1, 2, 4], num_blocks=1, attn_resolutions=[8, 4], channel_mult_emb=2), 10, 0),
]


def spec_of(kw, label_dim, augment_dim):
    s = {k: v for k, v in kw.items() if k != 'model_type'}
    s.update(type='edm-songunet' if kw['model_type'] == 'SongUNet' else 'edm-dhariwalunet', img_resolution=R, in_channels=C, out_channels=C,
             label_dim=label_dim, augment_dim=augment_dim, dropout=0)
    return s


def randomise(net, seed):
    """Every parameter random on a trained network's scale (std 1/sqrt(fan_in) for weights, GroupNorm scales near 1,
    0.2 for biases); buffers (resample filters, Fourier frequencies) kept."""
    g = torch.Generator().manual_seed(seed)
    for name, p in net.named_parameters():
        if p.dim() > 1:
            p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p[0].numel()))
        elif name.endswith('weight'):
            p.copy_(1 + 0.2 * torch.randn(p.shape, generator=g))
        else:
            p.copy_(0.2 * torch.randn(p.shape, generator=g))


def rel(a, b):
    d = float((a - b).abs().max())
    return d, d / float(b.abs().max())


def main():
    g = torch.Generator().manual_seed(1)
    B = 4
    sigmas = torch.tensor([0.05, 0.5, 5.0, 60.0], dtype=torch.float64)
    print(f'{"case":72s} {"dtype":7s} {"F max |diff|":>12s} {"rel":>9s} {"D max |diff|":>12s} {"rel":>9s}')
    for name, pre, precond_spec, kw, label_dim, augment_dim in CASES:
        x0 = torch.randn([B, C, R, R], generator=g, dtype=torch.float64)
        labels = None
        if label_dim:
            labels = torch.nn.functional.one_hot(torch.randint(0, label_dim, (B,), generator=g), label_dim).double()
        seed = len(name)
        for dtype, mod in ((torch.float32, edm32), (torch.float64, edm64)):
            torch.manual_seed(0)
            net = getattr(mod, pre)(img_resolution=R, img_channels=C, label_dim=label_dim, **kw).to(dtype).eval()
            randomise(net, seed)
            model = net.model
            P = {k: v.detach().clone() for k, v in model.state_dict().items()}
            spec = spec_of(kw, label_dim, augment_dim)
            config = {'edm': {'sigma_data': 0.5}, 'precond': precond_spec}
            precond = pid_torch.Precond(config)
            F = pid_torch.network_fn(spec)
            lab = None if labels is None else labels.to(dtype)
            sigma = sigmas.to(dtype)
            x = (x0 * sigmas.reshape(-1, 1, 1, 1)).to(dtype)
            # the network alone, at the inputs the denoiser gives it
            _, _, c_in, c_noise = precond.tensors(sigma)
            x_in = x * c_in.reshape(-1, 1, 1, 1)
            theirs_F = model(x_in, c_noise, lab)
            ours_F = F(P, x_in.permute(0, 2, 3, 1), c_noise, lab).permute(0, 3, 1, 2)
            # the denoiser
            theirs_D = net(x, sigma, lab)
            ours_D = pid_torch.denoiser(F, P, precond)(x.permute(0, 2, 3, 1), sigma, lab).permute(0, 3, 1, 2)
            (fa, fr), (da, dr) = rel(ours_F, theirs_F), rel(ours_D, theirs_D)
            print(f'{name:72s} {str(dtype)[6:]:7s} {fa:12.2e} {fr:9.2e} {da:12.2e} {dr:9.2e}')


if __name__ == '__main__':
    main()
