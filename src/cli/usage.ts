/** The help text: `pid-studio --help` prints every command's block, `pid-studio COMMAND --help` one block. */

interface CommandHelp {
  about: string;
  usage: string;
  /** Each flag as written on the command line, and what it does. */
  flags: [string, string][];
}

const PRECOND: [string, string] = ['--precond edm|vp|ve', 'the preconditioning of a bare state dict; default edm; a pid-studio file says its own'];
const ROLE: [string, string] = ['--role teacher|student', "what a bare state dict or EDM snapshot is; default teacher; student: a PID one-step student such as the PID reference's ema_*.pt, sampled x = (sigma_min/T) z + (1 - sigma_min/T) F(c_in(T) z, c_noise(sigma_min))"];
const BACKEND: [string, string] = ['--backend wasm|cpu|webgpu', 'tfjs backend; default wasm; webgpu runs through Dawn on a Vulkan adapter'];
const LABELS: [string, string] = ['--labels <labels file>', 'one-hot class labels, one F32 tensor "labels" [n, label_dim], for class-conditional models'];

/** Run settings that distill and export-run document alike. */
const PRESET: [string, string] = ['--preset quick|paper', 'settings preset; default quick'];
const PRESET_SETTINGS: [string, string][] = [
  ['--lr X', "learning rate at the first step; default: the preset's"],
  ['--lr-final X', "learning rate at the last step, exponential decay from --lr; default: the preset's"],
  ['--N K', "discretisation points of the teacher's trajectory; default: the preset's"],
  ['--loss l2|l1|pseudo-huber', "the distance between student and teacher; default: the preset's"],
  ['--optimizer radam|adam', "the optimiser; default: the preset's"],
  ['--ema X', "EMA decay of the exported weights, in [0, 1); default: the preset's"],
];

export const COMMAND_HELP: Record<string, CommandHelp> = {
  inspect: {
    about: 'validate a model (or a samples, noise or D file) and print a summary',
    usage: 'pid-studio inspect <model | samples file | noise file> [--precond edm|vp|ve] [--role teacher|student]',
    flags: [PRECOND, ROLE],
  },
  sample: {
    about: 'a teacher solves its ODE, a student takes one step, from the same noise',
    usage: 'pid-studio sample --model <model> (--n K [--seed S] | --noise <noise file>) --out <samples file> [flags]',
    flags: [
      ['--model <model>', 'the teacher or student to sample'],
      ['--n K', 'number of samples, from standard normal noise drawn with --seed'],
      ['--seed S', 'seed of the noise; default 0'],
      ['--noise <noise file>', 'the noise instead: one F32 tensor "z" [n, ...data.shape], standard normal'],
      ['--out <samples file>', 'where the samples go: one F32 tensor "x" [n, ...data.shape]'],
      ['--solver heun|euler', "the teacher's ODE solver; default heun"],
      ['--steps K', "Karras points of the teacher's solver; default 18"],
      LABELS,
      ['--class K', 'every sample of class K; default: every class in turn'],
      PRECOND,
      ROLE,
      BACKEND,
    ],
  },
  distill: {
    about: 'PID: distil a teacher into a one-step student',
    usage: 'pid-studio distill --teacher <model | builtin:NAME> --out <student file> [flags]',
    flags: [
      ['--teacher <model | builtin:NAME>', 'the teacher to distil'],
      ['--out <student file>', 'where the student goes, a .safetensors file'],
      PRESET,
      ['--steps K', "training steps; default: an image teacher's plan (about --minutes here), else the preset's"],
      ['--batch B', "noise draws per step; default: an image teacher's plan (32 on a CPU), else the preset's"],
      ['--micro-batch M', 'samples per forward and backward pass, gradients accumulated over the batch; default: the most that fit in memory'],
      ['--force', "train even when the plan says a step does not fit the backend's memory (it will most likely fail)"],
      ['--minutes M', "an image teacher's plan sizes steps and evaluations to about M minutes of training here (timed on 1 and 2 samples first); default 10"],
      ...PRESET_SETTINGS,
      ['--seed S', 'seed of the noise and of a fresh student; default 0'],
      ['--student-network <json>', "the student's network, e.g. '{\"type\":\"mlp\",\"hidden\":64}'; default: the teacher's, initialised from its weights"],
      BACKEND,
      ['--log <metrics.jsonl>', 'one JSON line per step and per evaluation'],
      ['--eval-every K', "steps between progress lines with the trajectory error; default: the plan's (the first within about a minute), else steps/10"],
      ['--name NAME', "the student's name in its config"],
      ['--checkpoint <file>', 'save the training state to this file every --checkpoint-every seconds and at the end, through a rename'],
      ['--checkpoint-every S', 'seconds between checkpoints; default 30'],
      ['--resume', 'continue the run saved in --checkpoint with its settings; --steps may extend it'],
      PRECOND,
    ],
  },
  sweep: {
    about: "one distillation per value of one run setting, each student's error against the teacher's ODE",
    usage: 'pid-studio sweep --teacher <model | builtin:NAME> --sweep NAME=V1,V2,... --out <results.json> [flags]',
    flags: [
      ['--teacher <model | builtin:NAME>', 'the teacher to distil'],
      ['--sweep NAME=V1,V2,...', 'the run setting to vary (N, lr, lr-final, batch, loss, optimizer, ema, steps, seed, eval-every; key or flag name) and its values, all checked before the first run'],
      ['--out <results.json>', '{"teacher", "sweep": NAME, "runs": [{NAME, oneStepRelative, oneStepRmse, trajectoryRmse, seconds, gridEulerRelative}]}, rewritten after each run'],
      ['--students <folder>', "each run's student file, <--name or student>-SETTING-VALUE.safetensors"],
      ['--preset quick|paper', 'settings preset of every run; default quick'],
      ['--steps K', 'training steps of each run (evaluation every tenth when swept and --eval-every is not given)'],
      ['--batch B', 'noise draws per step'],
      ['--lr X', 'learning rate at the first step'],
      ['--lr-final X', 'learning rate at the last step'],
      ['--N K', "points of the teacher's grid"],
      ['--loss l2|l1|pseudo-huber', 'the distance between student and teacher'],
      ['--optimizer radam|adam', 'the optimiser'],
      ['--ema X', 'EMA decay of the exported weights'],
      ['--seed S', 'seed of every run (and of the validation noise); default 0'],
      ['--eval-every K', "each run's evaluation cadence, as distill's; a sweep measures each student once, at its end"],
      ['--student-network <json>', "the students' network; default: the teacher's"],
      BACKEND,
      ['--log <metrics.jsonl>', 'one JSON line per step and per finished run, with the run (0, 1, ...) and its value'],
      ['--name NAME', "the students' name in their config and files"],
      PRECOND,
    ],
  },
  denoise: {
    about: "a teacher's D(x, sigma), EDM's convention, for checks against PyTorch",
    usage: 'pid-studio denoise --model <model> --x <x file> --sigma <sigma file> --out <D file> [flags]',
    flags: [
      ['--model <model>', 'the teacher'],
      ['--x <x file>', 'noisy inputs: one F32 tensor "x" [n, ...data.shape]'],
      ['--sigma <sigma file>', 'their noise levels: one F32 tensor "sigma" [n], positive'],
      ['--out <D file>', 'where D goes: one F32 tensor "D" [n, ...data.shape]'],
      [LABELS[0], `${LABELS[1]}; default zeros, as EDM without class_labels`],
      PRECOND,
      BACKEND,
    ],
  },
  convert: {
    about: 'any model this tool reads as a pid-studio teacher file, tensor names unchanged',
    usage: 'pid-studio convert <model> --out <teacher.safetensors> [flags]',
    flags: [
      ['--out <teacher.safetensors>', 'where the teacher file goes'],
      PRECOND,
      ['--name NAME', "the teacher's name in its config; default: the file's"],
    ],
  },
  export: {
    about: "a model's weights for PyTorch: a state dict, or a diffusers folder",
    usage: 'pid-studio export <student> --format pytorch|diffusers --out <file.pt | folder> [--keys original|pid]',
    flags: [
      ['--format pytorch|diffusers', 'pytorch: a torch.save state dict; diffusers: the folder UNet2DModel.from_pretrained opens, for diffusers-unet2d models'],
      ['--out <file.pt | folder>', 'where it goes'],
      ['--keys original|pid', "original: the teacher's tensor names, the default; pid: the PID reference code's, for EDM networks"],
    ],
  },
  'export-run': {
    about: 'a distillation to run on your GPUs with torch/train.py (torchrun): run.json and teacher.safetensors in a folder',
    usage: 'pid-studio export-run --teacher <model | builtin:NAME> --out <folder> [distill\'s run flags]',
    flags: [
      ['--teacher <model | builtin:NAME>', 'the teacher to distil'],
      ['--out <folder>', 'where run.json, teacher.safetensors (and student-init.safetensors for a fresh student) go; made if missing'],
      PRESET,
      ['--steps K', "training steps; default: the preset's (no machine plan here: give it for an image teacher)"],
      ['--batch B', "the global batch, split across the processes; default: the preset's (give it for an image teacher)"],
      ...PRESET_SETTINGS,
      ['--seed S', 'seed of the noise (each process its own stream from it) and of a fresh student; default 0'],
      ['--eval-every K', 'steps between progress lines; default steps/10'],
      ['--micro-batch M', 'samples per forward and backward pass in each process; default: its whole share of the batch'],
      ['--student-network <json>', "the student's network; default: the teacher's, initialised from its weights"],
      ['--name NAME', "the student's name in its config"],
      PRECOND,
    ],
  },
  eval: {
    about: 'MNIST models: the Frechet distance of classifier features, printed as FD <value> (NFE <k>, n <n>)',
    usage: 'pid-studio eval --model <model> [flags]',
    flags: [
      ['--model <model>', 'a digits teacher, sampled with Heun, or student, one step; data [28, 28, 1] or [14, 14, 1]'],
      ['--n K', 'generated digits; default 1000; eval warns below 500, too few for a stable FD'],
      ['--steps K', "Karras points of a teacher's solver; default 18"],
      ['--seed S', 'seed of the noise; default 0'],
      PRECOND,
      ROLE,
      BACKEND,
    ],
  },
};

const MODELS = `A <model> is a .safetensors file, a PyTorch state dict (.pt, .pth, .bin, .ckpt: EDM's SongUNet or DhariwalUNet), a diffusers
UNet2DModel folder (config.json, diffusion_pytorch_model.safetensors, scheduler_config.json) or saved pipeline, a folder
with config.json + one .safetensors file (or with one model file), or builtin:NAME.`;

/** One command's block: what it does, its usage line, one line per flag: "--flag ARG (what it does)". */
export function commandHelp(command: string): string {
  const h = COMMAND_HELP[command];
  return [`pid-studio ${command}: ${h.about}`, `  usage: ${h.usage}`, ...h.flags.map(([flag, what]) => `    ${flag} (${what})`)].join('\n');
}

export function fullHelp(): string {
  return ['usage: pid-studio <command> [flags]   (pid-studio <command> --help: that command alone)', '', ...Object.keys(COMMAND_HELP).map((c) => `${commandHelp(c)}\n`), MODELS].join('\n');
}
