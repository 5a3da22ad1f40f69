"""PID distillation of a run exported by `pid-studio export-run`, in PyTorch, on one process or many (torchrun).

usage: torchrun --nproc_per_node=K torch/train.py <folder> --out <student.safetensors> [--device cuda|cpu]
                [--checkpoint FILE [--checkpoint-every S] [--resume]] [--log metrics.jsonl] [--max-steps K]
       python torch/train.py <folder> --out <student.safetensors> ...        (one process)

The same step as pid-studio's TypeScript engine (src/core/pid.ts): per step the global batch of run.json's settings
is split across the processes (rank r takes batch // K rows, one more when r < batch % K; micro-batches of
run.json's microBatch rows where given), each process draws its rows from its own noise stream (a torch.Generator
seeded from the run's seed and the rank), computes the PID loss of its rows (their sum / batch); PyTorch's
DistributedDataParallel sums the gradients over the processes (a comm hook that sums instead of averaging; no_sync
for every micro-batch but the last; gloo on CPUs, nccl on GPUs) and the loss takes one all-reduce. Then, the
same on every process: the finiteness guard (a step whose loss or gradient norm is not finite changes nothing; 3 in
a row restore the last snapshot, taken every 50 good steps, at half the learning rate; 3 restores end the run),
RAdam or Adam with the exponential lr schedule, the EMA with warm-up. Rank 0 writes the checkpoints (through a
rename) and, at the end, the student as a pid-studio student file (the teacher's config, a `pid` section, the EMA
weights) that `pid-studio sample`, `eval` and the studio open. Only torch and numpy (PyTorch >= 1.13).
"""
import argparse
import base64
import contextlib
import datetime
import hashlib
import json
import math
import os
import sys
import time
import warnings

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

sys.dont_write_bytecode = True
# DDP's reducer warns once per process when a gradient's strides differ from its bucket's (a conv weight with a channel
# dimension of size 1 has ambiguous strides); the copy it makes instead costs nothing that matters here
warnings.filterwarnings('ignore', message='Grad strides do not match bucket view strides')
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pid_torch import (  # noqa: E402
    Precond, apply_update, buffer_names, denoiser, ema_rate, exponential_lr, karras_sigmas, mixture_denoiser, network_fn,
    pid_loss, read_safetensors, safetensors_bytes, update_factors,
)

RUN_FORMAT = 'pid-studio-run/1'
CHECKPOINT_FORMAT = 'pid-studio-torch-checkpoint/1'
CONSECUTIVE_BEFORE_RESTORE = 3
MAX_RESTORES = 3
SNAPSHOT_EVERY = 50


class Refused(Exception):
    """Bad input: one line on stderr, exit code 2."""


def parse_args(argv):
    p = argparse.ArgumentParser(prog='torch/train.py', description='PID distillation of a pid-studio run folder (export-run)')
    p.add_argument('folder', help='the folder export-run wrote (run.json, teacher.safetensors)')
    p.add_argument('--out', required=True, help='where the student goes, a .safetensors file')
    p.add_argument('--device', choices=['cuda', 'cpu'], help='default: cuda when there is one')
    p.add_argument('--checkpoint', help='save the training state here (through a rename) every --checkpoint-every seconds and at the end')
    p.add_argument('--checkpoint-every', type=float, default=60.0, help='seconds between checkpoints; default 60')
    p.add_argument('--resume', action='store_true', help='continue the run saved in --checkpoint')
    p.add_argument('--log', help='metrics.jsonl: one JSON line per step')
    p.add_argument('--max-steps', type=int, help='take at most this many steps in this invocation (then checkpoint and write the student)')
    a = p.parse_args(argv)
    if a.resume and not a.checkpoint:
        raise Refused('--resume needs --checkpoint <file> (the file to resume from)')
    if not a.checkpoint_every > 0:
        raise Refused('--checkpoint-every must be a positive number of seconds')
    if a.max_steps is not None and a.max_steps < 1:
        raise Refused('--max-steps must be at least 1')
    return a


def read_run(folder):
    path = os.path.join(folder, 'run.json')
    try:
        with open(path) as f:
            run = json.load(f)
    except (OSError, ValueError) as e:
        raise Refused(f'{path}: cannot be read as JSON ({e}); give the folder pid-studio export-run wrote')
    if run.get('format') != RUN_FORMAT:
        raise Refused(f"{path}: format is {run.get('format')!r}, expected {RUN_FORMAT!r}")
    teacher_path = os.path.join(folder, run['teacher']['file'])
    with open(teacher_path, 'rb') as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    if digest != run['teacher']['fileSha256']:
        raise Refused(f'{teacher_path}: sha256 {digest} is not the one run.json records; export the run again')
    return run


def to_device(tensors, names, device):
    return {n: torch.from_numpy(np.ascontiguousarray(tensors[n])).to(device) for n in names}


class Trainer:
    def __init__(self, run, folder, device, rank, world):
        self.run, self.device, self.rank, self.world = run, device, rank, world
        s = self.settings = run['settings']
        tcfg = self.teacher_config = run['teacher']['config']
        # a class-conditional teacher: each row's class drawn uniformly, one-hot, given to teacher and student (pid.ts)
        self.label_dim = tcfg['data'].get('label_dim') or 0
        self.edm = tcfg['edm']
        self.precond = Precond(tcfg)
        self.shape = tcfg['data']['shape']
        weights, _ = read_safetensors(os.path.join(folder, run['teacher']['file']))
        tnet = tcfg['network']
        if tnet['type'] == 'gaussian-mixture':  # analytic: the exact denoiser, no tensors
            self.teacher = mixture_denoiser(tnet, device)
        else:
            self.teacher = denoiser(network_fn(tnet), to_device(weights, sorted(weights), device), self.precond)
        self.spec = run['student']['network']
        self.F = network_fn(self.spec)
        init = weights if run['student']['fromTeacher'] else read_safetensors(os.path.join(folder, run['student']['init']))[0]
        # EDM's fixed buffers (resample filters, Fourier frequencies) are not trained: not in the flat vector, the same
        # tensors in every forward and in the student file
        fixed = set(buffer_names(self.spec, init))
        self.fixed = to_device(init, sorted(fixed), device)
        self.names = sorted(n for n in init if n not in fixed)
        self.shapes = [list(init[n].shape) for n in self.names]
        self.sizes = [int(np.prod(sh)) if sh else 1 for sh in self.shapes]
        self.p = torch.cat([torch.from_numpy(np.ascontiguousarray(init[n])).reshape(-1) for n in self.names]).to(device)
        self.m = torch.zeros_like(self.p)
        self.v = torch.zeros_like(self.p)
        self.ema = self.p.clone() if s['ema'] > 0 else None
        self.grid = karras_sigmas(s['N'], self.edm['sigma_min'], self.edm['sigma_max'], self.edm['rho'])
        # this rank's rows of the global batch, and its noise stream
        b = s['batch']
        if b < world:
            raise Refused(f'the batch ({b}) is smaller than the number of processes ({world}): every process needs at least one row')
        self.rows = b // world + (1 if rank < b % world else 0)
        self.micro = run.get('microBatch') or max(1, self.rows)
        self.gen = torch.Generator().manual_seed((s['seed'] * 1000003 + rank * 7919 + 12345) % (2 ** 63))
        self.step = self.optimizer_step = self.ema_updates = 0
        self.lr_factor = 1.0
        self.skipped = self.restores = self.faults = 0
        self.student = StudentLoss(self)
        self.ddp = None
        self.module_call = self.student
        if world > 1:
            # PyTorch DDP over the parameters the loss reaches (views of the flat vector p), their gradients summed
            # (not averaged: each rank's loss is already its rows' share of the global batch's mean)
            self.ddp = DDP(self.student, device_ids=[device.index] if device.type == 'cuda' else None, broadcast_buffers=False)
            self.ddp.register_comm_hook(None, _sum_hook)
            self.module_call = self.ddp
            # DDP lays its buckets out anew in the order the gradients became ready in its first backward pass. That
            # order sets where a tensor sits in the all-reduced buffers, and with more than 2 processes the position
            # sets the order of the sum: one throwaway iteration here, before any step, gives every step of a run,
            # resumed or not, the same buckets, so a resumed run stays bit for bit the uninterrupted one
            self.ddp(*self.student.probe).backward()
            for w in self.student.weights:
                w.grad = None
        self.take_snapshot()

    # -- the trained parameters as views of the flat vector
    def params(self, flat):
        out, o = {}, 0
        for n, sh, k in zip(self.names, self.shapes, self.sizes):
            out[n] = flat[o:o + k].view(sh)
            o += k
        return out

    def draw(self):
        """This rank's rows: z ~ N(0, T^2 I), grid pairs (n, n + 1 | N - 2 at the end), as pid.ts drawGridPairs, and
        for a class-conditional teacher one-hot labels of uniformly drawn classes (else None)."""
        N = self.settings['N']
        z = torch.randn([self.rows] + self.shape, generator=self.gen) * self.edm['sigma_max']
        n = torch.randint(0, N, (self.rows,), generator=self.gen)
        n_next = torch.where(n == N - 1, torch.full_like(n, N - 2), n + 1)
        labels = None
        if self.label_dim:
            classes = torch.randint(0, self.label_dim, (self.rows,), generator=self.gen)
            labels = torch.nn.functional.one_hot(classes, self.label_dim).float().to(self.device)
        return z.to(self.device), [self.grid[i] for i in n.tolist()], [self.grid[i] for i in n_next.tolist()], labels

    def loss_and_gradient(self):
        """The global batch's mean loss and flat gradient, summed over the ranks: each micro-batch's loss sum / batch
        is back-propagated into the parameters (views of the flat vector); DistributedDataParallel sums the
        gradients over the ranks in the backward pass of the last micro-batch (no_sync before it), the loss takes
        one all-reduce of its own."""
        z, t, tn, labels = self.draw()
        total = torch.zeros((), device=self.device)
        spans = [(a, min(self.rows, a + self.micro)) for a in range(0, self.rows, self.micro)]
        for i, (a, e) in enumerate(spans):
            with (self.ddp.no_sync() if self.ddp is not None and i < len(spans) - 1 else contextlib.nullcontext()):
                part = self.module_call(z[a:e], t[a:e], tn[a:e], None if labels is None else labels[a:e])
                part.backward()
            total = total + part.detach()
        grads = {n: w.grad for n, w in zip(self.student.reached, self.student.weights)}
        g = torch.cat([grads[n].reshape(-1) if grads.get(n) is not None else torch.zeros(k, device=self.device)
                       for n, k in zip(self.names, self.sizes)])
        for w in self.student.weights:
            w.grad = None
        if self.world > 1:
            dist.all_reduce(total)
        return total, g

    def lr_at(self, step):
        s = self.settings
        return exponential_lr(step, s['steps'], s['lr'], s['lrFinal'])

    def train_step(self):
        start = time.perf_counter()
        loss_t, g = self.loss_and_gradient()
        norm_t = torch.sqrt(torch.sum(g.square()))
        loss, norm = float(loss_t), float(norm_t)
        lr = self.lr_at(self.step + 1) * self.lr_factor
        if math.isfinite(loss) and math.isfinite(norm):
            f = update_factors(self.settings['optimizer'], self.optimizer_step + 1, lr)
            apply_update(self.p, self.m, self.v, g, f)
            if self.ema is not None:
                r = ema_rate(self.settings['ema'], self.ema_updates)
                self.ema.mul_(r).add_(self.p * (1 - r))
                self.ema_updates += 1
            self.step += 1
            self.optimizer_step += 1
            self.faults = 0
            if self.step % SNAPSHOT_EVERY == 0:
                self.take_snapshot()
            skipped = False
        else:
            skipped = True
            self.skipped += 1
            self.faults += 1
            if self.faults >= CONSECUTIVE_BEFORE_RESTORE:
                if self.restores >= MAX_RESTORES:
                    raise RuntimeError(f'training diverged: loss {loss}, gradient norm {norm} at step {self.step + 1} after {self.restores} restores at ever lower learning rates; lower the learning rate or check the teacher')
                self.restore_snapshot()
                self.restores += 1
                self.lr_factor /= 2
                self.faults = 0
        ms = (time.perf_counter() - start) * 1000
        return {'step': self.step, 'loss': loss, 'gradNorm': norm, 'stepMs': ms, 'skipped': skipped, 'lr': lr}

    def take_snapshot(self):
        self.snapshot = (self.step, self.optimizer_step, self.ema_updates, self.p.clone(), self.m.clone(), self.v.clone(),
                         None if self.ema is None else self.ema.clone())

    def restore_snapshot(self):
        step, ostep, eu, p, m, v, ema = self.snapshot
        self.step, self.optimizer_step, self.ema_updates = step, ostep, eu
        self.p.copy_(p)
        self.m.copy_(m)
        self.v.copy_(v)
        if ema is not None:
            self.ema.copy_(ema)

    # -- checkpoints
    def identity(self):
        """What a checkpoint must agree with to continue this run."""
        return {'teacher': {'name': self.run['teacher']['name'], 'sha256': self.run['teacher']['sha256']},
                'network': self.spec, 'settings': self.settings, 'microBatch': self.run.get('microBatch'), 'worldSize': self.world}

    def rng_states(self):
        mine = base64.b64encode(self.gen.get_state().numpy().tobytes()).decode('ascii')
        if self.world == 1:
            return [mine]
        out = [None] * self.world
        dist.all_gather_object(out, mine)
        return out

    def checkpoint_bytes(self):
        rng = self.rng_states()  # every rank takes part
        if self.rank != 0:
            return None
        tensors = {}
        for prefix, flat in (('student/', self.p), ('adam_m/', self.m), ('adam_v/', self.v), ('ema/', self.ema)):
            if flat is None:
                continue
            for n, view in self.params(flat.detach().cpu()).items():
                tensors[prefix + n] = view.numpy()
        info = {'format': CHECKPOINT_FORMAT, **self.identity(), 'state': {
            'step': self.step, 'optimizerStep': self.optimizer_step, 'emaUpdates': self.ema_updates, 'lrFactor': self.lr_factor,
            'skippedSteps': self.skipped, 'restores': self.restores, 'rng': rng},
            'savedAt': datetime.datetime.now(datetime.timezone.utc).isoformat()}
        return safetensors_bytes(tensors, {'pid_studio_torch_checkpoint': json.dumps(info)})

    def load_checkpoint(self, path):
        try:
            tensors, meta = read_safetensors(path)
            info = json.loads(meta['pid_studio_torch_checkpoint'])
        except (OSError, ValueError, KeyError) as e:
            raise Refused(f'{path}: not a torch/train.py checkpoint ({e}); give the file written by --checkpoint')
        if info.get('format') != CHECKPOINT_FORMAT:
            raise Refused(f"{path}: format {info.get('format')!r}, expected {CHECKPOINT_FORMAT!r}")
        mine = self.identity()
        for key, what in (('teacher', 'another teacher'), ('network', 'another student network'), ('settings', 'other settings'),
                          ('microBatch', 'another micro-batch'), ('worldSize', 'another number of processes')):
            if json.dumps(info.get(key), sort_keys=True) != json.dumps(mine[key], sort_keys=True):
                raise Refused(f'{path}: the checkpoint belongs to {what} ({key} {json.dumps(info.get(key))}, this run {json.dumps(mine[key])}); '
                              'resume with the same run folder and process count, or start again without --resume')
        st = info['state']
        for prefix, flat in (('student/', self.p), ('adam_m/', self.m), ('adam_v/', self.v), ('ema/', self.ema)):
            if flat is None:
                continue
            flat.copy_(torch.cat([torch.from_numpy(np.ascontiguousarray(tensors[prefix + n])).reshape(-1) for n in self.names]).to(self.device))
        self.step, self.optimizer_step, self.ema_updates = st['step'], st['optimizerStep'], st['emaUpdates']
        self.lr_factor, self.skipped, self.restores, self.faults = st['lrFactor'], st['skippedSteps'], st['restores'], 0
        state = np.frombuffer(base64.b64decode(st['rng'][self.rank]), dtype=np.uint8).copy()
        self.gen.set_state(torch.from_numpy(state))
        self.take_snapshot()

    # -- the student file
    def student_bytes(self):
        s = self.settings
        t = self.teacher_config
        pid = {'N': s['N'], 'loss': s['loss'], 'optimizer': s['optimizer'], 'lr': s['lr'], 'batch': s['batch'], 'steps': self.step,
               'ema': s['ema'], 'seed': s['seed']}
        if s['lrFinal'] != s['lr']:
            pid['lr_final'] = s['lrFinal']
        same = json.dumps(self.spec, sort_keys=True) == json.dumps(t['network'], sort_keys=True)
        config = {'format': 'pid-studio/1', 'role': 'student', 'name': self.run['student'].get('name') or f"{t['name']} (PID student)",
                  'data': t['data'], 'edm': t['edm'], 'network': self.spec}
        if t.get('precond'):
            config['precond'] = t['precond']
        if t.get('pytorch') and same:
            config['pytorch'] = t['pytorch']
        config['student'] = {'parametrization': 'pid', 'teacher': {'name': t['name'], 'sha256': self.run['teacher']['sha256']}, 'pid': pid}
        weights = (self.ema if self.ema is not None else self.p).detach().cpu()
        if not bool(torch.isfinite(weights).all()):
            raise RuntimeError('a student weight is not finite: the run diverged, nothing was written')
        tensors = {n: v.numpy() for n, v in self.params(weights).items()}
        tensors.update({n: v.detach().cpu().numpy() for n, v in self.fixed.items()})
        return safetensors_bytes(tensors, {'pid_studio': json.dumps(config)})


def _sum_hook(_state, bucket):
    """DDP's gradient all-reduce as a sum (its default averages over the ranks)."""
    return dist.all_reduce(bucket.buffer(), async_op=True).get_future().then(lambda f: f.value()[0])


class StudentLoss(torch.nn.Module):
    """The module DDP wraps: the student's trained tensors as parameters (views of the trainer's flat vector p, so the
    optimiser's in-place update of p is the parameters' update), and as forward the PID loss of some of this rank's
    rows, summed and divided by the global batch. A tensor the loss does not reach (EDM's map_augment: PID gives no
    augmentation labels) is found by one probe at the start and kept out of the parameters: its gradient is zero
    (as in the TypeScript engine) and DDP would wait for it."""

    def __init__(self, tr):
        super().__init__()
        self.tr = [tr]  # not a submodule
        views = tr.params(tr.p)
        probe = {n: v.detach().clone().requires_grad_(True) for n, v in views.items()}
        z = torch.zeros([1] + tr.shape, device=tr.device)
        labels = torch.nn.functional.one_hot(torch.zeros(1, dtype=torch.long), tr.label_dim).float().to(tr.device) if tr.label_dim else None
        self.probe = (z, [tr.grid[0]], [tr.grid[1]], labels)
        pid_loss(tr.F, {**tr.fixed, **probe}, tr.teacher, tr.precond, tr.edm, tr.settings['loss'], *self.probe[:3], labels=self.probe[3]).sum().backward()
        self.reached = [n for n in tr.names if probe[n].grad is not None]
        self.unreached = {n: views[n] for n in tr.names if probe[n].grad is None}
        self.weights = torch.nn.ParameterList([torch.nn.Parameter(views[n]) for n in self.reached])

    def forward(self, z, t, tn, labels):
        tr = self.tr[0]
        P = {**tr.fixed, **self.unreached, **dict(zip(self.reached, self.weights))}
        per = pid_loss(tr.F, P, tr.teacher, tr.precond, tr.edm, tr.settings['loss'], z, t, tn, labels=labels)
        return per.sum() / tr.settings['batch']


def write_atomic(path, data):
    tmp = f'{path}.tmp-{os.getpid()}'
    with open(tmp, 'wb') as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main(argv):
    a = parse_args(argv)
    world = int(os.environ.get('WORLD_SIZE', '1'))
    rank = int(os.environ.get('RANK', '0'))
    local = int(os.environ.get('LOCAL_RANK', '0'))
    use_cuda = a.device == 'cuda' or (a.device is None and torch.cuda.is_available())
    if use_cuda and not torch.cuda.is_available():
        raise Refused('--device cuda: torch sees no CUDA device')
    device = torch.device('cuda', local) if use_cuda else torch.device('cpu')
    if use_cuda:
        torch.cuda.set_device(device)
    if world > 1:
        dist.init_process_group('nccl' if use_cuda else 'gloo')
    run = read_run(a.folder)
    tr = Trainer(run, a.folder, device, rank, world)
    if a.resume:
        tr.load_checkpoint(a.checkpoint)
    s = tr.settings
    log = open(a.log, 'a' if a.resume else 'w') if (a.log and rank == 0) else None
    say = print if rank == 0 else (lambda *_, **__: None)
    say(f"distilling \"{run['teacher']['name']}\" into a {tr.spec['type']} student ({tr.p.numel():,} parameters) on {world} process(es), "
        f"{device.type}: {s['steps']} steps, batch {s['batch']} ({tr.rows} on rank 0, micro-batch {tr.micro}), N {s['N']}, {s['loss']}, "
        f"{s['optimizer']} lr {s['lr']}" + (f" -> {s['lrFinal']}" if s['lrFinal'] != s['lr'] else '') + f", ema {s['ema']}, seed {s['seed']}"
        + (f'; resuming at step {tr.step}' if a.resume else ''), flush=True)
    start = time.perf_counter()
    first = tr.step
    last_save = start
    taken = 0
    smoothed = float('nan')
    while tr.step < s['steps'] and (a.max_steps is None or taken < a.max_steps):
        m = tr.train_step()
        taken += 1
        if log:
            log.write(json.dumps(m) + '\n')
        if m['skipped']:
            say(f"  step {m['step'] + 1}: loss {m['loss']}, gradient norm {m['gradNorm']}: skipped ({tr.skipped} so far, {tr.restores} restores)")
        else:
            smoothed = m['loss'] if math.isnan(smoothed) else 0.98 * smoothed + 0.02 * m['loss']
        if a.checkpoint:
            due = torch.tensor([1.0 if time.perf_counter() - last_save > a.checkpoint_every else 0.0], device=device)
            if world > 1:
                dist.broadcast(due, 0)
            if float(due) > 0:
                data = tr.checkpoint_bytes()
                if data is not None:
                    write_atomic(a.checkpoint, data)
                last_save = time.perf_counter()
        if not m['skipped'] and (tr.step % s['evalEvery'] == 0 or tr.step == s['steps']):
            rate = (tr.step - first) / (time.perf_counter() - start)
            say(f"  step {tr.step}/{s['steps']}  loss {smoothed:.3e}  {rate:.1f} steps/s", flush=True)
    if a.checkpoint:
        data = tr.checkpoint_bytes()
        if data is not None:
            write_atomic(a.checkpoint, data)
    seconds = time.perf_counter() - start
    if rank == 0:
        write_atomic(a.out, tr.student_bytes())
        if log:
            log.write(json.dumps({'step': tr.step, 'final': True, 'seconds': seconds, 'worldSize': world}) + '\n')
            log.close()
        say(f"wrote {a.out}: {'EMA' if tr.ema is not None else 'raw'} weights after {tr.step} steps ({(tr.step - first) / max(seconds, 1e-9):.1f} steps/s, {world} process(es))")
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main(sys.argv[1:]))
    except Refused as e:
        print(f'torch/train.py: {e}', file=sys.stderr)
        sys.exit(2)
