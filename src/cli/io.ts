/** Files for the command line: models (a file, a config.json + weights folder, or builtin:NAME), noise and samples. */
import { readFileSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ModelFileError } from '../formats/errors';
import { type InputFile, type ModelFile, readModelFile } from '../formats/model-file';
import { readSafetensors, writeSafetensors } from '../formats/safetensors';
import { validateModel } from '../core/models';
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

/** A model argument: `builtin:NAME`, a .safetensors file, or a folder holding config.json and one .safetensors. */
export async function readModelArg(arg: string): Promise<ModelFile> {
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
    const names = readdirSync(arg).filter((n) => n === 'config.json' || n.endsWith('.safetensors'));
    files = names.map((n) => ({ name: join(arg, n), bytes: readBytes(join(arg, n)) }));
    if (files.length === 0) throw new ModelFileError(arg, 'folder holds no config.json or .safetensors file', 'give a model file or a folder with config.json and its .safetensors');
  } else {
    files = [{ name: arg, bytes: readBytes(arg) }];
  }
  const model = await readModelFile(files);
  validateModel(model);
  return model;
}

function isFolder(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
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

export function writeTensorFile(path: string, name: string, shape: number[], data: Float32Array): void {
  writeFile(path, writeSafetensors(new Map([[name, { shape, data }]])));
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

