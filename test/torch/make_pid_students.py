#!/usr/bin/env python3
"""Writes the PID-reference students of test/fixtures/pid-students/ with EDM's own networks (NVlabs/edm, not part of
this repository), saved as the PID reference saves its students, and expected.json with the one-step sample the
reference's OneShotDenoiser draws, computed with EDM's networks in float64:

    x = (sigma_min/T) z + (1 - sigma_min/T) F(c_in(T) z, c_noise(sigma_min)),   z ~ N(0, T^2 I), T = sigma_max,

F the bare network (SongUNet or DhariwalUNet) and c_in, c_noise the preconditioning's (Karras et al. 2022, Table 1).

  ddpmpp-fp16.pt       a bare SongUNet DDPM++ state dict as fp16 training leaves it: every tensor a view at a
                       non-zero offset into ONE shared float32 storage, whose location says "cuda:0" (EDM precond)
  adm-cond-vp.safetensors  a bare DhariwalUNet state dict (class-conditional, 3 classes) in safetensors (read with --precond vp)
  ncsnpp-ve.pkl        an EDM network snapshot, pickle.dump(dict(ema=VEPrecond(...), ...)), module_src replaced by a
                       placeholder as in make_edm_snapshots.py (VE precond from the file)

No tensor is named map_augment.*: the reference's students have none (augment_dim 0).
The ground truth for test/formats/pid-student.test.ts; nothing runs it.

Usage: /usr/bin/python3 make_pid_students.py EDM_CHECKOUT OUT_DIR
"""
import copy
import io
import json
import os
import pickle
import struct
import sys
import tempfile
import zipfile

import numpy as np
import torch

edm_dir, out = sys.argv[1], sys.argv[2]
sys.dont_write_bytecode = True
sys.path.insert(0, edm_dir)
import dnnlib  # noqa: E402
from torch_utils import persistence  # noqa: E402
from training import loss as loss_mod, networks  # noqa: E402

scratch = tempfile.mkdtemp()
with open(os.path.join(edm_dir, 'training', 'networks.py')) as f, open(os.path.join(scratch, 'networks64.py'), 'w') as g:
    g.write(f.read().replace('torch.float32', 'torch.float64'))
sys.path.insert(0, scratch)
import networks64  # noqa: E402

PLACEHOLDER = ('module_src: the Python source of this class\'s module, left out of this fixture. PID Studio never reads it.'
               .ljust(240, '.'))
os.makedirs(out, exist_ok=True)

DDPM = dict(embedding_type='positional', encoder_type='standard', decoder_type='standard', channel_mult_noise=1, resample_filter=[1, 1])
NCSN = dict(embedding_type='fourier', encoder_type='residual', decoder_type='standard', channel_mult_noise=2, resample_filter=[1, 3, 3, 1])
SMALL = dict(model_channels=8, channel_mult=[1, 2], channel_mult_emb=2, num_blocks=1, attn_resolutions=[4], dropout=0.0)
R, C = 8, 3


def randomise(net):
    with torch.no_grad():  # nonzero everywhere so every path carries signal
        for p in net.parameters():
            p.copy_(torch.randn_like(p) * (0.3 if p.ndim > 1 else 0.05))


def shared_storage_views(sd):
    """Every tensor a view into one float32 storage, each at a non-zero offset with a gap before it."""
    total = sum(v.numel() + 3 for v in sd.values()) + 5
    flat = torch.full((total,), float('nan'))  # the gaps are NaN: a reader that ignores offsets reads NaN
    views, at = {}, 5
    for k, v in sd.items():
        flat[at:at + v.numel()] = v.flatten()
        views[k] = flat[at:at + v.numel()].view(v.shape)
        at += v.numel() + 3
    return views


def save_on_cuda0(obj, path):
    """torch.save with every storage's location "cuda:0", as a CUDA-trained state dict says, without a GPU."""
    tag = lambda storage: 'cuda:0' if getattr(storage, 'device', torch.device('cpu')).type == 'cpu' else None  # noqa: E731
    torch.serialization.register_package(1, tag, lambda storage, location: None)
    try:
        torch.save(obj, path)
    finally:
        torch.serialization._package_registry[:] = [e for e in torch.serialization._package_registry if e[1] is not tag]
    with zipfile.ZipFile(path) as z:
        pkl = [n for n in z.namelist() if n.endswith('data.pkl')][0]
        assert b'cuda:0' in z.read(pkl) and b'cpu' not in z.read(pkl), 'the location is not cuda:0'
        data = [n for n in z.namelist() if '/data/' in n]
        assert len(data) == 1, f'{len(data)} storages, not one shared'


def save_safetensors(sd, path):
    header, offset, blobs = {}, 0, []
    for k, v in sd.items():
        b = v.contiguous().numpy().astype('<f4').tobytes()
        header[k] = dict(dtype='F32', shape=list(v.shape), data_offsets=[offset, offset + len(b)])
        offset += len(b)
        blobs.append(b)
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * (-len(h) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h + b''.join(blobs))


def dumps_without_source(data):
    saved = {cls: cls._orig_module_src for cls in persistence._decorators}
    for cls in saved:
        cls._orig_module_src = PLACEHOLDER
    try:
        return pickle.dumps(data)
    finally:
        for cls, src in saved.items():
            cls._orig_module_src = src


def c_in_noise(precond, T, smin):
    """c_in(T) in float64; c_noise(sigma_min) in float32 as EDM's VPPrecond, VEPrecond and EDMPrecond compute it (and
    the reference's students, trained on those values, take it): VP's ln(1 + sigma^2) rounds 1 + 4e-6 in float32,
    which moves c_noise by about 1 % at sigma 0.002, more than the float32 round-off of the network."""
    T64 = torch.tensor(T, dtype=torch.float64)
    s = torch.tensor(smin, dtype=torch.float32)
    if precond == 'edm':
        return 1 / (0.5 ** 2 + T64 ** 2).sqrt(), (s.log() / 4).double()
    if precond == 'vp':
        beta_d, beta_min, M = 19.9, 0.1, 1000
        sigma_inv = ((beta_min ** 2 + 2 * beta_d * (1 + s ** 2).log()).sqrt() - beta_min) / beta_d
        return 1 / (T64 ** 2 + 1).sqrt(), ((M - 1) * sigma_inv).double()
    if precond == 've':
        return torch.tensor(1.0, dtype=torch.float64), (0.5 * s).log().double()
    raise ValueError(precond)


cases = {
    # name: (file, network class, kwargs, precond, sigma_min, T, label_dim)
    'ddpmpp-fp16': ('ddpmpp-fp16.pt', 'SongUNet', dict(**SMALL, **DDPM), 'edm', 0.002, 80.0, 0),
    'adm-cond-vp': ('adm-cond-vp.safetensors', 'DhariwalUNet', dict(SMALL), 'vp', 0.002, 80.0, 3),
    # VEPrecond's trained range is sigma 0.02 .. 100: EDM's 0.002 .. 80 is clipped to 0.02 .. 80
    'ncsnpp-ve': ('ncsnpp-ve.pkl', 'SongUNet', dict(**SMALL, **NCSN), 've', 0.02, 80.0, 0),
}
torch.manual_seed(0)
expected = {}
for name, (file, cls, kw, precond, smin, T, label_dim) in cases.items():
    path = os.path.join(out, file)
    full = dict(img_resolution=R, in_channels=C, out_channels=C, label_dim=label_dim, augment_dim=0, **kw)
    if name == 'ncsnpp-ve':
        pre = networks.VEPrecond(img_resolution=R, img_channels=C, label_dim=label_dim, model_type=cls, **kw)
        randomise(pre)
        ema = copy.deepcopy(pre).eval().requires_grad_(False)
        data = dict(ema=ema, loss_fn=loss_mod.VELoss(), augment_pipe=None,
                    dataset_kwargs=dict(dnnlib.EasyDict(class_name='training.dataset.ImageFolderDataset', path='x.zip', use_labels=False, xflip=False, cache=True, resolution=R, max_size=10)))
        with open(path, 'wb') as f:
            f.write(dumps_without_source(data))
        sd = ema.model.state_dict()
    else:
        net = getattr(networks, cls)(**full)
        randomise(net)
        sd = net.state_dict()
        assert not any(k.startswith('map_augment') for k in sd)
        if file.endswith('.pt'):
            views = shared_storage_views(sd)
            save_on_cuda0(views, path)
            back = torch.load(path, map_location='cpu')
            assert all(torch.equal(back[k], sd[k]) for k in sd), 'the views do not read back'
            offsets = [back[k].storage_offset() for k in sd]
            assert min(offsets) > 0 and len({back[k].storage().data_ptr() for k in sd}) == 1
        else:
            save_safetensors(sd, path)

    net64 = getattr(networks64, cls)(**full).double().eval()
    net64.load_state_dict({k: v.double() for k, v in sd.items()})
    g = torch.Generator().manual_seed(1)
    n = 3
    z = torch.randn(n, C, R, R, generator=g, dtype=torch.float64)  # standard normal, as a noise file holds
    labels = torch.nn.functional.one_hot(torch.tensor([0, 2, 1]), label_dim).double() if label_dim else None
    c_in, c_noise = c_in_noise(precond, T, smin)
    zT = z * T
    with torch.no_grad():
        F = net64(c_in * zT, c_noise.repeat(n), labels)
    a = smin / T
    x = a * zT + (1 - a) * F
    if precond == 'vp':  # what exact float64 c_noise would give instead
        c64 = (1000 - 1) * ((0.1 ** 2 + 2 * 19.9 * torch.tensor(smin, dtype=torch.float64).square().log1p()).sqrt() - 0.1) / 19.9
        with torch.no_grad():
            F64 = net64(c_in * zT, c64.repeat(n), labels)
        print(name, 'c_noise float32', c_noise.item(), 'exact', c64.item(), 'max |dx| from it', ((1 - smin / T) * (F64 - F)).abs().max().item())
    print(name, 'max |x|', x.abs().max().item(), 'max |F|', F.abs().max().item(), 'bytes', os.path.getsize(path))
    expected[name] = dict(file=file, network=cls, precond=precond, sigma_min=smin, sigma_max=T,
                          z=z.permute(0, 2, 3, 1).flatten().tolist(), labels=labels.tolist() if labels is not None else None,
                          x=x.permute(0, 2, 3, 1).flatten().tolist(), shape=[n, R, R, C])
with open(os.path.join(out, 'expected.json'), 'w') as f:
    json.dump(expected, f)
