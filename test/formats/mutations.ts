/**
 * Mutations of valid model files for the fuzz tests (test/formats/fuzz.test.ts through the library and the CLI's
 * reader, e2e/hostile.spec.ts through the page's loader), of a valid torch.save .pt file (torchMutations), and of an
 * EDM network snapshot with its embedded legacy torch.save storages (snapshotMutations).
 */
import { readFileSync } from 'node:fs';
import { initParams } from '../../src/core/nets';
import { Rng } from '../../src/core/rng';
import { ANALYTIC_TEACHERS } from '../../src/core/teachers/builtin';
import { DEFAULT_EDM, type PidStudioConfig } from '../../src/formats/config';
import { writeModelFile } from '../../src/formats/model-file';
import { writeTorchStateDict } from '../../src/formats/torch-file';
import { LEGACY_MAGIC } from '../../src/formats/torch-legacy';
import { readStoredZip, writeStoredZip } from '../../src/formats/zip';

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

/** A valid small .pt (the mlp teacher's parameters through our torch.save writer), for the .pt mutations. */
export const validTorchFile: Uint8Array = writeTorchStateDict(initParams(mlp, [2], new Rng(0)));

/** Rewrites the archive with the entries changed by `change` and fresh CRC-32s, so the mutation reaches the pickle. */
function rezip(b: Uint8Array, change: (name: string, bytes: Uint8Array) => Uint8Array): Uint8Array {
  const zip = readStoredZip(b, 'source.pt');
  return writeStoredZip([...zip.entries.keys()].map((name) => ({ name, bytes: change(name, zip.read(name).slice()) })));
}
const isPickle = (name: string) => name.endsWith('/data.pkl');

/** Offsets of the zip records (local headers, central directory entries, end records) in a file. */
function zipRecords(b: Uint8Array): number[] {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const found: number[] = [];
  for (let p = 0; p + 4 <= b.length; p++) {
    const sig = view.getUint32(p, true);
    if (sig === 0x04034b50 || sig === 0x02014b50 || sig === 0x06054b50) found.push(p);
  }
  return found;
}

export const torchMutations: Record<string, Mutation> = {
  'pt truncate': (b, r) => b.slice(0, r.int(b.length)),
  'pt byte flips': (b, r) => {
    const c = b.slice();
    for (let k = 0; k < 1 + r.int(8); k++) c[r.int(c.length)] ^= 1 << r.int(8);
    return c;
  },
  'pt zip field': (b, r) => {
    const c = b.slice();
    const view = new DataView(c.buffer);
    const records = zipRecords(c);
    const at = records[r.int(records.length)] + 4 + r.int(40);
    const values = [0, 1, 0xffff, 0xffffffff, c.length, c.length + 1 + r.int(1000), r.int(2 ** 32), 2 ** 31];
    if (at + 4 <= c.length) {
      if (r.int(2)) view.setUint32(at, values[r.int(values.length)], true);
      else view.setUint16(at, values[r.int(values.length)] & 0xffff, true);
    }
    return c;
  },
  'pt compressed entry': (b, r) => {
    const c = b.slice();
    const view = new DataView(c.buffer);
    const central = zipRecords(c).filter((p) => view.getUint32(p, true) === 0x02014b50);
    view.setUint16(central[r.int(central.length)] + 10, [8, 12, 14, 93][r.int(4)], true);
    return c;
  },
  'pt pickle byte flips': (b, r) => rezip(b, (name, bytes) => {
    if (isPickle(name)) for (let k = 0; k < 1 + r.int(4); k++) bytes[r.int(bytes.length)] = r.int(256);
    return bytes;
  }),
  'pt pickle truncate': (b, r) => rezip(b, (name, bytes) => (isPickle(name) ? bytes.slice(0, r.int(bytes.length)) : bytes)),
  'pt pickle numbers': (b, r) => rezip(b, (name, bytes) => {
    if (!isPickle(name)) return bytes;
    // BININT1 operands are the storage sizes, offsets, shapes and strides of a small state dict
    const ints = [...bytes.keys()].filter((i) => bytes[i] === 0x4b && i + 1 < bytes.length);
    for (let k = 0; k < 1 + r.int(3) && ints.length; k++) bytes[ints[r.int(ints.length)] + 1] = [0, 1, 2, 255, r.int(256)][r.int(5)];
    return bytes;
  }),
  'pt storage entry resized': (b, r) => rezip(b, (name, bytes) => {
    if (!/\/data\/\d+$/.test(name) || r.int(2)) return bytes;
    return r.int(2) ? bytes.slice(0, r.int(bytes.length)) : Uint8Array.from([...bytes, ...new Uint8Array(1 + r.int(9))]);
  }),
};

/** .pt mutations that can never leave a readable file. */
export const TORCH_ALWAYS_REFUSED = ['pt truncate', 'pt compressed entry', 'pt pickle truncate'];

/** An EDM network snapshot written by EDM's code (test/fixtures/edm-snapshots), for the .pkl mutations. */
export const validSnapshot: Uint8Array = new Uint8Array(readFileSync(new URL('../fixtures/edm-snapshots/edm-adm-cond.pkl', import.meta.url)));

/** Offsets of the legacy torch.save files a snapshot embeds, one per storage (torch.storage._load_from_bytes). */
function legacyStarts(b: Uint8Array): number[] {
  const found: number[] = [];
  for (let p = b.indexOf(0x80); p >= 0 && p + LEGACY_MAGIC.length <= b.length; p = b.indexOf(0x80, p + 1)) {
    if (LEGACY_MAGIC.every((v, i) => b[p + i] === v)) found.push(p);
  }
  return found;
}

export const snapshotMutations: Record<string, Mutation> = {
  'pkl truncate': (b, r) => b.slice(0, r.int(b.length)),
  'pkl byte flips': (b, r) => {
    const c = b.slice();
    for (let k = 0; k < 1 + r.int(8); k++) c[r.int(c.length)] ^= 1 << r.int(8);
    return c;
  },
  'pkl structure bytes': (b, r) => {
    // the first kilobytes are opcodes, memo indices, names and init kwargs rather than weights
    const c = b.slice();
    for (let k = 0; k < 1 + r.int(4); k++) c[r.int(4096)] = r.int(256);
    return c;
  },
  'legacy header and counts': (b, r) => {
    // within one embedded legacy file: its magic, version, sys info, persistent id, key list and int64 count
    const c = b.slice();
    const starts = legacyStarts(c);
    const at = starts[r.int(starts.length)];
    for (let k = 0; k < 1 + r.int(3); k++) c[at + r.int(260)] = [0, 1, 0x7f, 0x80, 0xff, r.int(256)][r.int(6)];
    return c;
  },
};

/** .pkl mutations that can never leave a readable file. */
export const SNAPSHOT_ALWAYS_REFUSED = ['pkl truncate'];
