/**
 * The `pid-studio` command line (formats.md): inspect, sample, distill. Bad input ends with exit code 2 and one
 * line on stderr naming the file, the problem and the fix; never a stack trace.
 */
import { ModelFileError } from '../formats/errors';
import { UsageError } from './args';

const USAGE = `usage:
  pid-studio inspect <model> [--precond edm|vp|ve]
  pid-studio sample  --model <model> (--n K [--seed S] | --noise <noise file>) --out <samples file> [--solver heun|euler] [--steps 18]
                     [--labels <labels file> | --class K] [--precond edm|vp|ve] [--backend wasm|cpu|webgpu]
  pid-studio distill --teacher <model | builtin:NAME> --out <student file> [--steps --batch --lr --lr-final --N
                     --loss l2|l1|pseudo-huber --optimizer radam|adam --ema --seed --student-network <json> --backend wasm|cpu|webgpu
                     --log <metrics.jsonl> --name --checkpoint <file> --checkpoint-every <seconds> --resume --precond edm|vp|ve]
  pid-studio denoise --model <model> --x <x file> --sigma <sigma file> [--labels <labels file>] [--precond edm|vp|ve] [--backend ...] --out <D file>
  pid-studio convert <model> --out <teacher.safetensors> [--precond edm|vp|ve] [--name NAME]
  pid-studio export  <student> --format pytorch --out <file.pt> [--keys original|pid]   (or --format diffusers --out <folder>)
  pid-studio eval    --model <model> [--n 1000] [--steps 18] [--seed 0]   # MNIST models: prints FD <value> (NFE <k>, n <n>)
A <model> is a .safetensors file, a PyTorch state dict (.pt, .pth, .bin, .ckpt: EDM's SongUNet or DhariwalUNet), a diffusers
UNet2DModel folder (config.json, diffusion_pytorch_model.safetensors, scheduler_config.json) or saved pipeline, a folder
with config.json + one .safetensors file (or with one model file), or builtin:NAME.`;

type Command = (argv: string[], out: (line: string) => void) => Promise<number>;
// Loaded on demand: only distill needs tfjs's gradient registrations, which are slow to load.
const COMMANDS: Record<string, () => Promise<Command>> = {
  inspect: async () => (await import('./inspect')).inspect,
  sample: async () => (await import('./sample')).sample,
  distill: async () => (await import('./distill')).distill,
  eval: async () => (await import('./eval')).evaluate,
  denoise: async () => (await import('./denoise')).denoise,
  convert: async () => (await import('./convert')).convert,
  export: async () => (await import('./export')).exportModel,
};

export async function main(argv: string[], out = (l: string) => console.log(l), err = (l: string) => console.error(l)): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    out(USAGE);
    return command ? 0 : 2;
  }
  const load = COMMANDS[command];
  if (!load) {
    err(`pid-studio: unknown command '${command}' (commands: ${Object.keys(COMMANDS).join(', ')}; see pid-studio --help)`);
    return 2;
  }
  try {
    return await (await load())(rest, out);
  } catch (e) {
    if (e instanceof ModelFileError || e instanceof UsageError) {
      err(`pid-studio ${command}: ${oneLine(e.message)}`);
      return 2;
    }
    // Anything else (a diverged run, a backend failure) is not bad input: exit 1, still one line.
    const { explainBackendError } = await import('../core/backend'); // loaded here: most commands never fail this way
    err(`pid-studio ${command}: failed: ${oneLine(explainBackendError(e instanceof Error ? e.message : String(e)))}`);
    return 1;
  }
}

const oneLine = (s: string) => s.replace(/\s*\n\s*/g, ' ');
