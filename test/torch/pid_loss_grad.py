"""The PID loss and its gradient in PyTorch (torch/pid_torch.py, what torch/train.py trains with) on one fixed batch,
for test/core/pid-torch.test.ts to hold against the TypeScript engine's (src/core/pid.ts pidLossOfStudent).
usage: pid_loss_grad.py TEACHER.safetensors BATCH.safetensors OUT.json [STUDENT.safetensors]
The batch file: F32 tensors z [B, ...data.shape] (noise times sigma_max), n and n_next [B] (grid indices), labels
[B, label_dim] (one-hot, for a class-conditional teacher), and __metadata__ {"N", "loss"}. The student is the
teacher's network at the teacher's weights, or STUDENT's network (__metadata__.pid_studio_network, as
student-init.safetensors) at its weights (for an analytic teacher). OUT.json: {"loss", "grad":
{name: flat list}} (the trained tensors: not EDM's fixed buffers), and "loss64", "grad64": the same in float64 (the
float32 values' own round-off, for the test's tolerance)."""
import json
import os
import sys

import torch

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'torch'))
from pid_torch import Precond, denoiser, buffer_names, karras_sigmas, mixture_denoiser, network_fn, pid_loss, read_safetensors  # noqa: E402

torch.set_num_threads(1)


def main(teacher_path, batch_path, out_path, student_path=None):
    weights, meta = read_safetensors(teacher_path)
    config = json.loads(meta['pid_studio'])
    tnet = config['network']
    if student_path:
        sweights, smeta = read_safetensors(student_path)
        snet = json.loads(smeta['pid_studio_network'])
    else:
        sweights, snet = weights, tnet
    batch, bmeta = read_safetensors(batch_path)
    N, loss = int(bmeta['N']), bmeta['loss']
    edm = config['edm']
    grid = karras_sigmas(N, edm['sigma_min'], edm['sigma_max'], edm['rho'])
    precond = Precond(config)
    F = network_fn(snet)
    fixed = set(buffer_names(snet, sweights))
    t = [grid[int(i)] for i in batch['n']]
    tn = [grid[int(i)] for i in batch['n_next']]

    def run(dtype):
        if tnet['type'] == 'gaussian-mixture':
            teacher = mixture_denoiser(tnet, 'cpu', dtype)
        else:
            teacher = denoiser(network_fn(tnet), {k: torch.from_numpy(v.copy()).to(dtype) for k, v in weights.items()}, precond)
        P = {k: torch.from_numpy(v.copy()).to(dtype).requires_grad_(k not in fixed) for k, v in sweights.items()}
        labels = torch.from_numpy(batch['labels'].copy()).to(dtype) if 'labels' in batch else None
        value = pid_loss(F, P, teacher, precond, edm, loss, torch.from_numpy(batch['z'].copy()).to(dtype), t, tn, dtype=dtype, labels=labels).mean()
        value.backward()
        return value.item(), {k: p.grad.reshape(-1).tolist() for k, p in P.items() if k not in fixed}

    loss32, grad32 = run(torch.float32)
    loss64, grad64 = run(torch.float64)
    with open(out_path, 'w') as f:
        json.dump({'loss': loss32, 'grad': grad32, 'loss64': loss64, 'grad64': grad64}, f)


if __name__ == '__main__':
    main(*sys.argv[1:5])
