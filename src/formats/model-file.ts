/**
 * A model is one .safetensors file with its config in __metadata__.pid_studio, or a config.json + .safetensors
 * pair (config.json wins). Tensor names and shapes are not checked here: the core does that per network type.
 */
import { configToJson, parseConfig, type PidStudioConfig } from './config.ts';
import { ModelFileError } from './errors.ts';
import { MAX_HEADER_BYTES, readSafetensors, writeSafetensors, type NamedTensor } from './safetensors.ts';

export interface InputFile { name: string; bytes: Uint8Array }
export interface ModelFile {
  fileName: string;
  config: PidStudioConfig;
  tensors: Map<string, NamedTensor>;
  sha256: string; // hex of the .safetensors file bytes
  /** Set when the file was a bare state dict whose config was inferred (core/model-import.ts). */
  origin?: ModelOrigin;
}

export interface ModelOrigin {
  format: 'pytorch' | 'safetensors' | 'diffusers' | 'edm-snapshot';
  /** Which weights of the file were taken: 'state dict', or a checkpoint's entry such as 'ema' or 'model'. */
  taken: string;
  /** The key prefix stripped from every name ('' when none), e.g. EDMPrecond's "model.". */
  prefix: string;
  /** Whether the preconditioning was given by the user, the folder or the file (else EDM's was assumed). */
  precondGiven: boolean;
  /** The class the file's preconditioning was read from (an EDM snapshot's EDMPrecond, VPPrecond, VEPrecond). */
  precondFrom?: string;
  /** A diffusers folder without scheduler_config.json: DDPMScheduler's defaults were taken. */
  schedulerDefaults?: boolean;
}

const PAIR_FIX = 'give one .safetensors file, or a config.json together with its .safetensors file';
const isJson = (name: string) => name.toLowerCase().endsWith('.json');
const isSafetensors = (name: string) => name.toLowerCase().endsWith('.safetensors');

export async function readModelFile(files: InputFile[]): Promise<ModelFile> {
  if (files.length === 0) throw new ModelFileError('(no file)', 'no model file given', PAIR_FIX);
  const names = files.map((f) => f.name).join(', ');
  if (files.length > 2) throw new ModelFileError(names, `${files.length} files given, a model is one or two files`, PAIR_FIX);

  const weights = files.filter((f) => isSafetensors(f.name));
  const configs = files.filter((f) => isJson(f.name));
  if (files.length === 1 && configs.length === 1) {
    throw new ModelFileError(names, 'a config.json alone has no weights', 'give it together with its .safetensors file');
  }
  if (files.length === 1 && weights.length === 0) throw new ModelFileError(names, 'not a .safetensors file', PAIR_FIX);
  if (files.length === 2 && (weights.length !== 1 || configs.length !== 1)) {
    throw new ModelFileError(names, 'two files that are not a config.json + .safetensors pair', PAIR_FIX);
  }

  const file = weights[0];
  const contents = readSafetensors(file.bytes, file.name);
  let config: PidStudioConfig;
  if (configs.length === 1) {
    const json = configs[0];
    config = parseConfig(parseJson(decodeUtf8(json), json.name, 'not valid JSON', 'fix the JSON syntax'), json.name);
  } else {
    const text = contents.metadata.pid_studio;
    if (text === undefined) {
      throw new ModelFileError(file.name, 'no pid-studio config in __metadata__.pid_studio', 'add it, or give a config.json together with it (both files at once, or a folder of both)');
    }
    config = parseConfig(parseJson(text, file.name, '__metadata__.pid_studio is not valid JSON', 'store the config as a JSON string'), file.name);
  }
  return { fileName: file.name, config, tensors: contents.tensors, sha256: await sha256Hex(file.bytes) };
}

/** The model as one .safetensors file, its config in __metadata__.pid_studio. */
export function writeModelFile(config: PidStudioConfig, tensors: Map<string, NamedTensor>): Uint8Array {
  return writeSafetensors(tensors, { pid_studio: configToJson(config) });
}

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  // digest() wants bytes on a plain ArrayBuffer; copy anything else (e.g. a SharedArrayBuffer view).
  const input = bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : new Uint8Array(bytes);
  const digest = new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', input));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

function decodeUtf8(file: InputFile): string {
  if (file.bytes.length > MAX_HEADER_BYTES) throw new ModelFileError(file.name, 'config file is larger than 100 MB', 'check that this is the config.json of the model');
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(file.bytes);
  } catch {
    throw new ModelFileError(file.name, 'not valid UTF-8 text', 'save the config as UTF-8 JSON');
  }
}

function parseJson(text: string, fileName: string, problem: string, fix: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    const why = (e instanceof Error ? e.message : String(e)).replace(/\s+/g, ' ').trim();
    throw new ModelFileError(fileName, `${problem} (${why})`, fix);
  }
}
