/**
 * A small, strict safetensors reader and writer (huggingface/safetensors layout): 8-byte little-endian u64
 * header length N, N bytes of UTF-8 JSON, then the raw little-endian tensor bytes. Pure TypeScript: runs in
 * browsers and Node. Every size read out of a file is checked before anything is allocated from it.
 */
import { ModelFileError } from './errors.ts';
import { bf16ToF32, f16ToF32 } from './float16.ts';

export type SafetensorsDType = 'F32' | 'F16' | 'BF16';
export interface NamedTensor { shape: number[]; data: Float32Array }
export interface SafetensorsContents {
  tensors: Map<string, NamedTensor & { dtype: SafetensorsDType }>;
  metadata: Record<string, string>;
}

export const MAX_HEADER_BYTES = 100 * 1024 * 1024;
const DTYPE_SIZE: Record<SafetensorsDType, number> = { F32: 4, F16: 2, BF16: 2 };
// Every other dtype the safetensors format defines: named as "not read" rather than "unknown".
const OTHER_DTYPES = new Set(['BOOL', 'U8', 'I8', 'F8_E5M2', 'F8_E4M3', 'F8_E8M0', 'F4', 'F6_E2M3', 'F6_E3M2',
  'I16', 'U16', 'I32', 'U32', 'F64', 'I64', 'U64', 'C64']);
const SUPPORTED = 'only F32, F16, BF16 are read';
const CONVERT_FIX = 'save the tensor as float32 (e.g. tensor.float() in PyTorch)';
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** A tensor or key name as it appears in a one-line message: quoted, control characters escaped, shortened. */
export function quoteName(name: string): string {
  const escaped = name.replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return `'${escaped.length > 80 ? `${escaped.slice(0, 77)}...` : escaped}'`;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const isSize = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

interface Entry { name: string; dtype: SafetensorsDType; shape: number[]; count: number; begin: number; end: number }

export function readSafetensors(bytes: Uint8Array, fileName: string): SafetensorsContents {
  const fail = (problem: string, fix?: string): never => { throw new ModelFileError(fileName, problem, fix); };
  const notSafetensors = 'check that this is a .safetensors file and that it was copied completely';

  if (bytes.length < 8) fail(`file is ${bytes.length} bytes, shorter than the 8-byte safetensors header length`, notSafetensors);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const exactLen = view.getBigUint64(0, true);
  if (exactLen === 0n) fail('header length is 0; a safetensors file starts with a JSON header', notSafetensors);
  if (exactLen > BigInt(bytes.length - 8)) {
    fail(`header length ${exactLen} runs past the end of the file (${bytes.length - 8} bytes after the length field)`, notSafetensors);
  }
  if (exactLen > BigInt(MAX_HEADER_BYTES)) fail(`header length ${exactLen} is larger than the 100 MB limit`, notSafetensors);
  const headerLen = Number(exactLen);

  let text = '';
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLen));
  } catch {
    fail('safetensors header is not valid UTF-8', notSafetensors);
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    fail(`safetensors header is not valid JSON (${oneLine(e instanceof Error ? e.message : String(e))})`, notSafetensors);
  }
  if (!isPlainObject(header)) fail(`safetensors header must be a JSON object (got ${typeName(header)})`, notSafetensors);
  const fields = header as Record<string, unknown>;

  const metadata: Record<string, string> = {};
  if ('__metadata__' in fields) {
    const meta = fields.__metadata__;
    if (!isPlainObject(meta)) fail('__metadata__ must be an object of string values', 'write it as {"key": "string value"}');
    for (const [k, v] of Object.entries(meta as Record<string, unknown>)) {
      if (typeof v !== 'string') fail(`__metadata__ value ${quoteName(k)} must be a string (got ${typeName(v)})`, 'store it JSON-encoded as a string');
      metadata[k] = v as string;
    }
  }

  const dataLen = bytes.length - 8 - headerLen;
  const entries: Entry[] = [];
  for (const [name, raw] of Object.entries(fields)) {
    if (name === '__metadata__') continue;
    entries.push(parseEntry(name, raw, dataLen, fail));
  }
  checkCoverage(entries, dataLen, fail);

  const dataStart = 8 + headerLen;
  const tensors: SafetensorsContents['tensors'] = new Map();
  for (const e of entries) {
    const data = decodeTensor(bytes, dataStart + e.begin, e.count, e.dtype);
    const bad = data.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) {
      fail(`tensor ${quoteName(e.name)} holds ${data[bad]} at index ${bad}`, 'the weights are corrupt or training diverged; export a checkpoint with finite values');
    }
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data });
  }
  return { tensors, metadata };
}

function parseEntry(name: string, raw: unknown, dataLen: number, fail: (p: string, f?: string) => never): Entry {
  const t = `tensor ${quoteName(name)}`;
  const layoutFix = 'rewrite the file with a safetensors writer';
  if (!isPlainObject(raw)) fail(`${t} must be an object {dtype, shape, data_offsets} (got ${typeName(raw)})`, layoutFix);
  const entry = raw as Record<string, unknown>;
  for (const key of ['dtype', 'shape', 'data_offsets']) if (!(key in entry)) fail(`${t} has no "${key}" key`, layoutFix);
  for (const key of Object.keys(entry)) {
    if (!['dtype', 'shape', 'data_offsets'].includes(key)) fail(`${t} has an unexpected key ${quoteName(key)} (allowed: dtype, shape, data_offsets)`, layoutFix);
  }

  const { dtype, shape, data_offsets: offsets } = entry;
  if (typeof dtype !== 'string') return fail(`${t} has a dtype that is not a string (got ${typeName(dtype)})`, layoutFix);
  if (!(dtype in DTYPE_SIZE)) {
    const shown = quoteName(dtype).slice(1, -1);
    fail(`${t} has ${OTHER_DTYPES.has(dtype) ? '' : 'unknown '}dtype ${shown}; ${SUPPORTED}`, CONVERT_FIX);
  }
  if (!Array.isArray(shape) || !shape.every(isSize)) {
    fail(`${t} has shape ${preview(shape)}; a shape must be an array of non-negative integers`, layoutFix);
  }
  const dims = shape as number[];
  let count = 1;
  if (!dims.includes(0)) {
    for (const d of dims) {
      count *= d;
      if (!Number.isSafeInteger(count)) fail(`${t} has shape ${preview(shape)} whose element count overflows`, layoutFix);
    }
  } else count = 0;
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isSize) || offsets[0] > offsets[1]) {
    fail(`${t} has data_offsets ${preview(offsets)}; they must be [begin, end] non-negative integers with begin <= end`, layoutFix);
  }
  const [begin, end] = offsets as [number, number];
  if (end > dataLen) {
    fail(`${t} ends at byte ${end} but the data section has only ${dataLen} bytes (file truncated?)`, 'copy the whole file again');
  }
  const size = DTYPE_SIZE[dtype as SafetensorsDType];
  if (end - begin !== count * size) {
    fail(`${t} has shape ${preview(shape)} of ${dtype} (${count * size} bytes) but data_offsets span ${end - begin} bytes`, layoutFix);
  }
  return { name, dtype: dtype as SafetensorsDType, shape: [...dims], count, begin, end };
}

// The safetensors format requires the tensors to tile the data section exactly: no overlap, no gap, no trailing bytes.
function checkCoverage(entries: Entry[], dataLen: number, fail: (p: string, f?: string) => never): void {
  const fix = 'rewrite the file with a safetensors writer';
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let prev: Entry | undefined;
  for (const e of sorted) {
    if (e.begin < cursor) fail(`tensors ${quoteName(prev!.name)} and ${quoteName(e.name)} overlap in the data section (bytes ${e.begin}..${cursor})`, fix);
    if (e.begin > cursor) fail(`bytes ${cursor}..${e.begin} of the data section belong to no tensor (gap before ${quoteName(e.name)})`, fix);
    cursor = e.end;
    prev = e;
  }
  if (cursor < dataLen) fail(`bytes ${cursor}..${dataLen} of the data section belong to no tensor (trailing bytes)`, fix);
}

let f16Table: Float32Array | undefined;

function decodeTensor(bytes: Uint8Array, start: number, count: number, dtype: SafetensorsDType): Float32Array {
  const out = new Float32Array(count);
  if (dtype === 'F32') {
    if (LITTLE_ENDIAN_HOST) new Uint8Array(out.buffer).set(bytes.subarray(start, start + 4 * count));
    else {
      const view = new DataView(bytes.buffer, bytes.byteOffset + start, 4 * count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, true);
    }
  } else if (dtype === 'F16') {
    if (!f16Table) {
      f16Table = new Float32Array(65536);
      for (let b = 0; b < 65536; b++) f16Table[b] = f16ToF32(b);
    }
    for (let i = 0, p = start; i < count; i++, p += 2) out[i] = f16Table[bytes[p] | (bytes[p + 1] << 8)];
  } else {
    for (let i = 0, p = start; i < count; i++, p += 2) out[i] = bf16ToF32(bytes[p] | (bytes[p + 1] << 8));
  }
  return out;
}

/** Writes F32 tensors, sorted by name, contiguous; the header JSON is padded with spaces to a multiple of 8 bytes. */
export function writeSafetensors(
  tensors: Map<string, NamedTensor> | Record<string, NamedTensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  const list = (tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = { ...metadata };
  let offset = 0;
  for (const [name, { shape, data }] of list) {
    if (name === '__metadata__') throw new Error('writeSafetensors: "__metadata__" cannot be a tensor name');
    const count = shape.reduce((a, b) => a * b, 1);
    if (!shape.every(isSize) || count !== data.length) {
      throw new Error(`writeSafetensors: tensor ${quoteName(name)} has shape [${shape}] but ${data.length} values`);
    }
    const bad = data.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new Error(`writeSafetensors: tensor ${quoteName(name)} holds ${data[bad]} at index ${bad}`);
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + 4 * count] };
    offset += 4 * count;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + padded + offset);
  const view = new DataView(out.buffer);
  view.setUint32(0, padded % 2 ** 32, true);
  view.setUint32(4, Math.floor(padded / 2 ** 32), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + padded);
  let p = 8 + padded;
  for (const [, { data }] of list) {
    for (let i = 0; i < data.length; i++, p += 4) view.setFloat32(p, data[i], true);
  }
  return out;
}

function typeName(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v;
}

function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

function preview(v: unknown): string {
  let s: string;
  try { s = JSON.stringify(v) ?? String(v); } catch { s = String(v); }
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}
