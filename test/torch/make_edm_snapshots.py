#!/usr/bin/env python3
"""Writes the EDM network snapshots of test/fixtures/edm-pkl/ with EDM's own code (NVlabs/edm, not part of this
repository): tiny networks pickled as training/training_loop.py does, pickle.dump(dict(ema=..., loss_fn=...,
augment_pipe=None, dataset_kwargs=...)), and expected.json with D(x, sigma) computed by EDM's networks in float64.
A snapshot carries its classes' module source (module_src); here every class's is replaced with PLACEHOLDER first,
so no EDM code is written out. The PyTorch ground truth for test/formats/edm-snapshot.test.ts; nothing runs it.

Usage: /usr/bin/python3 make_edm_snapshots.py EDM_CHECKOUT OUT_DIR [case ...]
"""
import copy
import json
import os
import pickle
import sys
import tempfile

import numpy as np
import torch

edm_dir, out = sys.argv[1], sys.argv[2]
sys.dont_write_bytecode = True
sys.path.insert(0, edm_dir)
import dnnlib  # noqa: E402
from torch_utils import persistence  # noqa: E402
from training import loss as loss_mod, networks  # noqa: E402

# EDM's networks in float64: the same source with every float32 cast made a float64 one.
scratch = tempfile.mkdtemp()
with open(os.path.join(edm_dir, 'training', 'networks.py')) as f, open(os.path.join(scratch, 'networks64.py'), 'w') as g:
    g.write(f.read().replace('torch.float32', 'torch.float64'))
sys.path.insert(0, scratch)
import networks64  # noqa: E402

# The same length in every file, long enough for test/formats/edm-snapshot.test.ts to put a marker program in its place.
PLACEHOLDER = ('module_src: the Python source of this class\'s module, left out of this fixture. PID Studio never reads it.'
               .ljust(240, '.'))


def dumps_without_source(data):
    saved = {cls: cls._orig_module_src for cls in persistence._decorators}
    for cls in saved:
        cls._orig_module_src = PLACEHOLDER
    try:
        return pickle.dumps(data)
    finally:
        for cls, src in saved.items():
            cls._orig_module_src = src


os.makedirs(out, exist_ok=True)

def song(**o):
    d = dict(model_type='SongUNet', model_channels=8, channel_mult=[1, 2], channel_mult_emb=2, num_blocks=1, attn_resolutions=[4], dropout=0.0)
    d.update(o)
    return d


DDPM = dict(embedding_type='positional', encoder_type='standard', decoder_type='standard', channel_mult_noise=1, resample_filter=[1,1])
NCSN = dict(embedding_type='fourier', encoder_type='residual', decoder_type='standard', channel_mult_noise=2, resample_filter=[1,3,3,1])
ADM = dict(model_type='DhariwalUNet', model_channels=8, channel_mult=[1, 2], channel_mult_emb=2, num_blocks=1, attn_resolutions=[4], dropout=0.0)
cases = {
  'edm-ddpmpp': ('EDMPrecond', dict(img_resolution=8, img_channels=3, label_dim=0, sigma_data=0.5, **song(**DDPM, augment_dim=9)), 'EDMLoss'),
  'vp-ddpmpp-cond': ('VPPrecond', dict(img_resolution=8, img_channels=3, label_dim=4, beta_d=19.9, beta_min=0.1, M=1000, epsilon_t=1e-5, **song(**DDPM)), 'VPLoss'),
  've-ncsnpp': ('VEPrecond', dict(img_resolution=8, img_channels=3, label_dim=0, sigma_min=0.02, sigma_max=100, **song(**NCSN)), 'VELoss'),
  'edm-adm-cond': ('EDMPrecond', dict(img_resolution=8, img_channels=3, label_dim=3, sigma_data=0.5, **ADM), 'EDMLoss'),
}
# numpy scalars in init kwargs (EDM's own are UNetBlock's skip_scale, np.sqrt(0.5))
cases['edm-ddpmpp'][1]['sigma_data'] = np.float64(0.5)
cases['edm-ddpmpp'][1]['img_resolution'] = np.int64(8)
which = sys.argv[3:] or list(cases)
torch.manual_seed(0)
expected = {}
for name in which:
    cls, kw, lossname = cases[name]
    net = getattr(networks, cls)(**kw)
    with torch.no_grad():  # nonzero everywhere so every path carries signal
        for p in net.parameters():
            p.copy_(torch.randn_like(p) * (0.3 if p.ndim > 1 else 0.05))
    ema = copy.deepcopy(net).eval().requires_grad_(False)
    loss_fn = getattr(loss_mod, lossname)()
    data = dict(ema=ema, loss_fn=loss_fn, augment_pipe=None, dataset_kwargs=dict(dnnlib.EasyDict(class_name='training.dataset.ImageFolderDataset', path='x.zip', use_labels=kw['label_dim'] > 0, xflip=False, cache=True, resolution=8, max_size=10)))
    data = {k: (v.cpu() if isinstance(v, torch.nn.Module) else v) for k, v in data.items()}
    raw = dumps_without_source(data)
    with open(os.path.join(out, name + '.pkl'), 'wb') as f:
        f.write(raw)
    # D in float64 by EDM's code
    g = torch.Generator().manual_seed(1)
    n = 3
    x = torch.randn(n, 3, 8, 8, generator=g) * 2
    sigmas = torch.tensor([0.05, 1.0, 20.0])
    labels = None
    if kw['label_dim']:
        labels = torch.nn.functional.one_hot(torch.tensor([0, 2, 1]), kw['label_dim']).float()
    net64 = getattr(networks64, cls)(**kw).double().eval()
    net64.load_state_dict({k: v.double() for k, v in ema.state_dict().items()})
    with torch.no_grad():
        D = net64(x.double(), sigmas.double(), labels.double() if labels is not None else None)
        D32 = ema(x, sigmas, labels)
    print(name, 'f64 vs f32 EDM max abs diff', (D - D32.double()).abs().max().item(), 'max |D|', D.abs().max().item())
    expected[name] = dict(precond=cls, x=x.permute(0,2,3,1).flatten().tolist(), sigma=sigmas.tolist(), labels=labels.tolist() if labels is not None else None, D=D.permute(0,2,3,1).flatten().tolist(), shape=[n, 8, 8, 3])
with open(os.path.join(out, 'expected.json'), 'w') as f:
    json.dump(expected, f)
