#!/usr/bin/env python3
"""Reference forward pass of huggingface diffusers' UNet2DModel (models/unets/unet_2d.py) for
test/core/diffusers-unet2d.test.ts, written from the architecture description with torch.nn.functional (NCHW,
float32). It does not import diffusers. Besides the output it records every block's output (conv_in, time_proj,
time_embedding, down_blocks.i, mid_block, up_blocks.i), and it lists the state-dict names and shapes of a config
(in diffusers' registration order), from which the parameter counts are taken.

Usage: diffusers_reference.py DIR
  reads  DIR/cases.json: {"cases": [{"name", "kind": "unet2d" | "shapes", "args": config, "tensors": {name: [offset, shape]},
                                     "inputs": {"x", "c", "labels"?}}]}
         DIR/data.bin:   every tensor, float32 little-endian, at its offset (in floats)
  writes DIR/out.json:   {"outputs": {"case/block": [offset, shape]}, "shapes": {case: [[name, shape], ...]}} and DIR/out.bin
"""
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

torch.set_grad_enabled(False)


# ---------------------------------------------------------------------------------------------------------------
# The architecture as a list of modules

def head_dim(a, channels):
    return a['attention_head_dim'] if a['attention_head_dim'] is not None else channels


def blocks(a):
    """(down, mid, up): each block a dict with its resnets (name, in, out, scale, up, down), attentions and sampler."""
    ch = a['block_out_channels']
    n = len(ch)
    down, up = [], []
    out = ch[0]
    for i, t in enumerate(a['down_block_types']):
        t = t[7:] if t.startswith('UNetRes') else t
        inp, out = out, ch[i]
        p = f'down_blocks.{i}'
        attn = t == 'AttnDownBlock2D'
        b = {'resnets': [dict(name=f'{p}.resnets.{j}', inp=inp if j == 0 else out, out=out, scale=1.0)
                         for j in range(a['layers_per_block'])],
             'attentions': [dict(name=f'{p}.attentions.{j}', c=out, groups=a['norm_num_groups'], rescale=1.0)
                            for j in range(a['layers_per_block'])] if attn else [],
             'sampler': None}
        if i < n - 1:
            if attn and a['downsample_type'] == 'resnet':
                b['sampler'] = ('resnet', dict(name=f'{p}.downsamplers.0', inp=out, out=out, scale=1.0, down=True))
            else:
                b['sampler'] = ('conv', f'{p}.downsamplers.0.conv', out)
        down.append(b)
    mid = None
    if a['mid_block_type'] is not None:
        c = ch[-1]
        f = a['mid_block_scale_factor']
        groups = a['attn_norm_num_groups']
        if groups is None:
            groups = a['norm_num_groups'] if a['resnet_time_scale_shift'] == 'default' else None
        mid = {'resnets': [dict(name=f'mid_block.resnets.{j}', inp=c, out=c, scale=f) for j in range(2)],
               'attentions': [dict(name='mid_block.attentions.0', c=c, groups=groups, rescale=f)] if a['add_attention'] else [],
               'sampler': None}
    rev = list(reversed(ch))
    out = rev[0]
    for i, t in enumerate(a['up_block_types']):
        t = t[7:] if t.startswith('UNetRes') else t
        prev, out = out, rev[i]
        skip_in = rev[min(i + 1, n - 1)]
        p = f'up_blocks.{i}'
        attn = t == 'AttnUpBlock2D'
        L = a['layers_per_block'] + 1
        b = {'resnets': [dict(name=f'{p}.resnets.{j}', inp=(prev if j == 0 else out) + (skip_in if j == L - 1 else out), out=out, scale=1.0)
                         for j in range(L)],
             'attentions': [dict(name=f'{p}.attentions.{j}', c=out, groups=a['norm_num_groups'], rescale=1.0) for j in range(L)] if attn else [],
             'sampler': None}
        if i < n - 1:
            if attn and a['upsample_type'] == 'resnet':
                b['sampler'] = ('resnet', dict(name=f'{p}.upsamplers.0', inp=out, out=out, scale=1.0, up=True))
            else:
                b['sampler'] = ('conv', f'{p}.upsamplers.0.conv', out)
        up.append(b)
    return down, mid, up


def emb_dim(a):
    return a['time_embedding_dim'] or 4 * a['block_out_channels'][0]


def state_dict_shapes(a):
    """[name, shape] in the order UNet2DModel registers its modules (mid_block after up_blocks)."""
    E = emb_dim(a)
    c0 = a['block_out_channels'][0]
    out = []

    def conv(name, o, i, k):
        out.extend([[name + '.weight', [o, i, k, k]], [name + '.bias', [o]]])

    def lin(name, o, i):
        out.extend([[name + '.weight', [o, i]], [name + '.bias', [o]]])

    def norm(name, c):
        out.extend([[name + '.weight', [c]], [name + '.bias', [c]]])

    def resnet(r):
        norm(r['name'] + '.norm1', r['inp'])
        conv(r['name'] + '.conv1', r['out'], r['inp'], 3)
        lin(r['name'] + '.time_emb_proj', r['out'] * (2 if a['resnet_time_scale_shift'] == 'scale_shift' else 1), E)
        norm(r['name'] + '.norm2', r['out'])
        conv(r['name'] + '.conv2', r['out'], r['out'], 3)
        if r['inp'] != r['out']:
            conv(r['name'] + '.conv_shortcut', r['out'], r['inp'], 1)

    def attention(t):
        d = head_dim(a, t['c'])
        inner = (t['c'] // d) * d
        if t['groups'] is not None:
            norm(t['name'] + '.group_norm', t['c'])
        for p in ('to_q', 'to_k', 'to_v'):
            lin(f"{t['name']}.{p}", inner, t['c'])
        lin(t['name'] + '.to_out.0', t['c'], inner)

    conv('conv_in', c0, a['in_channels'], 3)
    if a['time_embedding_type'] == 'fourier':
        out.append(['time_proj.weight', [c0]])
    t_in = 2 * c0 if a['time_embedding_type'] == 'fourier' else c0
    lin('time_embedding.linear_1', E, t_in)
    lin('time_embedding.linear_2', E, E)
    if a['num_class_embeds']:
        out.append(['class_embedding.weight', [a['num_class_embeds'], E]])
    down, mid, up = blocks(a)
    for b in down + up + ([mid] if mid else []):
        for t in b['attentions']:
            attention(t)
        for r in b['resnets']:
            resnet(r)
        s = b['sampler']
        if s and s[0] == 'conv':
            conv(s[1], s[2], s[2], 3)
        elif s:
            resnet(s[1])
    norm('conv_norm_out', c0)
    conv('conv_out', a['out_channels'], c0, 3)
    return out


# ---------------------------------------------------------------------------------------------------------------
# Forward

def gn(P, name, x, groups, eps):
    return F.group_norm(x, groups, P[name + '.weight'], P[name + '.bias'], eps)


def conv(P, name, x, stride=1, padding=1):
    return F.conv2d(x, P[name + '.weight'], P[name + '.bias'], stride=stride, padding=padding)


def lin(P, name, x):
    return F.linear(x, P[name + '.weight'], P[name + '.bias'])


def resnet(P, a, r, x, temb):
    g, eps = a['norm_num_groups'], a['norm_eps']
    n = r['name']
    h = F.silu(gn(P, n + '.norm1', x, g, eps))
    if r.get('up'):
        x = F.interpolate(x, scale_factor=2.0, mode='nearest')
        h = F.interpolate(h, scale_factor=2.0, mode='nearest')
    if r.get('down'):
        x = F.avg_pool2d(x, kernel_size=2, stride=2)
        h = F.avg_pool2d(h, kernel_size=2, stride=2)
    h = conv(P, n + '.conv1', h)
    t = lin(P, n + '.time_emb_proj', F.silu(temb))[:, :, None, None]
    if a['resnet_time_scale_shift'] == 'default':
        h = gn(P, n + '.norm2', h + t, g, eps)
    else:
        scale, shift = torch.chunk(t, 2, dim=1)
        h = gn(P, n + '.norm2', h, g, eps) * (1 + scale) + shift
    h = conv(P, n + '.conv2', F.silu(h))
    if n + '.conv_shortcut.weight' in P:
        x = conv(P, n + '.conv_shortcut', x, padding=0)
    return (x + h) / r['scale']


def attention(P, a, t, x):
    B, C, H, W = x.shape
    n = t['name']
    residual = x
    h = x.view(B, C, H * W).transpose(1, 2)
    if t['groups'] is not None:
        h = gn(P, n + '.group_norm', h.transpose(1, 2), t['groups'], a['norm_eps']).transpose(1, 2)
    q, k, v = (lin(P, f'{n}.{p}', h) for p in ('to_q', 'to_k', 'to_v'))
    d = head_dim(a, C)
    heads = C // d
    q, k, v = (z.view(B, -1, heads, d).transpose(1, 2) for z in (q, k, v))   # [B, heads, N, d]
    w = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) * (d ** -0.5), dim=-1)
    h = torch.matmul(w, v).transpose(1, 2).reshape(B, -1, heads * d)
    h = lin(P, n + '.to_out.0', h)
    h = h.transpose(-1, -2).reshape(B, C, H, W)
    return (h + residual) / t['rescale']


def time_proj(P, a, t):
    c = a['block_out_channels'][0]
    if a['time_embedding_type'] == 'fourier':
        x = torch.log(t)
        proj = x[:, None] * P['time_proj.weight'][None, :] * 2 * np.pi
        return torch.cat([torch.sin(proj), torch.cos(proj)], dim=-1)
    half = c // 2
    exponent = -math.log(10000) * torch.arange(start=0, end=half, dtype=torch.float32)
    exponent = exponent / (half - a['freq_shift'])
    emb = t[:, None].float() * torch.exp(exponent)[None, :]
    emb = torch.cat([torch.sin(emb), torch.cos(emb)], dim=-1)
    if a['flip_sin_to_cos']:
        emb = torch.cat([emb[:, half:], emb[:, :half]], dim=-1)
    if c % 2 == 1:
        emb = F.pad(emb, (0, 1, 0, 0))
    return emb


def unet2d(P, a, x, t, labels, record):
    if a['center_input_sample']:
        x = 2 * x - 1.0
    t = t * torch.ones(x.shape[0], dtype=t.dtype)
    tp = time_proj(P, a, t)
    record('time_proj', tp)
    emb = lin(P, 'time_embedding.linear_2', F.silu(lin(P, 'time_embedding.linear_1', tp)))
    if a['num_class_embeds']:
        emb = emb + F.embedding(labels.argmax(dim=1), P['class_embedding.weight'])
    record('time_embedding', emb)
    h = conv(P, 'conv_in', x)
    record('conv_in', h)
    skips = [h]
    down, mid, up = blocks(a)
    for i, b in enumerate(down):
        for j, r in enumerate(b['resnets']):
            h = resnet(P, a, r, h, emb)
            if b['attentions']:
                h = attention(P, a, b['attentions'][j], h)
            skips.append(h)
        s = b['sampler']
        if s:
            if s[0] == 'conv':
                if a['downsample_padding'] == 0:
                    h = conv(P, s[1], F.pad(h, (0, 1, 0, 1)), stride=2, padding=0)
                else:
                    h = conv(P, s[1], h, stride=2, padding=a['downsample_padding'])
            else:
                h = resnet(P, a, s[1], h, emb)
            skips.append(h)
        record(f'down_blocks.{i}', h)
    if mid:
        h = resnet(P, a, mid['resnets'][0], h, emb)
        for k, r in enumerate(mid['resnets'][1:]):
            if mid['attentions']:
                h = attention(P, a, mid['attentions'][k], h)
            h = resnet(P, a, r, h, emb)
        record('mid_block', h)
    for i, b in enumerate(up):
        for j, r in enumerate(b['resnets']):
            h = resnet(P, a, r, torch.cat([h, skips.pop()], dim=1), emb)
            if b['attentions']:
                h = attention(P, a, b['attentions'][j], h)
        s = b['sampler']
        if s:
            if s[0] == 'conv':
                h = conv(P, s[1], F.interpolate(h, scale_factor=2.0, mode='nearest'))
            else:
                h = resnet(P, a, s[1], h, emb)
        record(f'up_blocks.{i}', h)
    h = conv(P, 'conv_out', F.silu(gn(P, 'conv_norm_out', h, a['norm_num_groups'], a['norm_eps'])))
    if a['time_embedding_type'] == 'fourier':
        h = h / t.reshape(h.shape[0], 1, 1, 1)
    record('out', h)


def main(d):
    with open(os.path.join(d, 'cases.json')) as f:
        cases = json.load(f)['cases']
    data = np.fromfile(os.path.join(d, 'data.bin'), dtype='<f4')

    def get(entry):
        off, shape = entry
        n = int(np.prod(shape)) if shape else 1
        return torch.from_numpy(data[off:off + n].copy()).reshape(shape)

    index, shapes, chunks = {}, {}, []
    off = 0

    def record(case, block, y):
        nonlocal off
        flat = y.detach().to(torch.float32).contiguous().numpy().ravel()
        index[f'{case}/{block}'] = [off, list(y.shape)]
        chunks.append(flat)
        off += flat.size

    for case in cases:
        a = case['args']
        shapes[case['name']] = state_dict_shapes(a)
        if case['kind'] == 'shapes':
            continue
        P = {k: get(v) for k, v in case['tensors'].items()}
        missing = [n for n, _ in shapes[case['name']] if n not in P]
        if missing:
            raise SystemExit(f"{case['name']}: the TS tensors lack {missing[:5]}")
        inputs = {k: get(v) for k, v in case['inputs'].items()}
        unet2d(P, a, inputs['x'], inputs['c'], inputs.get('labels'), lambda block, y, name=case['name']: record(name, block, y))
    (np.concatenate(chunks) if chunks else np.zeros(0)).astype('<f4').tofile(os.path.join(d, 'out.bin'))
    with open(os.path.join(d, 'out.json'), 'w') as f:
        json.dump({'outputs': index, 'shapes': shapes}, f)


if __name__ == '__main__':
    main(sys.argv[1])
