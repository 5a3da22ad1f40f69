/** Files for the command line: models (a file, a config.json + weights folder, or builtin:NAME), noise and samples. */
import { readFileSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ModelFileError } from '../formats/errors';
import { type InputFile, type ModelFile } from '../formats/model-file';
import { MODEL_EXTENSIONS, type ReadOptions, readAnyModel } from '../core/model-import';
import { readSafetensors, writeSafetensors } from '../formats/safetensors';
import type { BuiltinIndex } from '../core/teachers/builtin';

export const TEACHERS_DIR = fileURLToPath(new URL('../../public/teachers/', import.meta.url));

export function readBytes(path: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a folder' : code === 'EACCES' ? 'permission denied' : (e as Error).message;
    throw new ModelFileError(path, `cannot be read (${why})`, 'check the path');
  }
}

export function builtinIndex(): BuiltinIndex {
  return JSON.parse(readFileSync(join(TEACHERS_DIR, 'index.json'), 'utf8')) as BuiltinIndex;
}

/**
 * A model argument: `builtin:NAME`, a model file (.safetensors, or a PyTorch state dict .pt/.pth/.bin/.ckpt), or a
 * folder holding config.json + one .safetensors, or one model file.
 */
export async function readModelArg(arg: string, options: ReadOptions = {}): Promise<ModelFile> {
  let files: InputFile[];
  if (arg.startsWith('builtin:')) {
    const id = arg.slice('builtin:'.length);
    const { teachers } = builtinIndex();
    const entry = teachers.find((t) => t.id === id);
    if (!entry) {
      const known = teachers.map((t) => t.id).join(', ');
      throw new ModelFileError(arg, 'no built-in teacher of that name', `use one of: ${known}`);
    }
    files = [{ name: entry.file, bytes: readBytes(join(TEACHERS_DIR, entry.file)) }];
  } else if (isFolder(arg)) {
    files = folderModelFiles(arg).map((n) => ({ name: join(arg, n), bytes: readBytes(join(arg, n)) }));
  } else {
    files = [{ name: arg, bytes: readBytes(arg) }];
  }
  return readAnyModel(files, options);
}

/**
 * The files of a model folder: config.json with one .safetensors, or one model file, or a diffusers model (config.json,
 * diffusion_pytorch_model.*, scheduler_config.json; or a saved pipeline's unet/ and scheduler/); anything else is
 * refused in one line.
 */
function folderModelFiles(folder: string): string[] {
  const names = readdirSync(folder).sort();
  if (names.includes('model_index.json') && names.includes('unet')) {
    // a diffusers pipeline (DDPMPipeline.save_pretrained): the UNet and its scheduler
    const unet = readdirSync(join(folder, 'unet')).filter((n) => n === 'config.json' || n.startsWith('diffusion_pytorch_model.')).map((n) => join('unet', n));
    const scheduler = names.includes('scheduler') && readdirSync(join(folder, 'scheduler')).includes('scheduler_config.json') ? [join('scheduler', 'scheduler_config.json')] : [];
    return [...unet.filter((n) => !n.endsWith('.bin') || !unet.some((m) => m.endsWith('.safetensors'))), ...scheduler];
  }
  const diffusersConfig = names.includes('config.json') && /"_class_name"/.test(readFileSync(join(folder, 'config.json'), 'utf8'));
  if (diffusersConfig || names.includes('scheduler_config.json') || names.some((n) => n.startsWith('diffusion_pytorch_model.'))) {
    const weights = names.filter((n) => n.startsWith('diffusion_pytorch_model.'));
    const chosen = weights.includes('diffusion_pytorch_model.safetensors') ? ['diffusion_pytorch_model.safetensors'] : weights.filter((n) => n.endsWith('.bin'));
    return [...names.filter((n) => n === 'config.json' || n === 'scheduler_config.json'), ...chosen];
  }
  const weights = names.filter((n) => MODEL_EXTENSIONS.some((e) => n.toLowerCase().endsWith(e)));
  const config = names.includes('config.json') ? ['config.json'] : [];
  if (weights.length === 0) {
    throw new ModelFileError(folder, `folder holds no model file (${MODEL_EXTENSIONS.join(', ')})`, 'give a model file, or a folder with config.json and its .safetensors');
  }
  if (weights.length > 1) {
    const list = `${weights.slice(0, 6).join(', ')}${weights.length > 6 ? `, and ${weights.length - 6} more` : ''}`;
    throw new ModelFileError(folder, `folder holds ${weights.length} model files (${list}), not one`, `pick one: give its path, e.g. ${join(folder, weights[0])}`);
  }
  return [...config, ...weights];
}

function isFolder(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * One F32 tensor `name` from a tensor file, with the given shape ('n' stands for the sample count, the same in
 * every file of one command).
 */
export function readTensorFile(path: string, name: string, shape: (number | 'n')[], what: string): { data: Float32Array; shape: number[] } {
  const contents = readSafetensors(readBytes(path), path);
  const t = contents.tensors.get(name);
  const names = [...contents.tensors.keys()];
  const want = `[${shape.join(', ')}]`;
  if (!t) throw new ModelFileError(path, `has no tensor "${name}" (tensors: ${names.join(', ') || 'none'})`, `${what} holds one F32 tensor "${name}" of shape ${want}`);
  if (names.length > 1) throw new ModelFileError(path, `holds ${names.length} tensors, ${what} holds only "${name}"`, 'remove the other tensors');
  if (t.dtype !== 'F32') throw new ModelFileError(path, `tensor "${name}" has dtype ${t.dtype}, it must be F32`, 'write it as float32');
  if (t.shape.length !== shape.length || t.shape.some((d, i) => shape[i] !== 'n' && d !== shape[i]) || t.shape[0] < 1) {
    throw new ModelFileError(path, `tensor "${name}" has shape [${t.shape.join(', ')}], ${what} for this model needs ${want}`, `write "${name}" with shape ${want}`);
  }
  return { data: t.data, shape: t.shape };
}

/** A noise file: one F32 tensor "z" of shape [n, ...dataShape], standard normal values (formats.md). */
export function readNoise(path: string, dataShape: number[]): { z: Float32Array; n: number } {
  const contents = readSafetensors(readBytes(path), path);
  const z = contents.tensors.get('z');
  const names = [...contents.tensors.keys()];
  if (!z) throw new ModelFileError(path, `has no tensor "z" (tensors: ${names.join(', ') || 'none'})`, 'a noise file holds one F32 tensor "z" of shape [n, ...data.shape]');
  if (names.length > 1) throw new ModelFileError(path, `holds ${names.length} tensors, a noise file holds only "z"`, 'remove the other tensors');
  if (z.dtype !== 'F32') throw new ModelFileError(path, `tensor "z" has dtype ${z.dtype}, noise must be F32`, 'write the noise as float32');
  const want = `[n, ${dataShape.join(', ')}]`;
  if (z.shape.length !== dataShape.length + 1 || z.shape.slice(1).some((d, i) => d !== dataShape[i]) || z.shape[0] < 1) {
    throw new ModelFileError(path, `tensor "z" has shape [${z.shape.join(', ')}], the model's data needs ${want}`, `make noise of shape ${want}`);
  }
  return { z: z.data, n: z.shape[0] };
}

/** The metadata key under which a command's tensor file says where it came from (inspect prints it). */
export const MADE_BY_KEY = 'pid_studio_made_by';

/** A one-tensor file (formats.md); `madeBy` ("pid-studio sample: ...") goes into its metadata. */
export function writeTensorFile(path: string, name: string, shape: number[], data: Float32Array, madeBy?: string): void {
  writeFile(path, writeSafetensors(new Map([[name, { shape, data }]]), madeBy ? { [MADE_BY_KEY]: madeBy } : undefined));
}

export function writeFile(path: string, bytes: Uint8Array): void {
  try {
    writeFileSync(path, bytes);
  } catch (e) {
    throw new ModelFileError(path, `cannot be written (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, 'check that the folder exists and is writable');
  }
}

/** Writes through a temporary file and a rename, so a crash never leaves half a file (checkpoints). */
export function writeFileAtomic(path: string, bytes: Uint8Array): void {
  writeFile(`${path}.tmp`, bytes);
  renameSync(`${path}.tmp`, path);
}

