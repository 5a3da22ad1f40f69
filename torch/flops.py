#!/usr/bin/env python3
"""The FLOP count of one PID step of torch/train.py, for a teacher file or a built-in network config.

    python3 torch/flops.py [--batch B] [teacher.safetensors | cifar10-ddpmpp] ...

Counting rule: multiply-adds of the convolutions (EDM's depthwise resample filters included), the linear layers and
the attention's batched matmuls, through wrappers around nnf.conv2d, nnf.conv_transpose2d, nnf.linear and torch.bmm
during one forward at batch 1; a FLOP is half a multiply-add (FLOPs = 2 x MACs); norms, activations, softmax and
element-wise arithmetic are not counted. These ops are linear in the batch, so a forward at batch b is b times it.
One step at global batch B: the student's forward over 2B rows ([(z, t); (z, t')]), its backward at 2 x that forward,
and the teacher's forward over B rows: (3 x 2 + 1) B forwards at batch 1 = 7 B F1. An estimate, not a measurement.
Only torch and numpy (and torch/pid_torch.py beside it).
"""
import argparse
import json
import math
import os
import sys

import torch
import torch.nn.functional as nnf

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pid_torch  # noqa: E402

# EDM's CIFAR-10 DDPM++ (NVlabs/edm train.py --arch=ddpmpp, unconditional), the network of the PID paper's CIFAR-10 run
CIFAR10_DDPMPP = {
    'type': 'edm-songunet', 'img_resolution': 32, 'in_channels': 3, 'out_channels': 3, 'label_dim': 0, 'augment_dim': 0,
    'model_channels': 128, 'channel_mult': [2, 2, 2], 'channel_mult_emb': 4, 'num_blocks': 4, 'attn_resolutions': [16],
    'dropout': 0, 'label_dropout': 0, 'embedding_type': 'positional', 'channel_mult_noise': 1,
    'encoder_type': 'standard', 'decoder_type': 'standard', 'resample_filter': [1, 1]}
BUILTIN = {'cifar10-ddpmpp': (CIFAR10_DDPMPP, [32, 32, 3])}


def song_unet_tensors(s):
    """Zero tensors on a SongUNet's names and shapes (what its forward reads), for counting without a file."""
    P = {}
    emb = s['model_channels'] * s['channel_mult_emb']
    f = torch.tensor(s['resample_filter'], dtype=torch.float32)
    f = (f[:, None] * f[None, :]) / f.sum() ** 2

    def lin(name, cin, cout):
        P[f'{name}.weight'], P[f'{name}.bias'] = torch.zeros(cout, cin), torch.zeros(cout)

    def vec(name, c):
        P[f'{name}.weight'], P[f'{name}.bias'] = torch.ones(c), torch.zeros(c)

    def conv(name, c):
        if c['kernel']:
            P[f'{name}.weight'], P[f'{name}.bias'] = torch.zeros(c['out'], c['in'], c['kernel'], c['kernel']), torch.zeros(c['out'])
        if c['up'] or c['down']:
            P[f'{name}.resample_filter'] = f[None, None]

    lin('map_layer0', s['model_channels'] * s['channel_mult_noise'], emb)
    lin('map_layer1', emb, emb)
    enc, dec = pid_torch.song_unet_plan(s)
    for m in enc + dec:
        if m['role'] == 'aux_norm':
            vec(m['name'], m['channels'])
        elif m['role'] != 'block':
            conv(m['name'], m['conv'])
        else:
            b, n = m['block'], m['name']
            vec(f'{n}.norm0', b['in'])
            conv(f'{n}.conv0', {'in': b['in'], 'out': b['out'], 'kernel': 3, 'up': b['up'], 'down': b['down']})
            lin(f'{n}.affine', emb, b['out'] * (2 if b['adaptive'] else 1))
            vec(f'{n}.norm1', b['out'])
            conv(f'{n}.conv1', {'in': b['out'], 'out': b['out'], 'kernel': 3, 'up': False, 'down': False})
            if b['skip']:
                conv(f'{n}.skip', b['skip'])
            if b['heads']:
                vec(f'{n}.norm2', b['out'])
                conv(f'{n}.qkv', {'in': b['out'], 'out': 3 * b['out'], 'kernel': 1, 'up': False, 'down': False})
                conv(f'{n}.proj', {'in': b['out'], 'out': b['out'], 'kernel': 1, 'up': False, 'down': False})
    return P


class Counter:
    """Multiply-adds of nnf.conv2d / conv_transpose2d / linear and torch.bmm while active."""

    def __init__(self):
        self.macs = 0
        self.saved = {}

    def __enter__(self):
        def conv(fn):
            def run(x, w, *args, **kw):
                y = fn(x, w, *args, **kw)
                self.macs += y.numel() * w[0].numel()  # each output: in/groups x kh x kw
                return y
            return run

        def conv_t(fn):
            def run(x, w, *args, **kw):
                self.macs += x.numel() * w[0].numel()  # each input: out/groups x kh x kw
                return fn(x, w, *args, **kw)
            return run

        def linear(fn):
            def run(x, w, *args, **kw):
                self.macs += x.numel() // x.shape[-1] * w.numel()
                return fn(x, w, *args, **kw)
            return run

        def bmm(fn):
            def run(a, b, *args, **kw):
                self.macs += a.shape[0] * a.shape[1] * a.shape[2] * b.shape[2]
                return fn(a, b, *args, **kw)
            return run

        for mod, name, wrap in ((nnf, 'conv2d', conv), (nnf, 'conv_transpose2d', conv_t), (nnf, 'linear', linear), (torch, 'bmm', bmm)):
            self.saved[(mod, name)] = getattr(mod, name)
            setattr(mod, name, wrap(getattr(mod, name)))
        return self

    def __exit__(self, *exc):
        for (mod, name), fn in self.saved.items():
            setattr(mod, name, fn)


def forward_macs(spec, P, shape):
    """Multiply-adds of one forward at batch 1."""
    F = pid_torch.network_fn(spec)
    with torch.no_grad(), Counter() as c:
        F(P, torch.zeros(1, *shape), torch.zeros(1))
    return c.macs


def load(arg):
    if arg in BUILTIN:
        spec, shape = BUILTIN[arg]
        return arg, spec, shape, song_unet_tensors(spec)
    tensors, meta = pid_torch.read_safetensors(arg)
    config = json.loads(meta['pid_studio'])
    P = {n: torch.from_numpy(v.copy()) for n, v in tensors.items()}
    return os.path.basename(arg), config['network'], config['data']['shape'], P


def step_flops(f1, batch):
    """FLOPs of one PID step at global batch B from one forward's multiply-adds at batch 1: (3 x 2B + B) x 2 f1."""
    return 7 * batch * 2 * f1


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    p.add_argument('models', nargs='+', help=f"teacher .safetensors files, or {', '.join(BUILTIN)}")
    p.add_argument('--batch', type=int, action='append', help='global batch (repeatable; default 512)')
    p.add_argument('--tflops', type=float, default=50.0, help='sustained TFLOP/s per GPU for the time estimate (default 50)')
    p.add_argument('--json', action='store_true', help='one JSON line per model and batch')
    a = p.parse_args(argv)
    for arg in a.models:
        name, spec, shape, P = load(arg)
        params = sum(t.numel() for n, t in P.items() if not n.endswith(('resample_filter', 'map_noise.freqs')))
        f1 = forward_macs(spec, P, shape)
        for batch in a.batch or [512]:
            flops = step_flops(f1, batch)
            row = {'model': name, 'params': params, 'forwardMacsPerSample': f1, 'stepFlop': flops, 'forwardGflopPerSample': 2 * f1 / 1e9, 'batch': batch,
                   'stepTflop': flops / 1e12, 'msPerStepAt': a.tflops, 'ms': flops / (a.tflops * 1e12) * 1e3}
            if a.json:
                print(json.dumps(row))
            else:
                print(f"{name}: {params / 1e6:.3g}M parameters, forward {2 * f1 / 1e9:.4g} GFLOP per sample; "
                      f"one step at batch {batch}: {flops / 1e12:.4g} TFLOP = {row['ms']:.4g} ms at {a.tflops:g} TFLOP/s")
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
