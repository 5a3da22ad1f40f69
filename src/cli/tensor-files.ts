/**
 * The CLI's tensor files (formats.md): samples ("x"), noise ("z"), denoiser outputs ("D"), noise levels ("sigma") and
 * class labels ("labels"), one tensor each. `inspect` says what such a file is instead of failing to read a model.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { MAX_HEADER_BYTES, readSafetensors } from '../formats/safetensors';
import { MADE_BY_KEY, readBytes } from './io';

const KINDS: Record<string, string> = {
  x: 'samples file',
  z: 'noise file',
  D: 'denoiser output file (D of pid-studio denoise)',
  sigma: 'sigma file',
  labels: 'labels file',
};

/**
 * The tensor name of a one-tensor file without a model config, from its header alone (a model file is not read
 * twice), or null for anything else: a model, a folder, a file that is not safetensors.
 */
export function tensorFileKind(path: string): string | null {
  let fd: number | null = null;
  try {
    if (!statSync(path).isFile()) return null;
    fd = openSync(path, 'r');
    const head = Buffer.alloc(8);
    if (readSync(fd, head, 0, 8, 0) !== 8) return null;
    const length = head.readBigUInt64LE(0);
    if (length === 0n || length > BigInt(MAX_HEADER_BYTES)) return null;
    const text = Buffer.alloc(Number(length));
    if (readSync(fd, text, 0, text.length, 8) !== text.length) return null;
    const header = JSON.parse(text.toString('utf8')) as Record<string, unknown>;
    const meta = header.__metadata__ as Record<string, unknown> | undefined;
    if (meta && 'pid_studio' in meta) return null;
    const names = Object.keys(header).filter((k) => k !== '__metadata__');
    return names.length === 1 && names[0] in KINDS ? names[0] : null;
  } catch {
    return null;
  } finally {
    if (fd !== null) closeSync(fd);
  }
}

/** What inspect prints for a tensor file: its kind, shape, dtype and origin, then its values in one line. */
export function describeTensorFile(path: string, name: string): string[] {
  const { tensors, metadata } = readSafetensors(readBytes(path), path);
  const t = tensors.get(name)!;
  const [n, ...rest] = t.shape;
  const dtype = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' }[t.dtype];
  const made = metadata[MADE_BY_KEY] ? `made by ${metadata[MADE_BY_KEY]}` : 'origin not recorded';
  const lines = [`${path}: ${KINDS[name]}: ${n ?? 1} x [${rest.join(', ')}], ${dtype}, ${made}`];
  const s = stats(t.data);
  lines.push(`  values     ${s.finite === t.data.length ? '' : `${t.data.length - s.finite} not finite; `}min ${fmt(s.min)}, max ${fmt(s.max)}, mean ${fmt(s.mean)}, std ${fmt(s.std)}`);
  if (name === 'z' && s.finite > 1 && Math.abs(s.std - 1) > 0.1) {
    lines.push(`  note       noise should be standard normal (std 1): the tools multiply it by sigma_max themselves`);
  }
  if (t.dtype !== 'F32') lines.push('  note       the commands read only float32 tensor files: save it as float32');
  return lines;
}

function stats(data: Float32Array) {
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let finite = 0;
  for (const v of data) {
    if (!Number.isFinite(v)) continue;
    finite++;
    sum += v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const mean = finite ? sum / finite : NaN;
  let sq = 0;
  for (const v of data) if (Number.isFinite(v)) sq += (v - mean) ** 2;
  return { min, max, mean, std: finite > 1 ? Math.sqrt(sq / (finite - 1)) : NaN, finite };
}

const fmt = (v: number) => (Number.isFinite(v) ? Number(v.toPrecision(4)).toString() : String(v));
