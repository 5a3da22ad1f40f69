/**
 * A diffusers UNet2DModel folder as a teacher: `config.json` (`_class_name` "UNet2DModel"), its weights
 * `diffusion_pytorch_model.safetensors` (or the torch.save `.bin`), and `scheduler_config.json` when there is one
 * (else DDPMScheduler's defaults). The model is an epsilon predictor under a DDPM schedule: precond ddpm-eps.
 */
import { DDPM_DEFAULTS, DDPM_BETA_SCHEDULES, DEFAULT_EDM, type DdpmBetaSchedule, type PidStudioConfig, type PrecondSpec, parseConfig } from '../formats/config';
import { diffusersConfigToSpec } from '../formats/diffusers-network';
import { ModelFileError } from '../formats/errors';
import { type InputFile, type ModelFile, sha256Hex } from '../formats/model-file';
import { readSafetensors } from '../formats/safetensors';
import { readTorchStateDict } from '../formats/torch-file';
import { renameLegacyAttention } from './nets/diffusers-unet2d';
import { clippedSigmaRange, precondOf } from './precond';

const baseName = (name: string) => name.replace(/^.*[\\/]/, '');
const WEIGHTS = ['diffusion_pytorch_model.safetensors', 'diffusion_pytorch_model.bin'];
const FOLDER_FIX = 'give the folder diffusers saves: config.json, diffusion_pytorch_model.safetensors (or .bin) and, if it has one, scheduler_config.json';

/** Whether these files are a diffusers model folder (a scheduler config, or a config.json naming a diffusers class). */
export function isDiffusersFolder(files: InputFile[]): boolean {
  if (files.some((f) => baseName(f.name) === 'scheduler_config.json')) return true;
  const config = files.find((f) => baseName(f.name) === 'config.json');
  if (!config) return false;
  const json = parseJsonFile(config, false);
  return typeof json === 'object' && json !== null && '_class_name' in json;
}

export async function readDiffusersFolder(files: InputFile[]): Promise<ModelFile> {
  const named = (n: string) => files.find((f) => baseName(f.name) === n);
  const names = files.map((f) => baseName(f.name)).join(', ');
  const configFile = named('config.json');
  if (!configFile) throw new ModelFileError(names, 'a diffusers model needs its config.json, which is missing', FOLDER_FIX);
  const weightFiles = WEIGHTS.map(named).filter((f) => f !== undefined);
  if (weightFiles.length === 0) throw new ModelFileError(names, 'no diffusion_pytorch_model.safetensors or diffusion_pytorch_model.bin among the files', FOLDER_FIX);
  const unexpected = files.filter((f) => !['config.json', 'scheduler_config.json', ...WEIGHTS].includes(baseName(f.name)));
  if (unexpected.length) {
    throw new ModelFileError(unexpected[0].name, 'is not part of a diffusers UNet2DModel folder (config.json, diffusion_pytorch_model.safetensors or .bin, scheduler_config.json)', 'leave it out');
  }
  const weights = weightFiles[0]!; // the safetensors file when both are there, as diffusers prefers it
  const { spec, dataShape, labelDim } = diffusersConfigToSpec(parseJsonFile(configFile, true), configFile.name);
  const raw = baseName(weights.name).endsWith('.bin') ? readTorchStateDict(weights.bytes, weights.name).tensors : readSafetensors(weights.bytes, weights.name).tensors;
  const renames = renameLegacyAttention([...raw.keys()]);
  const tensors = new Map([...raw].map(([name, t]) => [renames.get(name) ?? name, { shape: t.shape, data: t.data }]));

  const schedulerFile = named('scheduler_config.json');
  const precond = schedulerFile ? schedulerPrecond(parseJsonFile(schedulerFile, true), schedulerFile.name) : { type: 'ddpm-eps' as const, ...DDPM_DEFAULTS };
  const [sigmaMin, sigmaMax] = clippedSigmaRange(precondOf({ edm: DEFAULT_EDM, precond }), DEFAULT_EDM.sigma_min, DEFAULT_EDM.sigma_max);
  const folder = configFile.name.replace(/[\\/]?config\.json$/, '');
  const raw_config: PidStudioConfig = {
    format: 'pid-studio/1',
    role: 'teacher',
    name: baseName(folder) || 'diffusers UNet2DModel',
    data: { shape: dataShape, range: [-1, 1], ...(labelDim > 0 ? { label_dim: labelDim } : {}) },
    edm: { ...DEFAULT_EDM, sigma_min: sigmaMin, sigma_max: sigmaMax },
    network: spec,
    precond,
  };
  const config = parseConfig(raw_config, configFile.name);
  return {
    fileName: weights.name,
    config,
    tensors,
    sha256: await sha256Hex(weights.bytes),
    origin: { format: 'diffusers', taken: baseName(weights.name), prefix: '', precondGiven: true, ...(schedulerFile ? {} : { schedulerDefaults: true }) },
  };
}

/** The DDPM schedule of a scheduler_config.json; what ddpm-eps cannot honour is refused in one line. */
function schedulerPrecond(json: unknown, fileName: string): PrecondSpec {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new ModelFileError(fileName, 'must hold a JSON object', 'give the scheduler_config.json diffusers wrote');
  const o = json as Record<string, unknown>;
  const refuse = (problem: string, fix: string): never => { throw new ModelFileError(fileName, problem, fix); };
  const prediction = o.prediction_type ?? 'epsilon';
  if (prediction !== 'epsilon') refuse(`prediction_type is ${JSON.stringify(prediction)}; only "epsilon" models are read`, 'give an epsilon-prediction model (DDPMScheduler\'s default)');
  if (o.trained_betas !== undefined && o.trained_betas !== null) refuse('trained_betas are set; only the named beta schedules are read', `use beta_schedule ${DDPM_BETA_SCHEDULES.join(', ')}`);
  if (o.rescale_betas_zero_snr === true) refuse('rescale_betas_zero_snr is true, which is not read', 'give a model trained without zero-SNR rescaling');
  const number = (key: keyof typeof DDPM_DEFAULTS, ok: (v: number) => boolean, must: string): number => {
    const v = o[key] ?? DDPM_DEFAULTS[key];
    if (typeof v !== 'number' || !ok(v)) refuse(`"${key}" must be ${must} (got ${JSON.stringify(v)})`, 'fix the scheduler config');
    return v as number;
  };
  const schedule = o.beta_schedule ?? DDPM_DEFAULTS.beta_schedule;
  if (!DDPM_BETA_SCHEDULES.includes(schedule as DdpmBetaSchedule)) {
    refuse(`beta_schedule ${JSON.stringify(schedule)} is not read (read: ${DDPM_BETA_SCHEDULES.join(', ')})`, 'give a model trained with one of those schedules');
  }
  return {
    type: 'ddpm-eps',
    num_train_timesteps: number('num_train_timesteps', (v) => Number.isInteger(v) && v >= 2, 'an integer >= 2'),
    beta_start: number('beta_start', (v) => v > 0 && v < 1, 'a number in (0, 1)'),
    beta_end: number('beta_end', (v) => v > 0 && v < 1, 'a number in (0, 1)'),
    beta_schedule: schedule as DdpmBetaSchedule,
  };
}

function parseJsonFile(file: InputFile, strict: boolean): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(file.bytes));
  } catch (e) {
    if (!strict) return null;
    throw new ModelFileError(file.name, `is not valid JSON (${(e as Error).message.replace(/\s+/g, ' ')})`, 'give the JSON file diffusers wrote');
  }
}
