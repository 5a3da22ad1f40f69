#!/usr/bin/env python3
"""Reference forward passes of EDM's SongUNet and DhariwalUNet (NVlabs/edm training/networks.py) and of their
layers, written from the architecture description with torch.nn.functional (NCHW, float32), for
test/core/edm-networks.test.ts. It does not import EDM.

Usage: edm_reference.py DIR
  reads  DIR/cases.json: {"cases": [{"name", "kind", "args", "tensors": {name: [offset, shape]}, "inputs": {...}}]}
         DIR/data.bin:   every tensor, float32 little-endian, at its offset (in floats)
  writes DIR/out.json:   {name: [offset, shape]} and DIR/out.bin, each case's output (float32, NCHW)
"""
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

torch.set_grad_enabled(False)


def gn(P, name, x, eps):
    c = x.shape[1]
    return F.group_norm(x, min(32, c // 4), P[name + '.weight'], P[name + '.bias'], eps)


def taps2d(P, name, channels):
    """The depthwise filter of a resample_filter buffer, one copy per channel: [channels, 1, n, n]."""
    f = P[name + '.resample_filter']
    return f.reshape(1, 1, f.shape[-2], f.shape[-1]).repeat(channels, 1, 1, 1)


def down2(P, name, x):
    n = P[name + '.resample_filter'].shape[-1]
    return F.conv2d(x, taps2d(P, name, x.shape[1]), stride=2, padding=(n - 1) // 2, groups=x.shape[1])


def up2(P, name, x):
    n = P[name + '.resample_filter'].shape[-1]
    return F.conv_transpose2d(x, 4 * taps2d(P, name, x.shape[1]), stride=2, padding=(n - 1) // 2, groups=x.shape[1])


def conv(P, name, x, up=False, down=False, fused=False):
    """EDM's Conv2d: optional resampling before a 'same' conv, or (fused, down) the conv on a grown grid then the filter."""
    w = P.get(name + '.weight')
    if fused and down:
        n = P[name + '.resample_filter'].shape[-1]
        y = F.conv2d(x, w, padding=w.shape[-1] // 2 + (n - 1) // 2)
        y = F.conv2d(y, taps2d(P, name, y.shape[1]), stride=2, groups=y.shape[1])
    else:
        y = x
        if up:
            y = up2(P, name, y)
        if down:
            y = down2(P, name, y)
        if w is not None:
            y = F.conv2d(y, w, padding=w.shape[-1] // 2)
    b = P.get(name + '.bias')
    return y if b is None else y + b.view(1, -1, 1, 1)


def lin(P, name, x):
    return F.linear(x, P[name + '.weight'], P.get(name + '.bias'))


def attend(P, name, x, heads, eps):
    """Self-attention with EDM's qkv layout: output channel (h, i, j) = h*3d + 3i + j, j = q, k, v."""
    B, C, H, W = x.shape
    d = C // heads
    qkv = conv(P, name + '.qkv', gn(P, name + '.norm2', x, eps)).view(B, heads, d, 3, H * W)
    q, k, v = qkv[:, :, :, 0], qkv[:, :, :, 1], qkv[:, :, :, 2]          # [B, heads, d, N]
    scores = torch.matmul(q.transpose(2, 3), k) / math.sqrt(d)           # [B, heads, N(q), N(k)]
    a = torch.matmul(v, torch.softmax(scores, dim=-1).transpose(2, 3))   # [B, heads, d, N(q)]
    return conv(P, name + '.proj', a.reshape(B, C, H, W))


def block(P, name, o, x, emb):
    """A UNetBlock; o: in, out, up, down, heads, adaptive, skip_scale, eps, proj (1x1 conv on a resampled skip)."""
    h = conv(P, name + '.conv0', F.silu(gn(P, name + '.norm0', x, o['eps'])), up=o['up'], down=o['down'])
    e = lin(P, name + '.affine', emb)[:, :, None, None]
    if o['adaptive']:
        scale, shift = e[:, :o['out']], e[:, o['out']:]
        h = F.silu(gn(P, name + '.norm1', h, o['eps']) * (1 + scale) + shift)
    else:
        h = F.silu(gn(P, name + '.norm1', h + e, o['eps']))
    h = conv(P, name + '.conv1', h)
    if name + '.skip.resample_filter' in P or name + '.skip.weight' in P:
        h = h + conv(P, name + '.skip', x, up=o['up'], down=o['down'])
    else:
        h = h + x
    h = h * o['skip_scale']
    if o['heads']:
        h = (attend(P, name, h, o['heads'], o['eps']) + h) * o['skip_scale']
    return h


def positional(c, n, endpoint):
    k = torch.arange(n // 2, dtype=torch.float32)
    f = (1.0 / 10000) ** (k / (n // 2 - (1 if endpoint else 0)))
    a = c[:, None] * f[None, :]
    return torch.cat([torch.cos(a), torch.sin(a)], 1)


def song_unet(P, a, x, c, labels):
    mc, mult, nb = a['model_channels'], a['channel_mult'], a['num_blocks']
    noise = mc * a['channel_mult_noise']
    if a['embedding_type'] == 'fourier':
        t = c[:, None] * (2 * math.pi * P['map_noise.freqs'])[None, :]
        emb = torch.cat([torch.cos(t), torch.sin(t)], 1)
    else:
        emb = positional(c, noise, True)
    emb = torch.cat([emb[:, noise // 2:], emb[:, :noise // 2]], 1)
    if a['label_dim']:
        emb = emb + lin(P, 'map_label', labels * math.sqrt(a['label_dim']))
    emb = F.silu(lin(P, 'map_layer1', F.silu(lin(P, 'map_layer0', emb))))

    def opts(cin, cout, up=False, down=False, attn=False):
        return dict(out=cout, up=up, down=down, heads=1 if attn else 0, adaptive=False, skip_scale=math.sqrt(0.5), eps=1e-6)

    R = a['img_resolution']
    skips = []
    aux = x
    h = x
    c_now = mc
    for level, m in enumerate(mult):
        r = R >> level
        p = f'enc.{r}x{r}'
        if level == 0:
            h = conv(P, p + '_conv', h)
        else:
            h = block(P, p + '_down', opts(c_now, c_now, down=True), h, emb)
        skips.append(h)
        if level > 0 and a['encoder_type'] == 'skip':
            aux = conv(P, p + '_aux_down', aux, down=True)
            h = h + conv(P, p + '_aux_skip', aux)
            skips[-1] = h
        if level > 0 and a['encoder_type'] == 'residual':
            h = (h + conv(P, p + '_aux_residual', aux, down=True, fused=True)) / math.sqrt(2)
            aux = h
            skips[-1] = h
        for i in range(nb):
            h = block(P, f'{p}_block{i}', opts(c_now, mc * m, attn=r in a['attn_resolutions']), h, emb)
            c_now = mc * m
            skips.append(h)
    out = None
    for level in reversed(range(len(mult))):
        r = R >> level
        p = f'dec.{r}x{r}'
        if level == len(mult) - 1:
            h = block(P, p + '_in0', opts(c_now, c_now, attn=True), h, emb)
            h = block(P, p + '_in1', opts(c_now, c_now), h, emb)
        else:
            h = block(P, p + '_up', opts(c_now, c_now, up=True), h, emb)
        for i in range(nb + 1):
            h = torch.cat([h, skips.pop()], 1)
            c_now = mc * mult[level]
            h = block(P, f'{p}_block{i}', opts(h.shape[1], c_now, attn=(i == nb and r in a['attn_resolutions'])), h, emb)
        if a['decoder_type'] == 'skip' or level == 0:
            if out is not None:
                out = conv(P, p + '_aux_up', out, up=True)
            y = conv(P, p + '_aux_conv', F.silu(gn(P, p + '_aux_norm', h, 1e-6)))
            out = y if out is None else y + out
    return out


def dhariwal_unet(P, a, x, c, labels):
    mc, mult, nb = a['model_channels'], a['channel_mult'], a['num_blocks']
    emb = positional(c, mc, False)
    emb = lin(P, 'map_layer1', F.silu(lin(P, 'map_layer0', emb)))
    if a['label_dim']:
        emb = emb + F.linear(labels, P['map_label.weight'])
    emb = F.silu(emb)

    def opts(cout, up=False, down=False, attn=False):
        return dict(out=cout, up=up, down=down, heads=(cout // 64) if attn else 0, adaptive=True, skip_scale=1.0, eps=1e-5)

    R = a['img_resolution']
    skips = []
    h = x
    for level, m in enumerate(mult):
        r = R >> level
        p = f'enc.{r}x{r}'
        if level == 0:
            h = conv(P, p + '_conv', h)
        else:
            h = block(P, p + '_down', opts(h.shape[1], down=True), h, emb)
        skips.append(h)
        for i in range(nb):
            h = block(P, f'{p}_block{i}', opts(mc * m, attn=r in a['attn_resolutions']), h, emb)
            skips.append(h)
    for level in reversed(range(len(mult))):
        r = R >> level
        p = f'dec.{r}x{r}'
        if level == len(mult) - 1:
            h = block(P, p + '_in0', opts(h.shape[1], attn=True), h, emb)
            h = block(P, p + '_in1', opts(h.shape[1]), h, emb)
        else:
            h = block(P, p + '_up', opts(h.shape[1], up=True), h, emb)
        for i in range(nb + 1):
            h = torch.cat([h, skips.pop()], 1)
            h = block(P, f'{p}_block{i}', opts(mc * mult[level], attn=r in a['attn_resolutions']), h, emb)
    return conv(P, 'out_conv', F.silu(gn(P, 'out_norm', h, 1e-5)))


def layer(P, a, inputs):
    """One layer on its own: a['op'] is conv (with up/down/fused), block, attention, groupnorm, positional or fourier."""
    x = inputs.get('x')
    op = a['op']
    if op == 'conv':
        return conv(P, 'l', x, up=a.get('up', False), down=a.get('down', False), fused=a.get('fused', False))
    if op == 'block':
        return block(P, 'l', a['block'], x, inputs['emb'])
    if op == 'attention':
        return attend(P, 'l', x, a['heads'], a['eps'])
    if op == 'groupnorm':
        return gn(P, 'l', x, a['eps'])
    if op == 'positional':
        return positional(inputs['c'], a['channels'], a['endpoint'])
    if op == 'fourier':
        t = inputs['c'][:, None] * (2 * math.pi * P['l.freqs'])[None, :]
        return torch.cat([torch.cos(t), torch.sin(t)], 1)
    raise ValueError(f'unknown layer op {op}')


def main(d):
    with open(os.path.join(d, 'cases.json')) as f:
        cases = json.load(f)['cases']
    data = np.fromfile(os.path.join(d, 'data.bin'), dtype='<f4')

    def get(entry):
        off, shape = entry
        n = int(np.prod(shape)) if shape else 1
        return torch.from_numpy(data[off:off + n].copy()).reshape(shape)

    index, chunks, off = {}, [], 0
    for case in cases:
        P = {k: get(v) for k, v in case['tensors'].items()}
        inputs = {k: get(v) for k, v in case['inputs'].items()}
        a = case['args']
        if case['kind'] == 'songunet':
            y = song_unet(P, a, inputs['x'], inputs['c'], inputs.get('labels'))
        elif case['kind'] == 'dhariwalunet':
            y = dhariwal_unet(P, a, inputs['x'], inputs['c'], inputs.get('labels'))
        else:
            y = layer(P, a, inputs)
        flat = y.detach().to(torch.float32).contiguous().numpy().ravel()
        index[case['name']] = [off, list(y.shape)]
        chunks.append(flat)
        off += flat.size
    np.concatenate(chunks).astype('<f4').tofile(os.path.join(d, 'out.bin'))
    with open(os.path.join(d, 'out.json'), 'w') as f:
        json.dump(index, f)


if __name__ == '__main__':
    main(sys.argv[1])
