"""PID (Physics Informed Distillation) in PyTorch: the pieces torch/train.py runs, written to match the TypeScript
engine of pid-studio (src/core/pid.ts, optim.ts, student.ts, nets/, precond/) step for step.
Only torch and numpy; nothing from the rest of the repository is imported.

  - safetensors read and write (the pid-studio model file: config JSON in __metadata__.pid_studio);
  - the networks `mlp`, `unet`, `edm-songunet` (DDPM++, NCSN++), `edm-dhariwalunet` (ADM) and `diffusers-unet2d`
    (diffusers' UNet2DModel) as functions of a dict of tensors (PyTorch layouts and names, as the files hold them;
    nets/mlp.ts, unet.ts, edm-songunet.ts, edm-dhariwalunet.ts, diffusers-unet2d.ts, layers.ts); data are
    [B, ...data.shape] as in pid-studio (HWC images; the image networks work in NCHW inside); class labels one-hot;
  - the analytic `gaussian-mixture` teacher (teachers/gaussian-mixture.ts);
  - the teacher's preconditioning (edm, vp, ve, ddpm-eps) and the student x(z, t) = (t/T) z + (1 - t/T) F(c_in(T) z, c_noise(t));
  - the PID loss of one batch: one student call over the 2B batch [(z, t); (z, t')], the residual
    y - t (y - y') / (t - t') - D(stopgrad(y), t), and d = l2 | l1 | pseudo-huber per sample, averaged;
  - RAdam / Adam in PyTorch's form on one flat vector, with their scalar factors computed in float64 (optim.ts);
  - the EMA with warm-up min(rate, (1 + n) / (10 + n)).
"""
import json
import math
import struct

import numpy as np
import torch
import torch.nn.functional as nnf

# ------------------------------------------------------------------------------------------------------------------
# safetensors

_DTYPES = {'F32': np.float32, 'F16': np.float16, 'F64': np.float64, 'I64': np.int64, 'I32': np.int32, 'U8': np.uint8}


def read_safetensors(path):
    """(tensors: name -> float32 numpy array (F16/BF16 widened), metadata: dict of strings)."""
    with open(path, 'rb') as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError(f'{path}: not a safetensors file ({len(raw)} bytes)')
    n = struct.unpack('<Q', raw[:8])[0]
    header = json.loads(raw[8:8 + n].decode('utf-8'))
    meta = header.pop('__metadata__', {}) or {}
    base = 8 + n
    out = {}
    for name, h in header.items():
        a, b = h['data_offsets']
        buf = raw[base + a:base + b]
        if h['dtype'] == 'BF16':
            u = np.frombuffer(buf, dtype='<u2').astype(np.uint32) << 16
            arr = u.view(np.float32)
        elif h['dtype'] in _DTYPES:
            arr = np.frombuffer(buf, dtype=np.dtype(_DTYPES[h['dtype']]).newbyteorder('<'))
        else:
            raise ValueError(f'{path}: tensor {name} has dtype {h["dtype"]}, not one this reader knows')
        out[name] = arr.astype(np.float32).reshape(h['shape'])
    return out, meta


def safetensors_bytes(tensors, metadata=None):
    """A safetensors file of float32 tensors (names sorted, data contiguous, header padded to 8 bytes)."""
    header = {}
    chunks = []
    offset = 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(np.asarray(tensors[name], dtype='<f4'))
        data = a.tobytes()
        header[name] = {'dtype': 'F32', 'shape': list(a.shape), 'data_offsets': [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    if metadata:
        header['__metadata__'] = {k: str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(',', ':')).encode('utf-8')
    text += b' ' * ((8 - len(text) % 8) % 8)
    return struct.pack('<Q', len(text)) + text + b''.join(chunks)


# ------------------------------------------------------------------------------------------------------------------
# Schedule, preconditioning


def karras_sigmas(n, smin, smax, rho):
    """src/core/edm.ts karrasSigmas, in float64, endpoints exact."""
    a, b = smax ** (1 / rho), smin ** (1 / rho)
    out = [(a + (i / (n - 1)) * (b - a)) ** rho for i in range(n)]
    out[0], out[-1] = smax, smin
    return out


def ddpm_betas(p):
    """DDPMScheduler's betas as src/core/precond/ddpm-eps.ts ddpmBetas: float64 arithmetic, stored as float32."""
    T = p['num_train_timesteps']
    f32 = lambda v: float(np.float32(v))  # noqa: E731

    def linspace(a, b):
        return [f32(a if T == 1 else a + ((b - a) * i) / (T - 1)) for i in range(T)]
    if p['beta_schedule'] == 'linear':
        return linspace(p['beta_start'], p['beta_end'])
    if p['beta_schedule'] == 'scaled_linear':
        return [f32(b * b) for b in linspace(math.sqrt(p['beta_start']), math.sqrt(p['beta_end']))]

    def alpha_bar(t):
        return math.cos(((t + 0.008) / 1.008) * math.pi / 2) ** 2
    return [f32(min(1 - alpha_bar((i + 1) / T) / alpha_bar(i / T), 0.999)) for i in range(T)]


def ddpm_sigmas(p):
    """sigma_t = sqrt((1 - abar_t) / abar_t), abar_t the float32 cumulative product (accumulated in float64) of the
    float32 alphas (ddpm-eps.ts alphasCumprod, ddpmSigmas)."""
    acc = 1.0
    out = []
    for b in ddpm_betas(p):
        acc *= float(np.float32(1 - b))
        a = float(np.float32(acc))
        out.append(math.sqrt((1 - a) / a))
    return out


class Precond:
    """c_skip, c_out, c_in, c_noise of a config's preconditioning (src/core/precond/): float64 `at`, float32 tensors."""

    def __init__(self, config):
        p = config.get('precond') or {'type': 'edm'}
        self.type = p['type']
        self.p = p
        self.sd = config['edm']['sigma_data']
        if self.type not in ('edm', 'vp', 've', 'ddpm-eps'):
            raise SystemExit(f"torch/train.py: preconditioning '{self.type}' is not written here (edm, vp, ve, ddpm-eps are)")
        if self.type == 'ddpm-eps':
            # ln sigma_t of the training timesteps, float64 rounded to float32 (the lookup table of ddpm-eps.ts)
            self.log_table = np.array([math.log(v) for v in ddpm_sigmas(p)], dtype=np.float32)

    def c_in_at(self, sigma):
        if self.type == 'edm':
            return 1 / math.sqrt(sigma * sigma + self.sd * self.sd)
        if self.type in ('vp', 'ddpm-eps'):
            return 1 / math.sqrt(sigma * sigma + 1)
        return 1.0

    def c_noise(self, sigma):
        """[B] float32, computed in float32 as the TypeScript tensors are."""
        if self.type == 'edm':
            return torch.log(sigma) / 4
        if self.type == 've':
            return torch.log(sigma * 0.5)
        if self.type == 'ddpm-eps':
            # the fractional timestep t(sigma), linear in ln sigma between the training timesteps, clamped to [0, T-1]:
            # hi = #{t : ln sigma_t < ln sigma} clamped to [1, T-1], lo = hi - 1 (ddpm-eps.ts cNoise)
            table = torch.from_numpy(self.log_table).to(sigma.device)
            T = table.shape[0]
            l = torch.log(sigma)
            hi = (table[None, :] < l[:, None]).to(sigma.dtype).sum(1).clamp(1, T - 1)
            lo = hi - 1
            l_lo, l_hi = table[lo.long()].to(sigma.dtype), table[hi.long()].to(sigma.dtype)
            return (lo + (l - l_lo) / (l_hi - l_lo)).clamp(0, T - 1)
        p = self.p
        inv = (torch.sqrt(torch.log(sigma * sigma + 1) * (2 * p['beta_d']) + p['beta_min'] ** 2) - p['beta_min']) / p['beta_d']
        return inv * (p['M'] - 1)

    def tensors(self, sigma):
        """c_skip, c_out, c_in, c_noise as [B] float32 tensors."""
        if self.type == 'edm':
            sd2 = self.sd * self.sd
            s2 = sigma * sigma + sd2
            root = torch.sqrt(s2)
            return sd2 / s2, sigma * self.sd / root, 1 / root, self.c_noise(sigma)
        if self.type in ('vp', 'ddpm-eps'):
            return torch.ones_like(sigma), -sigma, torch.rsqrt(sigma * sigma + 1), self.c_noise(sigma)
        return torch.ones_like(sigma), sigma.clone(), torch.ones_like(sigma), self.c_noise(sigma)


def per_sample(v, rank):
    return v.reshape([v.shape[0]] + [1] * (rank - 1))


# ------------------------------------------------------------------------------------------------------------------
# Networks: F(params, x_in [B, ...data.shape], c_noise [B]) -> [B, ...data.shape]


def noise_embedding(c_noise, emb_dim, max_freq):
    half = emb_dim // 2
    freqs = [2 * math.pi * max_freq ** (k / (half - 1) if half > 1 else 0) for k in range(half)]
    args = c_noise[:, None] * torch.tensor(freqs, dtype=torch.float32, device=c_noise.device)[None, :]
    return torch.cat([torch.cos(args), torch.sin(args)], 1)


def _lin(P, name, x):
    return nnf.linear(x, P[f'{name}.weight'], P[f'{name}.bias'])


def _embedding(P, spec, c_noise):
    emb = noise_embedding(c_noise, spec['emb_dim'], spec['emb_max_freq'])
    return nnf.silu(_lin(P, 'map_layer1', nnf.silu(_lin(P, 'map_layer0', emb))))


def mlp_forward(spec, P, x_in, c_noise):
    """src/core/nets/mlp.ts."""
    b = x_in.shape[0]
    e = _embedding(P, spec, c_noise)
    h = _lin(P, 'input', x_in.reshape(b, -1))
    for i in range(spec['blocks']):
        inner = _lin(P, f'blocks.{i}.fc0', nnf.silu(h)) + _lin(P, f'blocks.{i}.emb', e)
        h = h + _lin(P, f'blocks.{i}.fc1', nnf.silu(inner))
    return _lin(P, 'out', nnf.silu(h)).reshape(x_in.shape)


def _unet_levels(spec, shape):
    H, W = shape[0], shape[1]
    return [{'res': f'{H // 2 ** l}x{W // 2 ** l}', 'width': spec['channels'] * m, 'attn': (H // 2 ** l) in spec['attn_resolutions']}
            for l, m in enumerate(spec['channel_mult'])]


def _unet_blocks(spec, shape):
    lv = _unet_levels(spec, shape)
    out, skips = [], []
    c = lv[0]['width']
    for level in lv:
        for i in range(spec['blocks_per_level']):
            out.append((f"enc.{level['res']}_block{i}", c, level['width'], level['attn']))
            c = level['width']
            skips.append(c)
    out.append((f"dec.{lv[-1]['res']}_in0", c, c, lv[-1]['attn']))
    for l in range(len(lv) - 1, -1, -1):
        for i in range(spec['blocks_per_level']):
            out.append((f"dec.{lv[l]['res']}_block{i}", c + skips.pop(), lv[l]['width'], lv[l]['attn']))
            c = lv[l]['width']
    return out


def _conv(P, name, x):
    w = P[f'{name}.weight']
    return nnf.conv2d(x, w, P[f'{name}.bias'], padding=w.shape[-1] // 2)


def _gn(P, name, x, groups):
    return nnf.group_norm(x, groups, P[f'{name}.weight'], P[f'{name}.bias'], eps=1e-5)


def _unet_block(P, spec, blk, x, e):
    name, cin, cout, attn = blk
    g = spec['groups']
    h = _conv(P, f'{name}.conv0', nnf.silu(_gn(P, f'{name}.norm0', x, g)))
    scale, shift = _lin(P, f'{name}.affine', e)[:, :, None, None].chunk(2, dim=1)
    h = _gn(P, f'{name}.norm1', h, g) * (scale + 1) + shift
    h = _conv(P, f'{name}.conv1', nnf.silu(h))
    y = h + (_conv(P, f'{name}.skip', x) if cin != cout else x)
    if attn:
        b, c, hh, ww = y.shape
        qkv = _conv(P, f'{name}.qkv', _gn(P, f'{name}.norm2', y, g)).reshape(b, 3 * c, hh * ww).transpose(1, 2)
        q, k, v = qkv.split(c, dim=2)
        w = torch.softmax(torch.bmm(q, k.transpose(1, 2)) * (1 / math.sqrt(c)), dim=2)
        a = torch.bmm(w, v).transpose(1, 2).reshape(b, c, hh, ww)
        y = y + _conv(P, f'{name}.proj', a)
    return y


def unet_forward(spec, P, x_in, c_noise):
    """src/core/nets/unet.ts, in NCHW (x_in and the result are NHWC, as pid-studio's data)."""
    shape = list(x_in.shape[1:])
    lv = _unet_levels(spec, shape)
    plan = _unet_blocks(spec, shape)
    n = spec['blocks_per_level']
    e = _embedding(P, spec, c_noise)
    h = _conv(P, f"enc.{lv[0]['res']}_conv", x_in.permute(0, 3, 1, 2))
    skips = []
    nxt = 0
    for l in range(len(lv)):
        if l > 0:
            h = nnf.avg_pool2d(h, 2)
        for _ in range(n):
            h = _unet_block(P, spec, plan[nxt], h, e)
            nxt += 1
            skips.append(h)
    h = _unet_block(P, spec, plan[nxt], h, e)
    nxt += 1
    for l in range(len(lv) - 1, -1, -1):
        for _ in range(n):
            h = _unet_block(P, spec, plan[nxt], torch.cat([h, skips.pop()], 1), e)
            nxt += 1
        if l > 0:
            h = h.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
    out = _conv(P, 'out_conv', nnf.silu(_gn(P, 'out_norm', h, spec['groups'])))
    return out.permute(0, 2, 3, 1)


# ------------------------------------------------------------------------------------------------------------------
# EDM's SongUNet (DDPM++ / NCSN++) and DhariwalUNet (ADM), src/core/nets/edm-songunet.ts, edm-dhariwalunet.ts and
# their layers (nets/layers.ts), on the tensor names and PyTorch layouts of NVlabs/edm's state dicts. Both are built
# from a module plan (src/formats/edm-networks.ts songUnetPlan / dhariwalUnetPlan): a list of dicts, in the order the
# forward pass visits them. No dropout; augmentation labels are absent (map_augment's weight is in the tensors and
# gets no gradient); class labels [B, label_dim] where label_dim > 0.


def _edm_conv_spec(cin, cout, kernel, up=False, down=False, fused=False):
    return {'in': cin, 'out': cout, 'kernel': kernel, 'up': up, 'down': down, 'fused': fused}


def _edm_block_spec(cin, cout, heads, adaptive, skip_scale, eps, resample_proj, up=False, down=False):
    skip = None
    if cout != cin or up or down:
        skip = _edm_conv_spec(cin, cout, 1 if (resample_proj or cout != cin) else 0, up=up, down=down)
    return {'in': cin, 'out': cout, 'up': up, 'down': down, 'heads': heads, 'adaptive': adaptive,
            'skip_scale': skip_scale, 'eps': eps, 'skip': skip}


def song_unet_plan(s):
    """(encoder modules, decoder modules) of a SongUNet config: {'role', 'name', 'conv' | 'block' | 'channels'}."""
    mc = s['model_channels']
    mult = s['channel_mult']
    nb = s['num_blocks']
    attn_res = s['attn_resolutions']
    enc, dec = [], []

    def block(dst, name, cin, cout, up=False, down=False, attn=False):
        dst.append({'role': 'block', 'name': name,
                    'block': _edm_block_spec(cin, cout, 1 if attn else 0, False, math.sqrt(0.5), 1e-6, True, up=up, down=down)})

    cout = caux = s['in_channels']
    for level, m in enumerate(mult):
        res = s['img_resolution'] >> level
        r = f'enc.{res}x{res}'
        if level == 0:
            enc.append({'role': 'conv', 'name': f'{r}_conv', 'conv': _edm_conv_spec(cout, mc, 3)})
            cout = mc
        else:
            block(enc, f'{r}_down', cout, cout, down=True)
            if s['encoder_type'] == 'skip':
                enc.append({'role': 'aux_down', 'name': f'{r}_aux_down', 'conv': _edm_conv_spec(caux, caux, 0, down=True)})
                enc.append({'role': 'aux_skip', 'name': f'{r}_aux_skip', 'conv': _edm_conv_spec(caux, cout, 1)})
            if s['encoder_type'] == 'residual':
                enc.append({'role': 'aux_residual', 'name': f'{r}_aux_residual',
                            'conv': _edm_conv_spec(caux, cout, 3, down=True, fused=True)})
                caux = cout
        for i in range(nb):
            cin, cout = cout, mc * m
            block(enc, f'{r}_block{i}', cin, cout, attn=res in attn_res)
    skips = [mod['conv']['out'] if mod['role'] == 'conv' else mod['block']['out'] for mod in enc if mod['role'] in ('conv', 'block')]
    levels = len(mult)
    for level in range(levels - 1, -1, -1):
        res = s['img_resolution'] >> level
        r = f'dec.{res}x{res}'
        if level == levels - 1:
            block(dec, f'{r}_in0', cout, cout, attn=True)
            block(dec, f'{r}_in1', cout, cout)
        else:
            block(dec, f'{r}_up', cout, cout, up=True)
        for i in range(nb + 1):
            cin = cout + skips.pop()
            cout = mc * mult[level]
            block(dec, f'{r}_block{i}', cin, cout, attn=(i == nb and res in attn_res))
        if s['decoder_type'] == 'skip' or level == 0:
            if s['decoder_type'] == 'skip' and level < levels - 1:
                dec.append({'role': 'aux_up', 'name': f'{r}_aux_up', 'conv': _edm_conv_spec(s['out_channels'], s['out_channels'], 0, up=True)})
            dec.append({'role': 'aux_norm', 'name': f'{r}_aux_norm', 'channels': cout})
            dec.append({'role': 'aux_conv', 'name': f'{r}_aux_conv', 'conv': _edm_conv_spec(cout, s['out_channels'], 3)})
    return enc, dec


def dhariwal_unet_plan(s):
    mc = s['model_channels']
    mult = s['channel_mult']
    nb = s['num_blocks']
    attn_res = s['attn_resolutions']
    enc, dec = [], []

    def block(dst, name, cin, cout, up=False, down=False, attn=False):
        dst.append({'role': 'block', 'name': name,
                    'block': _edm_block_spec(cin, cout, cout // 64 if attn else 0, True, 1.0, 1e-5, False, up=up, down=down)})

    cout = s['in_channels']
    for level, m in enumerate(mult):
        res = s['img_resolution'] >> level
        r = f'enc.{res}x{res}'
        if level == 0:
            enc.append({'role': 'conv', 'name': f'{r}_conv', 'conv': _edm_conv_spec(cout, mc * m, 3)})
            cout = mc * m
        else:
            block(enc, f'{r}_down', cout, cout, down=True)
        for i in range(nb):
            cin, cout = cout, mc * m
            block(enc, f'{r}_block{i}', cin, cout, attn=res in attn_res)
    skips = [mod['conv']['out'] if mod['role'] == 'conv' else mod['block']['out'] for mod in enc]
    levels = len(mult)
    for level in range(levels - 1, -1, -1):
        res = s['img_resolution'] >> level
        r = f'dec.{res}x{res}'
        if level == levels - 1:
            block(dec, f'{r}_in0', cout, cout, attn=True)
            block(dec, f'{r}_in1', cout, cout)
        else:
            block(dec, f'{r}_up', cout, cout, up=True)
        for i in range(nb + 1):
            cin = cout + skips.pop()
            cout = mc * mult[level]
            block(dec, f'{r}_block{i}', cin, cout, attn=res in attn_res)
    return enc, dec


def buffer_names(spec, names):
    """Which of `names` are fixed buffers, not trained (nets/index.ts bufferNames): EDM's resample filters and
    Fourier frequencies, diffusers' Fourier projection (time_proj.weight); none for the other networks."""
    if spec['type'] == 'diffusers-unet2d':
        return [n for n in names if n == 'time_proj.weight'] if spec['time_embedding_type'] == 'fourier' else []
    if spec['type'] not in ('edm-songunet', 'edm-dhariwalunet'):
        return []
    return [n for n in names if n.endswith('.resample_filter') or n == 'map_noise.freqs']


def _edm_gn(P, name, x, eps):
    return nnf.group_norm(x, min(32, x.shape[1] // 4), P[f'{name}.weight'], P[f'{name}.bias'], eps=eps)


def _depthwise(P, name, x):
    """The resample_filter buffer [1, 1, n, n] as a depthwise kernel [C, 1, n, n] for x's C channels."""
    f = P[f'{name}.resample_filter']
    return f.expand(x.shape[1], 1, f.shape[-2], f.shape[-1])


def _edm_conv(P, name, x, up=False, down=False, fused=False):
    """EDM's Conv2d: kernel 0 = resampling only; up / down resample before the 'same' conv; fused down: the conv on
    the image grown by the filter's padding, then the filter with stride 2. The bias comes last."""
    w = P.get(f'{name}.weight')
    if up or down:
        pad = P[f'{name}.resample_filter'].shape[-1] // 2 - 1
    if fused and down and w is not None:
        y = nnf.conv2d(x, w, padding=w.shape[-1] // 2 + pad)
        y = nnf.conv2d(y, _depthwise(P, name, y), stride=2, groups=y.shape[1])
    else:
        if fused and up:
            raise SystemExit(f"torch/train.py: fused up-sampling is not supported ('{name}')")
        y = x
        if up:
            y = nnf.conv_transpose2d(y, _depthwise(P, name, y) * 4, stride=2, padding=pad, groups=y.shape[1])
        if down:
            y = nnf.conv2d(y, _depthwise(P, name, y), stride=2, padding=pad, groups=y.shape[1])
        if w is not None:
            y = nnf.conv2d(y, w, padding=w.shape[-1] // 2)
    b = P.get(f'{name}.bias')
    return y if b is None else y + b[None, :, None, None]


def _edm_attention(P, name, x, heads, eps):
    """Self-attention over the H W positions, heads of d = C / heads channels; qkv's output channel (head, i, j) is
    head 3d + 3i + j with j = 0, 1, 2 for q, k, v (EDM's layout)."""
    b, c, hh, ww = x.shape
    d = c // heads
    qkv = _edm_conv(P, f'{name}.qkv', _edm_gn(P, f'{name}.norm2', x, eps)).reshape(b * heads, d, 3, hh * ww)
    q, k, v = qkv.unbind(2)                                                   # [B heads, d, N]
    w = torch.softmax(torch.bmm(q.transpose(1, 2), k / math.sqrt(d)), dim=2)  # [B heads, N(q), N(k)]
    a = torch.bmm(v, w.transpose(1, 2))                                       # [B heads, d, N(q)]
    return _edm_conv(P, f'{name}.proj', a.reshape(b, c, hh, ww))


def _edm_block(P, name, o, x, emb):
    """EDM's UNetBlock (nets/layers.ts edmBlock), NCHW."""
    h = _edm_conv(P, f'{name}.conv0', nnf.silu(_edm_gn(P, f'{name}.norm0', x, o['eps'])), up=o['up'], down=o['down'])
    p = _lin(P, f'{name}.affine', emb)[:, :, None, None]
    if o['adaptive']:
        scale, shift = p.chunk(2, dim=1)
        h = nnf.silu(shift + _edm_gn(P, f'{name}.norm1', h, o['eps']) * (scale + 1))
    else:
        h = nnf.silu(_edm_gn(P, f'{name}.norm1', h + p, o['eps']))
    h = _edm_conv(P, f'{name}.conv1', h)
    h = h + (_edm_conv(P, f'{name}.skip', x, up=o['up'], down=o['down']) if o['skip'] else x)
    if o['skip_scale'] != 1:
        h = h * o['skip_scale']
    if o['heads'] > 0:
        h = _edm_attention(P, name, h, o['heads'], o['eps']) + h
        if o['skip_scale'] != 1:
            h = h * o['skip_scale']
    return h


def _cos_sin(c_noise, freqs):
    args = c_noise[:, None] * freqs[None, :]
    return torch.cat([torch.cos(args), torch.sin(args)], 1)


def positional_embedding(c_noise, channels, max_positions=10000, endpoint=False):
    """EDM's PositionalEmbedding, [cos | sin]: f_k = (1 / max_positions)^(k / (N/2 - endpoint)), the exponent and
    the base rounded to float32 and the power taken in float64 then rounded (as nets/layers.ts)."""
    half = channels // 2
    denom = np.float32(half - (1 if endpoint else 0))
    base = float(np.float32(1 / max_positions))
    freqs = np.array([base ** float(np.float32(np.float32(k) / denom)) for k in range(half)], dtype=np.float32)
    return _cos_sin(c_noise, torch.from_numpy(freqs).to(c_noise.device))


def _labels_for(spec, labels, b):
    if labels is None or tuple(labels.shape) != (b, spec['label_dim']):
        raise ValueError(f"this {spec['type']} is class-conditional (label_dim {spec['label_dim']}): it needs class labels [{b}, {spec['label_dim']}]")
    return labels


def edm_songunet_forward(spec, P, x_in, c_noise, labels=None):
    """src/core/nets/edm-songunet.ts (x_in and the result NHWC, as pid-studio's data)."""
    enc, dec = song_unet_plan(spec)
    noise_channels = spec['model_channels'] * spec['channel_mult_noise']
    if spec['embedding_type'] == 'fourier':
        emb = _cos_sin(c_noise, P['map_noise.freqs'] * (2 * math.pi))
    else:
        emb = positional_embedding(c_noise, noise_channels, 10000, True)
    half = emb.shape[1] // 2
    emb = torch.cat([emb[:, half:], emb[:, :half]], 1)
    if spec.get('label_dim'):
        emb = emb + _lin(P, 'map_label', _labels_for(spec, labels, x_in.shape[0]) * math.sqrt(spec['label_dim']))
    emb = nnf.silu(_lin(P, 'map_layer1', nnf.silu(_lin(P, 'map_layer0', emb))))
    x = aux = x_in.permute(0, 3, 1, 2)
    skips = []
    for m in enc:
        role, name = m['role'], m['name']
        if role == 'aux_down':
            aux = _edm_conv(P, name, aux, down=True)
        elif role == 'aux_skip':
            x = skips[-1] = x + _edm_conv(P, name, aux)
        elif role == 'aux_residual':
            x = skips[-1] = aux = (x + _edm_conv(P, name, aux, down=True, fused=True)) / math.sqrt(2)
        elif role == 'block':
            x = _edm_block(P, name, m['block'], x, emb)
            skips.append(x)
        elif role == 'conv':
            x = _edm_conv(P, name, x)
            skips.append(x)
    aux = tmp = None
    for m in dec:
        role, name = m['role'], m['name']
        if role == 'aux_up':
            aux = _edm_conv(P, name, aux, up=True)
        elif role == 'aux_norm':
            tmp = _edm_gn(P, name, x, 1e-6)
        elif role == 'aux_conv':
            tmp = _edm_conv(P, name, nnf.silu(tmp))
            aux = tmp if aux is None else tmp + aux
        elif role == 'block':
            if x.shape[1] != m['block']['in']:
                x = torch.cat([x, skips.pop()], 1)
            x = _edm_block(P, name, m['block'], x, emb)
    return aux.permute(0, 2, 3, 1)


def edm_dhariwalunet_forward(spec, P, x_in, c_noise, labels=None):
    """src/core/nets/edm-dhariwalunet.ts (x_in and the result NHWC)."""
    enc, dec = dhariwal_unet_plan(spec)
    emb = positional_embedding(c_noise, spec['model_channels'], 10000, False)
    emb = _lin(P, 'map_layer1', nnf.silu(_lin(P, 'map_layer0', emb)))
    if spec.get('label_dim'):
        emb = emb + nnf.linear(_labels_for(spec, labels, x_in.shape[0]), P['map_label.weight'], P.get('map_label.bias'))
    emb = nnf.silu(emb)
    x = x_in.permute(0, 3, 1, 2)
    skips = []
    for m in enc:
        x = _edm_conv(P, m['name'], x) if m['role'] == 'conv' else _edm_block(P, m['name'], m['block'], x, emb)
        skips.append(x)
    for m in dec:
        if x.shape[1] != m['block']['in']:
            x = torch.cat([x, skips.pop()], 1)
        x = _edm_block(P, m['name'], m['block'], x, emb)
    out = _edm_conv(P, 'out_conv', nnf.silu(_edm_gn(P, 'out_norm', x, 1e-5)))
    return out.permute(0, 2, 3, 1)


# ------------------------------------------------------------------------------------------------------------------
# diffusers' UNet2DModel (src/core/nets/diffusers-unet2d.ts, its module plan src/formats/diffusers-network.ts), on
# the state-dict names of diffusers. Class labels enter as one-hot rows [B, num_class_embeds] times
# class_embedding.weight (the embedding lookup as a product, as the TypeScript network does).


def diffusers_unet2d_plan(s):
    """{'proj', 'time_input', 'emb', 'down', 'mid', 'up', 'out_groups'}: stages {'layers': [(resnet, attention)],
    'sampler': None | ('conv', name, padding) | ('resnet', resnet)} (diffusers-network.ts diffusersUnet2dPlan)."""
    ch = s['block_out_channels']
    levels = len(ch)
    eps = s['norm_eps']
    scale_shift = s['resnet_time_scale_shift'] == 'scale_shift'

    def resnet(name, cin, cout, output_scale=1.0, up=False, down=False):
        return {'name': name, 'in': cin, 'out': cout, 'groups': s['norm_num_groups'], 'eps': eps, 'output_scale': output_scale,
                'up': up, 'down': down, 'scale_shift': scale_shift}

    def attention(name, c, groups, rescale=1.0):
        head_dim = s['attention_head_dim'] if s['attention_head_dim'] is not None else c
        return {'name': name, 'channels': c, 'heads': c // head_dim, 'groups': groups, 'eps': eps, 'rescale': rescale}

    down = []
    out = ch[0]
    for i in range(levels):
        cin, out = out, ch[i]
        name = f'down_blocks.{i}'
        attn = s['down_block_types'][i] == 'AttnDownBlock2D'
        layers = [(resnet(f'{name}.resnets.{j}', cin if j == 0 else out, out),
                   attention(f'{name}.attentions.{j}', out, s['norm_num_groups']) if attn else None) for j in range(s['layers_per_block'])]
        sampler = None
        if i < levels - 1:
            sampler = (('resnet', resnet(f'{name}.downsamplers.0', out, out, down=True)) if attn and s['downsample_type'] == 'resnet'
                       else ('conv', f'{name}.downsamplers.0.conv', s['downsample_padding']))
        down.append({'layers': layers, 'sampler': sampler})
    last = ch[-1]
    mid_groups = s['attn_norm_num_groups'] if s['attn_norm_num_groups'] is not None else (None if scale_shift else s['norm_num_groups'])
    f = s['mid_block_scale_factor']
    mid = None
    if s['mid_block_type'] is not None:
        mid = [(resnet('mid_block.resnets.0', last, last, f), attention('mid_block.attentions.0', last, mid_groups, f) if s['add_attention'] else None),
               (resnet('mid_block.resnets.1', last, last, f), None)]
    rev = list(reversed(ch))
    up = []
    out = rev[0]
    for i in range(levels):
        prev, out = out, rev[i]
        skip_in = rev[min(i + 1, levels - 1)]
        name = f'up_blocks.{i}'
        attn = s['up_block_types'][i] == 'AttnUpBlock2D'
        n = s['layers_per_block'] + 1
        layers = [(resnet(f'{name}.resnets.{j}', (prev if j == 0 else out) + (skip_in if j == n - 1 else out), out),
                   attention(f'{name}.attentions.{j}', out, s['norm_num_groups']) if attn else None) for j in range(n)]
        sampler = None
        if i < levels - 1:
            sampler = (('resnet', resnet(f'{name}.upsamplers.0', out, out, up=True)) if attn and s['upsample_type'] == 'resnet'
                       else ('conv', f'{name}.upsamplers.0.conv', 1))
        up.append({'layers': layers, 'sampler': sampler})
    proj = ch[0]
    return {'proj': proj, 'time_input': 2 * proj if s['time_embedding_type'] == 'fourier' else proj,
            'emb': s['time_embedding_dim'] or 4 * proj, 'down': down, 'mid': mid, 'up': up, 'out_groups': s['norm_num_groups']}


def _up2(x):
    return x.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)


def _diffusers_resnet(P, r, x, act):
    """ResnetBlock2D, NCHW; act = silu(emb)."""
    n = r['name']
    h = nnf.silu(_gn_eps(P, f'{n}.norm1', x, r['groups'], r['eps']))
    if r['up']:
        x, h = _up2(x), _up2(h)
    if r['down']:
        x, h = nnf.avg_pool2d(x, 2), nnf.avg_pool2d(h, 2)
    h = _conv(P, f'{n}.conv1', h)
    t = _lin(P, f'{n}.time_emb_proj', act)[:, :, None, None]
    if r['scale_shift']:
        scale, shift = t.chunk(2, dim=1)
        h = _gn_eps(P, f'{n}.norm2', h, r['groups'], r['eps']) * (scale + 1) + shift
    else:
        h = _gn_eps(P, f'{n}.norm2', h + t, r['groups'], r['eps'])
    h = _conv(P, f'{n}.conv2', nnf.silu(h))
    y = (_conv(P, f'{n}.conv_shortcut', x) if r['in'] != r['out'] else x) + h
    return y if r['output_scale'] == 1 else y / r['output_scale']


def _diffusers_attention(P, a, x):
    """Attention with its residual over the H W positions: heads of d channels, softmax(q (k / sqrt(d))^T) v."""
    b, c, hh, ww = x.shape
    n = a['name']
    normed = x if a['groups'] is None else _gn_eps(P, f'{n}.group_norm', x, a['groups'], a['eps'])
    flat = normed.reshape(b, c, hh * ww).transpose(1, 2)                      # [B, N, C]
    heads = a['heads']
    d = c // heads

    def split(t):
        return t.reshape(b, hh * ww, heads, d).transpose(1, 2).reshape(b * heads, hh * ww, d)
    q, k, v = (split(_lin(P, f'{n}.{p}', flat)) for p in ('to_q', 'to_k', 'to_v'))
    w = torch.softmax(torch.bmm(q, k.transpose(1, 2) / math.sqrt(d)), dim=2)
    o = torch.bmm(w, v).reshape(b, heads, hh * ww, d).transpose(1, 2).reshape(b, hh * ww, heads * d)
    y = _lin(P, f'{n}.to_out.0', o).transpose(1, 2).reshape(b, c, hh, ww) + x
    return y if a['rescale'] == 1 else y / a['rescale']


def _gn_eps(P, name, x, groups, eps):
    return nnf.group_norm(x, groups, P[f'{name}.weight'], P[f'{name}.bias'], eps=eps)


def diffusers_positional_freqs(half, shift):
    """Timesteps' frequencies in float32: exp(f32(f32(-ln 10000) k) / f32(half - shift)), the exp rounded from float64."""
    a = np.float32(-math.log(10000))
    denom = np.float32(half - shift)
    return np.array([np.float32(math.exp(float(np.float32(np.float32(a * np.float32(k)) / denom)))) for k in range(half)], dtype=np.float32)


def diffusers_unet2d_forward(spec, P, x_in, c_noise, labels=None):
    """src/core/nets/diffusers-unet2d.ts (x_in and the result NHWC)."""
    plan = diffusers_unet2d_plan(spec)
    b = x_in.shape[0]
    if spec['time_embedding_type'] == 'fourier':
        proj = torch.log(c_noise)[:, None] * P['time_proj.weight'][None, :] * 2 * math.pi
        proj = torch.cat([torch.sin(proj), torch.cos(proj)], 1)
    else:
        half = plan['proj'] // 2
        freqs = torch.from_numpy(diffusers_positional_freqs(half, spec['freq_shift'])).to(device=c_noise.device, dtype=c_noise.dtype)
        args = c_noise[:, None] * freqs[None, :]
        proj = torch.cat([torch.cos(args), torch.sin(args)] if spec['flip_sin_to_cos'] else [torch.sin(args), torch.cos(args)], 1)
        if plan['proj'] % 2 == 1:
            proj = nnf.pad(proj, (0, 1))
    emb = _lin(P, 'time_embedding.linear_2', nnf.silu(_lin(P, 'time_embedding.linear_1', proj)))
    if spec.get('num_class_embeds'):
        emb = emb + torch.matmul(_labels_for({**spec, 'label_dim': spec['num_class_embeds']}, labels, b), P['class_embedding.weight'])
    act = nnf.silu(emb)
    x = x_in.permute(0, 3, 1, 2)
    if spec['center_input_sample']:
        x = x * 2 - 1
    x = _conv(P, 'conv_in', x)
    skips = [x]

    def layer(pair, h):
        h = _diffusers_resnet(P, pair[0], h, act)
        return h if pair[1] is None else _diffusers_attention(P, pair[1], h)
    for st in plan['down']:
        for pair in st['layers']:
            x = layer(pair, x)
            skips.append(x)
        smp = st['sampler']
        if smp is not None:
            if smp[0] == 'conv':
                w = P[f'{smp[1]}.weight']
                x = nnf.conv2d(nnf.pad(x, (smp[2], 1, smp[2], 1)), w, P[f'{smp[1]}.bias'], stride=2)
            else:
                x = _diffusers_resnet(P, smp[1], x, act)
            skips.append(x)
    for pair in plan['mid'] or []:
        x = layer(pair, x)
    for st in plan['up']:
        for pair in st['layers']:
            x = layer(pair, torch.cat([x, skips.pop()], 1))
        smp = st['sampler']
        if smp is not None:
            x = _conv(P, smp[1], _up2(x)) if smp[0] == 'conv' else _diffusers_resnet(P, smp[1], x, act)
    y = _conv(P, 'conv_out', nnf.silu(_gn_eps(P, 'conv_norm_out', x, plan['out_groups'], spec['norm_eps'])))
    if spec['time_embedding_type'] == 'fourier':
        y = y / c_noise[:, None, None, None]
    return y.permute(0, 2, 3, 1)


# ------------------------------------------------------------------------------------------------------------------
# The analytic teacher (src/core/teachers/gaussian-mixture.ts): D(x, t) = sum_k r_k (mu_k + s_k^2 / (s_k^2 + t^2)
# (x - mu_k)), r_k proportional to w_k N(x; mu_k, (s_k^2 + t^2) I), in float32 as the TypeScript tensors.


def mixture_denoiser(spec, device, dtype=torch.float32):
    total = sum(spec['weights'])
    log_w = torch.tensor([math.log(w / total) if w > 0 else -math.inf for w in spec['weights']], dtype=dtype, device=device)
    means = torch.tensor(spec['means'], dtype=dtype, device=device)                     # [K, D]
    variances = torch.tensor([s * s for s in spec['stds']], dtype=dtype, device=device)  # [K]
    dim = means.shape[1]

    def D(x, sigma, labels=None):
        b = x.shape[0]
        flat = x.reshape(b, dim)
        var_t = variances[None, :] + (sigma * sigma)[:, None]                            # [B, K]
        sq = (flat[:, None, :] - means[None, :, :]).square().sum(2)                      # [B, K]
        log_lik = (log_w[None, :] + torch.log(var_t) * (-dim / 2)) - sq / (var_t * 2)
        r = torch.softmax(log_lik, 1)
        shrink = variances[None, :] / var_t
        return (torch.matmul(r * (1 - shrink), means) + (r * shrink).sum(1, keepdim=True) * flat).reshape(x.shape)
    return D


NETWORKS = {'mlp': mlp_forward, 'unet': unet_forward, 'edm-songunet': edm_songunet_forward,
            'edm-dhariwalunet': edm_dhariwalunet_forward, 'diffusers-unet2d': diffusers_unet2d_forward}
LABELLED = ('edm-songunet', 'edm-dhariwalunet', 'diffusers-unet2d')


def network_fn(spec):
    kind = spec['type']
    if kind not in NETWORKS:
        raise SystemExit(f"torch/train.py: network type '{kind}' is not written here yet ({', '.join(NETWORKS)} are)")
    fwd = NETWORKS[kind]
    if kind in LABELLED:
        return lambda P, x, c, labels=None: fwd(spec, P, x, c, labels)
    return lambda P, x, c, labels=None: fwd(spec, P, x, c)


# ------------------------------------------------------------------------------------------------------------------
# The PID loss


def pid_loss(F, P, teacher, precond, edm, loss, z, t, t_next, dtype=torch.float32, labels=None):
    """The mean PID loss of the rows of one batch (src/core/pid.ts pidLossOfStudent), differentiable in P.

    z [b, ...] float32 on the device; t, t_next: float64 host lists. What depends only on the batch is computed in
    float64 and rounded to float32, as the TypeScript engine uploads it. `teacher(y, t)` is D(y, t), untaped.
    Returns the per-sample losses [b] (the caller weights and sums them). dtype=torch.float64 (with P, z and the
    teacher in float64) gives the same loss without float32's round-off, for tests to measure it against. `labels`:
    one-hot class labels [b, label_dim] of a class-conditional teacher, given to the teacher and (tiled over the 2b
    rows) to the student (pid.ts networkWithLabels)."""
    dev = z.device
    b = z.shape[0]
    T = edm['sigma_max']
    c_in = precond.c_in_at(T)
    times = list(t) + list(t_next)
    a64 = torch.tensor([tj / T for tj in times], dtype=torch.float64, device=dev)
    z2 = torch.cat([z, z]).double()
    x_in = (z2 * c_in).to(dtype)
    az = (per_sample(a64, z.dim()) * z2).to(dtype)
    one_minus_a = per_sample(torch.tensor([1 - tj / T for tj in times], dtype=dtype, device=dev), z.dim())
    tB = per_sample(torch.tensor(list(t), dtype=dtype, device=dev), z.dim())
    gap = per_sample(torch.tensor([ti - tn for ti, tn in zip(t, t_next)], dtype=dtype, device=dev), z.dim())
    c_noise = precond.c_noise(torch.tensor(times, dtype=dtype, device=dev))
    f = F(P, x_in, c_noise, None if labels is None else torch.cat([labels, labels]))
    x = az + one_minus_a * f
    y, y_next = x[:b], x[b:]
    with torch.no_grad():
        d = teacher(y.detach(), torch.tensor(list(t), dtype=dtype, device=dev), labels)
    r = (y - tB * ((y - y_next) / gap) - d).reshape(b, -1)
    if loss == 'l2':
        return r.square().mean(1)
    if loss == 'l1':
        return r.abs().mean(1)
    c = 0.00054 * math.sqrt(r.shape[1])
    return torch.sqrt(r.square().sum(1) + c * c) - c


def denoiser(F, P, precond):
    """D(x, sigma) = c_skip x + c_out F(c_in x, c_noise) (src/core/edm.ts preconditionedDenoiser)."""
    def D(x, sigma, labels=None):
        c_skip, c_out, c_in, c_noise = precond.tensors(sigma)
        r = x.dim()
        return x * per_sample(c_skip, r) + F(P, x * per_sample(c_in, r), c_noise, labels) * per_sample(c_out, r)
    return D


# ------------------------------------------------------------------------------------------------------------------
# Optimiser and EMA (src/core/optim.ts)


def radam_rectifier(t, beta2):
    rho_inf = 2 / (1 - beta2) - 1
    b2t = beta2 ** t
    rho_t = rho_inf - (2 * t * b2t) / (1 - b2t)
    if rho_t <= 5:
        return None
    return math.sqrt(((rho_t - 4) * (rho_t - 2) * rho_inf) / ((rho_inf - 4) * (rho_inf - 2) * rho_t))


def update_factors(kind, t, lr, b1=0.9, b2=0.999):
    """The scalars of update number t (1-based): m' = b1 m + c1 g, v' = b2 v + c2 g^2,
    p' = p - (s1 m' / (s2 sqrt(v') + eps) + s3 m')."""
    bc1 = 1 - b1 ** t
    bc2 = 1 - b2 ** t
    base = {'b1': b1, 'c1': 1 - b1, 'b2': b2, 'c2': 1 - b2}
    if kind == 'adam':
        return {**base, 's1': lr / bc1, 's2': 1 / math.sqrt(bc2), 's3': 0.0}
    rect = radam_rectifier(t, b2)
    if rect is None:
        return {**base, 's1': 0.0, 's2': 1.0, 's3': lr / bc1}
    return {**base, 's1': lr * rect * math.sqrt(bc2) / bc1, 's2': 1.0, 's3': 0.0}


def apply_update(p, m, v, g, f, eps=1e-8):
    """In place, on flat float32 vectors, in the order optim.ts updateFlat computes."""
    m.mul_(f['b1']).add_(g * f['c1'])
    v.mul_(f['b2']).add_(g.square() * f['c2'])
    step = None
    if f['s1'] != 0:
        root = torch.sqrt(v) * f['s2'] if f['s2'] != 1 else torch.sqrt(v)
        step = (m / (root + eps)) * f['s1']
    if f['s3'] != 0:
        mom = m * f['s3']
        step = mom if step is None else step + mom
    if step is not None:
        p.sub_(step)


def ema_rate(rate, n):
    return min(rate, (1 + n) / (10 + n))


def exponential_lr(step, steps, lr, lr_final):
    return lr if steps <= 1 else lr * (lr_final / lr) ** ((step - 1) / (steps - 1))
