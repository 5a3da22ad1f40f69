/**
 * "Run on your GPUs": the loaded teacher and the settings Start would use, as one zip that runs under torchrun on the
 * user's machines. The zip holds one folder, `<teacher>-run/`: the run folder `pid-studio export-run` writes
 * (core/run-folder.ts: run.json, teacher.safetensors, student-init.safetensors for a fresh student), the PyTorch
 * trainer of this build (torch/train.py and torch/pid_torch.py), run.sh with the torchrun command, and README.txt
 * (the command, its flags, and how the student comes back to the studio).
 */
import pidTorchPy from '../../torch/pid_torch.py?raw';
import trainPy from '../../torch/train.py?raw';
import { readAnyModel } from '../core/model-import';
import { type RunFile, buildRunFolder, runSummary, torchrunCommand } from '../core/run-folder';
import { type RunSettings, runSettingsProblems } from '../formats/run-settings';
import { writeStoredZip } from '../formats/zip';
import { slug } from './engine';
import type { TeacherFiles } from './run-restore';

export interface RunZip {
  fileName: string;
  bytes: Uint8Array;
}

/** The name the zip's folder and file take: the built-in teacher's id, or the teacher's name made file-safe. */
export function runZipBase(source: TeacherFiles['source'], teacherName: string): string {
  return `${slug(source.kind === 'builtin' ? source.id : teacherName)}-run`;
}

/** Reads the teacher's files again (the engine keeps tensors on the backend, not the file's), and zips its run folder. */
export async function runZip(teacher: TeacherFiles | null, settings: RunSettings, createdAt = new Date()): Promise<RunZip> {
  if (!teacher) throw new Error('no teacher is loaded: choose a built-in teacher or drop a model file');
  const problems = runSettingsProblems(settings);
  if (problems.length) throw new Error(`the run's settings are not valid: ${problems.join('; ')}`);
  const { source, files } = teacher;
  const model = await readAnyModel(files, source.kind === 'files' && source.precond ? { precond: source.precond } : {});
  const folder = await buildRunFolder(model, { settings, folder: '.', createdAt });
  const base = runZipBase(source, model.config.name);
  const text = (s: string) => new TextEncoder().encode(s);
  const entries = [
    { name: 'README.txt', bytes: text(readme(folder.run, base)) },
    { name: 'run.sh', bytes: text(runScript(folder.run)), mode: 0o755 },
    ...folder.files,
    { name: 'torch/train.py', bytes: text(trainPy), mode: 0o755 },
    { name: 'torch/pid_torch.py', bytes: text(pidTorchPy) },
  ];
  return { fileName: `${base}.zip`, bytes: writeStoredZip(entries.map((e) => ({ ...e, name: `${base}/${e.name}` }))) };
}

function runScript(run: RunFile): string {
  return `#!/bin/sh
# PID distillation of "${run.teacher.name}": ${runSummary(run)}.
# Runs from this folder with NPROC processes, one per GPU (default 1); more arguments go to torch/train.py:
#   NPROC=8 sh run.sh --checkpoint ck.safetensors --checkpoint-every 300 --log metrics.jsonl
set -e
cd "$(dirname "$0")"
exec ${torchrunCommand('.', '"${NPROC:-1}"')} "$@"
`;
}

function readme(run: RunFile, base: string): string {
  const s = run.settings;
  const init = run.student.fromTeacher
    ? 'the student starts from the teacher\'s weights'
    : `the student (a fresh ${run.student.network.type}) starts from student-init.safetensors`;
  return `PID Studio: a run for your GPUs
================================

Teacher: ${run.teacher.name} (${run.teacher.source}, sha256 ${run.teacher.sha256})
Run: ${runSummary(run)}; ${init}.
Exported ${run.createdAt}.

What is here (${base}/)
  run.json                  every setting of the run, the teacher's sha256 and config (format ${run.format})
  teacher.safetensors       the teacher as a pid-studio model file${run.student.fromTeacher ? '' : '\n  student-init.safetensors  the student\'s starting weights, as the studio draws them from the seed'}
  torch/train.py            the PyTorch trainer (PyTorch DDP under torchrun), with torch/pid_torch.py
  run.sh                    the command below

It needs Python 3 with torch (1.13 or newer) and numpy, nothing else.

Run it, from this folder
  ${torchrunCommand('.', 'K')}
      K processes, one per GPU (nccl); on CPUs, gloo. The batch of ${s.batch} is split across them.
  python torch/train.py . --out student.safetensors
      one process
  NPROC=K sh run.sh
      the same as the first line

More flags of torch/train.py:
  --checkpoint ck.safetensors --checkpoint-every 300   save the whole training state (seconds between saves)
  --resume                                             continue from --checkpoint (same folder, same K)
  --log metrics.jsonl                                  one JSON line per step
  --device cuda|cpu                                    default: cuda when torch sees one
  --max-steps S                                        at most S steps in this invocation (time-sliced clusters)

The batch (${s.batch}) and steps (${s.steps}) are the ones the studio chose for this browser. GPUs take more: change
"batch" and "steps" in run.json's "settings" before the first run (a checkpoint belongs to the settings it was made
with).

The student back in the studio
  student.safetensors is a pid-studio student file (the teacher's config, the run's settings, the EMA weights).
  In the studio, with this teacher loaded: "Student file" > "Open a student" > student.safetensors. It is sampled in
  one step against the teacher's ODE; "Continue training from this student" goes on in the browser.
  On the command line: pid-studio sample | eval | inspect student.safetensors.

More: docs/cluster.md of PID Studio (what a step is, costs, the Python 3.11 torchrun workaround).
`;
}
