/**
 * Every model file a user may hold, as one ModelFile: this project's own files (formats/model-file.ts), PyTorch
 * state dicts saved with torch.save, safetensors state dicts without our config, and EDM's network snapshots (.pkl,
 * edm-snapshot-model.ts, which say their preconditioning themselves). A bare state dict becomes a
 * teacher whose network is inferred from its tensor names and shapes; what they cannot tell (the preconditioning)
 * comes from the caller (`--precond`, the studio's selector), EDM's by default.
 */
import { DEFAULT_EDM, PRECOND_DEFAULTS, type PidStudioConfig, type PrecondSpec, parseConfig } from '../formats/config';
import { isPickle } from '../formats/edm-snapshot';
import { ModelFileError } from '../formats/errors';
import { type InputFile, type ModelFile, type ModelOrigin, readModelFile, sha256Hex } from '../formats/model-file';
import { readSafetensors } from '../formats/safetensors';
import { isTorchZip, readTorchStateDict, stripPrefix } from '../formats/torch-file';
import { isLegacyTorch } from '../formats/torch-legacy';
import { isDiffusersFolder, readDiffusersFolder } from './diffusers-folder';
import { readEdmSnapshotModel } from './edm-snapshot-model';
import { validateModel } from './models';
import { inferNetwork } from './nets/infer';
import { clippedSigmaRange, precondOf } from './precond';

/** The preconditionings a bare state dict may be read with (ddpm-eps comes with a diffusers folder's scheduler). */
export type PrecondType = 'edm' | 'vp' | 've';
export const PRECOND_CHOICES: PrecondType[] = ['edm', 'vp', 've'];

export interface ReadOptions {
  /** The preconditioning of a bare state dict (absent: edm); for a file with a config it must agree with it. */
  precond?: PrecondType;
  /** The preconditioning of a bare state dict when `precond` is absent, not checked against files that say their own (the studio: the loaded teacher's, for a student). */
  precondFallback?: PrecondType;
  /**
   * What a bare state dict or EDM snapshot is (absent: teacher). 'student': a PID one-step student such as the PID
   * reference code saves (ema_*.pt: the bare network, no map_augment), sampled in one step (core/student.ts); its
   * config then has role 'student' and no student section (the file records no distillation). For a file with a
   * config it must agree with the config's role.
   */
  role?: ModelRole;
}
export type ModelRole = 'teacher' | 'student';
export const ROLE_CHOICES: ModelRole[] = ['teacher', 'student'];

const TORCH_EXTENSIONS = ['.pt', '.pth', '.bin', '.ckpt'];
export const MODEL_EXTENSIONS = ['.safetensors', ...TORCH_EXTENSIONS, '.pkl'];
const lower = (name: string) => name.toLowerCase();
export const isTorchName = (name: string) => TORCH_EXTENSIONS.some((e) => lower(name).endsWith(e));
const isSnapshotName = (name: string) => lower(name).endsWith('.pkl');

/** Reads and validates a model from its files (one file, or a config.json + weights pair). */
export async function readAnyModel(files: InputFile[], options: ReadOptions = {}): Promise<ModelFile> {
  const single = files.length === 1 ? files[0] : null;
  let model: ModelFile;
  if (single && (isTorchName(single.name) || isSnapshotName(single.name)) && isPickle(single.bytes) && !isLegacyTorch(single.bytes)) {
    model = await readEdmSnapshotModel(single, options.precond);
  } else if (single && (isTorchName(single.name) || isSnapshotName(single.name) || isTorchZip(single.bytes) || isLegacyTorch(single.bytes))) {
    const dict = readTorchStateDict(single.bytes, single.name);
    model = await fromStateDict(single, dict.tensors, { format: 'pytorch', taken: dict.taken, prefix: dict.prefix }, options);
  } else if (single && lower(single.name).endsWith('.safetensors') && !hasConfig(single)) {
    const read = readSafetensors(single.bytes, single.name).tensors;
    const [prefix, names] = stripPrefix([...read.keys()]);
    const tensors = new Map([...read.values()].map((t, i) => [names[i], t]));
    model = await fromStateDict(single, tensors, { format: 'safetensors', taken: 'state dict', prefix }, options);
  } else if (isDiffusersFolder(files)) {
    if (options.role === 'student') throw new ModelFileError(files[0].name, 'a diffusers folder is read as a teacher only', 'leave out --role student, or give the student as a state dict (.pt, .safetensors) or an EDM snapshot (.pkl)');
    if (options.precond) throw new ModelFileError(files[0].name, 'a diffusers folder says its preconditioning itself (ddpm-eps, from its scheduler)', 'leave out --precond');
    model = await readDiffusersFolder(files);
  } else {
    const models = files.filter((f) => MODEL_EXTENSIONS.some((e) => lower(f.name).endsWith(e)));
    if (models.length > 1) {
      const list = models.map((f) => f.name.replace(/^.*[\\/]/, ''));
      throw new ModelFileError(list.join(', '), `${models.length} model files given, a model is one of them`, 'pick one: give only the file of the model you mean (with its config.json, if it has one)');
    }
    model = await readModelFile(files);
    const own = model.config.precond?.type ?? 'edm';
    if (options.precond && options.precond !== own) {
      throw new ModelFileError(model.fileName, `its config says precond "${own}", not "${options.precond}"`, 'leave out --precond for files that carry a pid-studio config');
    }
    if (options.role && options.role !== model.config.role) {
      const choose = options.role === 'student' ? 'choose a distilled student file' : 'choose a teacher file';
      throw new ModelFileError(model.fileName, `is a ${model.config.role}, not a ${options.role}`, `${choose}; a pid-studio file says its own role (--role is for bare state dicts and EDM snapshots)`);
    }
  }
  if (options.role === 'student' && model.origin) model = asReferenceStudent(model);
  validateModel(model);
  return model;
}

/**
 * A bare network read as a PID student (the PID reference's OneShotDenoiser): the teacher config inferred for it,
 * with role 'student' and no student section, since the file does not say how it was distilled.
 */
function asReferenceStudent(model: ModelFile): ModelFile {
  const config: PidStudioConfig = { ...model.config, role: 'student', name: `${model.config.name} (PID student)` };
  return { ...model, config };
}

function hasConfig(file: InputFile): boolean {
  return readSafetensors(file.bytes, file.name).metadata.pid_studio !== undefined;
}

/** A teacher config for a state dict: the inferred network, the chosen precond, EDM's sampling range clipped to it. */
async function fromStateDict(
  file: InputFile, tensors: Map<string, { shape: number[]; data: Float32Array }>, origin: Omit<ModelOrigin, 'precondGiven'>, options: ReadOptions,
): Promise<ModelFile> {
  if (tensors.size === 0) throw new ModelFileError(file.name, 'holds no tensors', 'give the file of a trained network');
  const prefix = origin.prefix;
  const inferred = inferNetwork(new Map([...tensors].map(([name, t]) => [name, t.shape])));
  if ('problems' in inferred) {
    const what = origin.format === 'safetensors' ? 'no pid-studio config in __metadata__.pid_studio, and as a bare state dict its network' : 'the network';
    const fix = origin.format === 'safetensors'
      ? 'add the config, give a config.json together with it (both files at once, or a folder of both), or give a state dict of an EDM SongUNet or DhariwalUNet (NVlabs/edm training/networks.py)'
      : 'give a state dict of an EDM SongUNet or DhariwalUNet (NVlabs/edm training/networks.py), or a pid-studio file';
    throw new ModelFileError(file.name, `${what} could not be recognised: ${inferred.problems}`, fix);
  }
  const type = options.precond ?? options.precondFallback ?? 'edm';
  const precond: PrecondSpec = type === 'edm' ? { type } : { type, ...PRECOND_DEFAULTS[type] } as PrecondSpec;
  const [sigmaMin, sigmaMax] = clippedSigmaRange(precondOf({ edm: DEFAULT_EDM, precond }), DEFAULT_EDM.sigma_min, DEFAULT_EDM.sigma_max);
  const labelDim = (inferred.spec as { label_dim?: number }).label_dim ?? 0;
  const stem = file.name.replace(/^.*[\\/]/, '').replace(/\.[^.]*$/, '') || 'imported model';
  const raw: PidStudioConfig = {
    format: 'pid-studio/1',
    role: 'teacher',
    name: stem,
    data: { shape: inferred.dataShape, range: [-1, 1], ...(labelDim > 0 ? { label_dim: labelDim } : {}) },
    edm: { ...DEFAULT_EDM, sigma_min: sigmaMin, sigma_max: sigmaMax },
    network: inferred.spec,
    ...(type === 'edm' ? {} : { precond }),
    ...(prefix ? { pytorch: { prefix } } : {}),
  };
  const config = parseConfig(raw, file.name);
  return { fileName: file.name, config, tensors, sha256: await sha256Hex(file.bytes), origin: { ...origin, precondGiven: options.precond !== undefined } };
}
