/**
 * Mutations of valid model files for the fuzz tests (test/formats/fuzz.test.ts through the library and the CLI's
 * reader, e2e/hostile.spec.ts through the page's loader).
 */
import { initParams } from '../../src/core/nets';
import { Rng } from '../../src/core/rng';
import { ANALYTIC_TEACHERS } from '../../src/core/teachers/builtin';
import { DEFAULT_EDM, type PidStudioConfig } from '../../src/formats/config';
import { writeModelFile } from '../../src/formats/model-file';

const base = { format: 'pid-studio/1' as const, role: 'teacher' as const, name: 'fuzz', data: { shape: [2], range: [-1, 1] as [number, number] }, edm: DEFAULT_EDM };
const mlp = { type: 'mlp' as const, hidden: 4, blocks: 1, emb_dim: 2, emb_max_freq: 1 };
export const validFiles: Uint8Array[] = [
  writeModelFile({ ...base, network: mlp } satisfies PidStudioConfig, initParams(mlp, [2], new Rng(0))),
  writeModelFile({ ...base, network: ANALYTIC_TEACHERS[0].network } satisfies PidStudioConfig, new Map()),
];

function headerOf(bytes: Uint8Array): { n: number; json: Record<string, any> } {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return { n, json: JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) };
}

function withHeader(bytes: Uint8Array, json: unknown): Uint8Array {
  const { n } = headerOf(bytes);
  const text = new TextEncoder().encode(JSON.stringify(json));
  const out = new Uint8Array(8 + text.length + bytes.length - 8 - n);
  new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
  out.set(text, 8);
  out.set(bytes.subarray(8 + n), 8 + text.length);
  return out;
}

export type Mutation = (b: Uint8Array, r: Rng) => Uint8Array;
const pickTensor = (json: Record<string, any>, r: Rng) => {
  const names = Object.keys(json).filter((k) => k !== '__metadata__');
  return names.length ? names[r.int(names.length)] : null;
};
export const mutations: Record<string, Mutation> = {
  truncate: (b, r) => b.slice(0, r.int(b.length)),
  'header length beyond the file': (b, r) => {
    const c = b.slice();
    new DataView(c.buffer).setBigUint64(0, BigInt(b.length + 1 + r.int(1e6)), true);
    return c;
  },
  'huge header length': (b, r) => {
    const c = b.slice();
    new DataView(c.buffer).setBigUint64(0, 2n ** BigInt(30 + r.int(34)) - 1n, true);
    return c;
  },
  'non-JSON header': (b, r) => {
    const c = b.slice();
    const { n } = headerOf(b);
    for (let k = 0; k < 3; k++) c[8 + r.int(n)] = '{}[]",:\\x'.charCodeAt(r.int(10));
    return c;
  },
  'offsets out of range': (b, r) => {
    const { json } = headerOf(b);
    const name = pickTensor(json, r);
    if (name) json[name].data_offsets = [r.int(10), b.length + r.int(1000)];
    return withHeader(b, json);
  },
  'overlapping offsets': (b) => {
    const { json } = headerOf(b);
    const names = Object.keys(json).filter((k) => k !== '__metadata__');
    if (names.length > 1) json[names[1]].data_offsets = json[names[0]].data_offsets.slice();
    return withHeader(b, json);
  },
  'shape overflow or mismatch': (b, r) => {
    const { json } = headerOf(b);
    const name = pickTensor(json, r);
    const shapes = [[2 ** 31, 2 ** 31, 2 ** 31], [-1, 4], [1.5], [Number.MAX_SAFE_INTEGER, 2], [3, 3, 3], 'x', [null]];
    if (name) json[name].shape = shapes[r.int(shapes.length)];
    return withHeader(b, json);
  },
  'unknown dtype': (b, r) => {
    const { json } = headerOf(b);
    const name = pickTensor(json, r);
    if (name) json[name].dtype = ['F64', 'I64', 'U8', 'BOOL', 'f32', '', 7][r.int(7)];
    return withHeader(b, json);
  },
  'wrong config types': (b, r) => {
    const { json } = headerOf(b);
    const config = JSON.parse(json.__metadata__.pid_studio);
    const paths: [string[], unknown][] = [[['edm', 'sigma_min'], 'small'], [['data', 'shape'], 2], [['network', 'hidden'], [4]], [['role'], 'teacher ']
      , [['network'], null], [['name'], 42], [['data', 'range'], [1, -1]], [['network', 'stds'], [-1]], [['format'], 'pid-studio/2'], [['edm'], []]];
    const [path, value] = paths[r.int(paths.length)];
    let o = config;
    for (const key of path.slice(0, -1)) o = o[key] ?? {};
    o[path[path.length - 1]] = value;
    json.__metadata__.pid_studio = JSON.stringify(config);
    return withHeader(b, json);
  },
  'NaN weight': (b, r) => {
    const c = b.slice();
    const { n, json } = headerOf(b);
    const name = pickTensor(json, r);
    if (name) new DataView(c.buffer).setFloat32(8 + n + json[name].data_offsets[0], [NaN, Infinity, -Infinity][r.int(3)], true);
    return c;
  },
  'byte flips': (b, r) => {
    const c = b.slice();
    for (let k = 0; k < 1 + r.int(8); k++) c[r.int(c.length)] ^= 1 << r.int(8);
    return c;
  },
};

/** Mutations of tensor entries, applied to the file that has tensors (the mlp teacher). */
export const TENSOR_MUTATIONS = new Set(['offsets out of range', 'overlapping offsets', 'shape overflow or mismatch', 'unknown dtype', 'NaN weight']);


/** The file a mutation of this kind starts from (tensor mutations need the file with tensors). */
export const sourceFile = (kind: string, i: number): Uint8Array => (TENSOR_MUTATIONS.has(kind) ? validFiles[0] : validFiles[i % validFiles.length]);
