"""PyTorch's CPU PID step of EDM's SongUNet, the reference point of `npm run bench` for image students (bench.ts).

The same step as bench/torch_pid_mlp.py (EDM preconditioning, the student initialised from the teacher, one student
call over the concatenated (t, t') batch, the l2 PID loss against the teacher D(stopgrad(y), t), RAdam, EMA with
warm-up, the gradient norm and the loss read every step), on the project's functional SongUNet written from the
architecture description (test/torch/edm_reference.py, checked against the TypeScript port), NCHW. One thread.

usage: python3 bench/torch_pid_songunet.py TEACHER.pt ARGS_JSON BATCH STEPS  ->  one JSON line
  TEACHER.pt: EDMPrecond's state dict ("model." keys); ARGS_JSON: the network's options (edm-networks.ts names)
"""
import json
import math
import os
import sys

import torch

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'torch'))
from edm_reference import song_unet  # noqa: E402
from torch_pid_common import grid_pairs, karras, report, update  # noqa: E402

torch.set_grad_enabled(True)  # the reference module turns it off for its own use


def main():
    path, args, batch, steps = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    torch.set_num_threads(1)
    torch.manual_seed(0)
    state = torch.load(path, map_location='cpu')
    weights = {k[len('model.'):]: v.float() for k, v in state.items()}
    teacher = {k: v.clone() for k, v in weights.items()}
    buffers = {k for k in weights if k.endswith('resample_filter') or k.endswith('freqs')}
    student = {k: (v.clone() if k in buffers else v.clone().requires_grad_(True)) for k, v in weights.items()}
    params = [v for k, v in student.items() if k not in buffers]
    ema = [p.detach().clone() for p in params]
    opt = torch.optim.RAdam(params, lr=2e-4)
    sd, T = 0.5, 80.0
    grid = torch.tensor(karras(250, 0.002, T, 7), dtype=torch.float32)
    c_in_T = 1 / math.sqrt(sd * sd + T * T)
    R, C = args['img_resolution'], args['in_channels']
    updates = 0

    def step():
        nonlocal updates
        t, t_next = grid_pairs(grid, batch)
        z = torch.randn(batch, C, R, R) * T
        tt = torch.cat([t, t_next])
        a = (tt / T)[:, None, None, None]
        f = song_unet(student, args, torch.cat([z, z]) * c_in_T, torch.log(tt) / 4, None)
        x = a * torch.cat([z, z]) + (1 - a) * f
        y, y_next = x[:batch], x[batch:]
        with torch.no_grad():
            s = t[:, None, None, None]
            yd = y.detach()
            d = sd * sd / (s * s + sd * sd) * yd + s * sd / torch.sqrt(s * s + sd * sd) * song_unet(teacher, args, yd / torch.sqrt(s * s + sd * sd), torch.log(t) / 4, None)
        residual = y - s * (y - y_next) / (s - t_next[:, None, None, None]) - d
        loss = residual.square().mean()
        updates = update(loss, params, opt, ema, updates)

    report(step, 2, steps)


if __name__ == '__main__':
    main()
