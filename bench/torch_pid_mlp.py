"""PyTorch's CPU PID step of the `mlp` network type, the reference point of `npm run bench` (bench/bench.ts runs it).

The same step as src/core/pid.ts on the same teacher file: the student starts from the teacher's weights,
x(z, t) = (t/T) z + (1 - t/T) F(c_in(T) z, c_noise(t)) with EDM's preconditioning, one student call over the
concatenated (t, t') batch, the l2 PID loss against the teacher D(stopgrad(y), t), RAdam (torch.optim.RAdam, no
weight decay), the EMA with warm-up min(rate, (1 + n) / (10 + n)), the gradient norm, and the loss and the norm read
as Python floats every step for the finiteness check. One thread: torch.set_num_threads(1).

usage: python3 bench/torch_pid_mlp.py TEACHER.safetensors BATCH STEPS  ->  one JSON line
"""
import json
import math
import struct
import sys
import torch

from torch_pid_common import grid_pairs, karras, report, update


def read_safetensors(path):
    with open(path, 'rb') as f:
        raw = f.read()
    n = struct.unpack('<Q', raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    meta = json.loads(header.pop('__metadata__')['pid_studio'])
    tensors = {}
    for name, h in header.items():
        if h['dtype'] != 'F32':
            raise SystemExit(f'{path}: tensor {name} is {h["dtype"]}, expected F32')
        a, b = h['data_offsets']
        data = torch.frombuffer(bytearray(raw[8 + n + a:8 + n + b]), dtype=torch.float32)
        tensors[name] = data.reshape(h['shape']).clone()
    return meta, tensors


class Mlp(torch.nn.Module):
    """src/core/nets/mlp.ts: Fourier embedding of c_noise, two-layer map, residual blocks, output layer."""

    def __init__(self, spec, dim, weights):
        super().__init__()
        self.spec = spec
        h, e = spec['hidden'], spec['emb_dim']
        layers = {'map_layer0': (h, e), 'map_layer1': (h, h), 'input': (h, dim), 'out': (dim, h)}
        for i in range(spec['blocks']):
            for part in ('fc0', 'emb', 'fc1'):
                layers[f'blocks.{i}.{part}'] = (h, h)
        self.layers = torch.nn.ModuleDict({k.replace('.', '_'): torch.nn.Linear(i, o) for k, (o, i) in layers.items()})
        with torch.no_grad():
            for k in layers:
                self.layers[k.replace('.', '_')].weight.copy_(weights[f'{k}.weight'])
                self.layers[k.replace('.', '_')].bias.copy_(weights[f'{k}.bias'])
        half = e // 2
        freqs = [2 * math.pi * spec['emb_max_freq'] ** (k / (half - 1) if half > 1 else 0) for k in range(half)]
        self.register_buffer('freqs', torch.tensor(freqs, dtype=torch.float32))

    def lin(self, name, x):
        return self.layers[name.replace('.', '_')](x)

    def forward(self, x, c_noise):
        silu = torch.nn.functional.silu
        args = c_noise[:, None] * self.freqs[None, :]
        emb = torch.cat([torch.cos(args), torch.sin(args)], 1)
        e = silu(self.lin('map_layer1', silu(self.lin('map_layer0', emb))))
        h = self.lin('input', x)
        for i in range(self.spec['blocks']):
            inner = self.lin(f'blocks.{i}.fc0', silu(h)) + self.lin(f'blocks.{i}.emb', e)
            h = h + self.lin(f'blocks.{i}.fc1', silu(inner))
        return self.lin('out', silu(h))


def main():
    path, batch, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(1)
    torch.manual_seed(0)
    meta, weights = read_safetensors(path)
    edm, spec, dim = meta['edm'], meta['network'], meta['data']['shape'][0]
    sd, T = edm['sigma_data'], edm['sigma_max']
    teacher = Mlp(spec, dim, weights).requires_grad_(False)
    student = Mlp(spec, dim, weights)
    params = list(student.parameters())
    ema = [p.detach().clone() for p in params]
    opt = torch.optim.RAdam(params, lr=2e-4)
    grid = torch.tensor(karras(250, edm['sigma_min'], T, edm['rho']), dtype=torch.float32)
    c_in_T = 1 / math.sqrt(sd * sd + T * T)
    updates = 0

    def step():
        nonlocal updates
        t, t_next = grid_pairs(grid, batch)
        z = torch.randn(batch, dim) * T
        tt = torch.cat([t, t_next])
        a = (tt / T)[:, None]
        f = student(torch.cat([z, z]) * c_in_T, torch.log(tt) / 4)
        x = a * torch.cat([z, z]) + (1 - a) * f
        y, y_next = x[:batch], x[batch:]
        with torch.no_grad():
            s = t[:, None]
            yd = y.detach()
            d = sd * sd / (s * s + sd * sd) * yd + s * sd / torch.sqrt(s * s + sd * sd) * teacher(yd / torch.sqrt(s * s + sd * sd), torch.log(t) / 4)
        residual = y - s * (y - y_next) / (s - t_next[:, None]) - d
        loss = residual.square().mean(1).mean()
        updates = update(loss, params, opt, ema, updates)

    report(step, 5, steps)


if __name__ == '__main__':
    main()
