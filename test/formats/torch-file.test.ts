/**
 * PyTorch state dicts against real PyTorch: files made by torch.save (test/torch/make_fixtures.py) are read
 * bit for bit, files our writer makes are loaded back by torch.load(weights_only=True) and load_state_dict
 * (test/torch/check_exports.py), and hostile or broken files are refused in one line. Needs Debian's
 * python3-torch at /usr/bin/python3; without it these tests fail (they never skip).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelFileError } from '../../src/formats/errors';
import { isTorchZip, readTorchStateDict, writeTorchStateDict } from '../../src/formats/torch-file';
import type { NamedTensor } from '../../src/formats/safetensors';
import { readStoredZip, writeStoredZip } from '../../src/formats/zip';

const PYTHON = '/usr/bin/python3';
const SCRIPTS = join(import.meta.dirname, '..', 'torch');

interface Expected { taken: string; prefix: string; tensors: Record<string, { shape: number[]; dtype: string; f32: string }> }
let dir = '';
let expected: Record<string, Expected> = {};
let marker = '';

function python(args: string[]): string {
  return execFileSync(PYTHON, args, { encoding: 'utf8', env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pid-torch-'));
  try {
    python([join(SCRIPTS, 'make_fixtures.py'), dir]);
  } catch (e) {
    const stderr = String((e as { stderr?: string }).stderr ?? e);
    if (/No module named 'torch'|ENOENT/.test(stderr) || (e as { code?: string }).code === 'ENOENT') {
      throw new Error(`${PYTHON} cannot import torch, which these tests compare against: install Debian's python3-torch (apt-get install python3-torch), as CI does`);
    }
    throw new Error(`make_fixtures.py failed: ${stderr}`);
  }
  ({ expected, marker } = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')));
});
afterAll(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

const fixture = (name: string) => new Uint8Array(readFileSync(join(dir, name)));
const f32Hex = (data: Float32Array) => Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('hex');

function expectAsTorchReadIt(name: string, zip = true): void {
  const bytes = fixture(name);
  expect(isTorchZip(bytes)).toBe(zip);
  const sd = readTorchStateDict(bytes, name);
  const want = expected[name];
  expect({ taken: sd.taken, prefix: sd.prefix }).toEqual({ taken: want.taken, prefix: want.prefix });
  expect([...sd.tensors.keys()]).toEqual(Object.keys(want.tensors));
  for (const [key, t] of sd.tensors) {
    const w = want.tensors[key];
    expect({ key, shape: t.shape, dtype: t.dtype }).toEqual({ key, shape: w.shape, dtype: w.dtype });
    expect(f32Hex(t.data), key).toBe(w.f32);
  }
}

describe('torch.save files read as torch reads them', () => {
  it('float32, float16, bfloat16, float64 tensors, a transposed view, two tensors sharing one storage, a scalar and an empty tensor, bit for bit', () => {
    expectAsTorchReadIt('dtypes.pt');
  });
  it('the same from a legacy (pre-1.6, not zip) torch.save file, bit for bit', () => {
    expectAsTorchReadIt('legacy.pt', false);
  });
  it('pickle protocol 4, an nn.Parameter, and int64, int32, uint8 and bool tensors (read as numbers)', () => {
    expectAsTorchReadIt('protocol4.pt');
  });
  it("an nn.Module's state dict (an OrderedDict with _metadata)", () => {
    expectAsTorchReadIt('module.pt');
  });
  it('a checkpoint {model, ema, opt, step} gives its EMA weights and ignores the optimiser state', () => {
    expectAsTorchReadIt('checkpoint.pt');
  });
  it("strips a DataParallel 'module.' prefix and an EDM 'model.' prefix, and reports it", () => {
    expectAsTorchReadIt('parallel.pt');
    expectAsTorchReadIt('edm-prefix.pt');
  });
});

describe('files written by writeTorchStateDict', () => {
  it('are read by torch.load(weights_only=True) with the same names, shapes and values, and load_state_dict(strict=True) takes them', () => {
    const module = readTorchStateDict(fixture('module.pt'), 'module.pt').tensors;
    const odd = new Map<string, NamedTensor>([
      ['scalar', { shape: [], data: new Float32Array([-2.5]) }],
      ['empty', { shape: [0, 4], data: new Float32Array(0) }],
      ['five.d', { shape: [1, 2, 1, 3, 2], data: Float32Array.from({ length: 12 }, (_, i) => Math.fround(Math.sin(i) * 1e3)) }],
      ['wide', { shape: [70000], data: Float32Array.from({ length: 70000 }, (_, i) => i - 35000.5) }],
      ['ünïcode name', { shape: [2], data: new Float32Array([Number.MIN_VALUE, -3.4e38]) }],
    ]);
    const files = [
      { path: join(dir, 'ours-module.pt'), tensors: module, archive: 'archive', load_into_small: true, zip64: false },
      { path: join(dir, 'ours-odd.pt'), tensors: odd, archive: 'ours-odd', load_into_small: false, zip64: false },
      // also checks that asZip64 (below) writes what PyTorch reads as zip64
      { path: join(dir, 'ours-zip64.pt'), tensors: module, archive: 'archive', load_into_small: true, zip64: true },
    ];
    for (const f of files) {
      const written = writeTorchStateDict(f.tensors, f.archive);
      const bytes = f.zip64 ? asZip64(written) : written;
      writeFileSync(f.path, bytes);
      // and our own reader gives back exactly what was written
      const back = readTorchStateDict(bytes, 'ours.pt').tensors;
      expect([...back.keys()]).toEqual([...f.tensors.keys()]);
      for (const [k, t] of f.tensors) expect(f32Hex(back.get(k)!.data)).toBe(f32Hex(t.data));
    }
    const manifest = {
      files: files.map((f) => ({
        path: f.path,
        load_into_small: f.load_into_small,
        tensors: Object.fromEntries([...f.tensors].map(([k, t]) => [k, { shape: t.shape, f32: f32Hex(t.data) }])),
      })),
    };
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
    const result = JSON.parse(python([join(SCRIPTS, 'check_exports.py'), join(dir, 'manifest.json')]));
    expect(result.problems).toEqual([]);
    expect(result.ok).toBe(true);
  });

  it('align every entry to 64 bytes and carry version 3 and byteorder little', () => {
    const bytes = writeTorchStateDict(new Map([['w', { shape: [3], data: new Float32Array([1, 2, 3]) }]]));
    const zip = readStoredZip(bytes, 'w.pt');
    expect([...zip.entries.keys()]).toEqual(['archive/data.pkl', 'archive/byteorder', 'archive/data/0', 'archive/version']);
    for (const e of zip.entries.values()) expect(e.dataStart % 64).toBe(0);
    expect(new TextDecoder().decode(zip.read('archive/version'))).toBe('3\n');
    expect(new TextDecoder().decode(zip.read('archive/byteorder'))).toBe('little');
  });
});

/**
 * Our writer's archive rewritten the way a zip64 writer lays out a file past 4 GiB: every central entry's size,
 * compressed size and local offset are 0xffffffff with the values in a zip64 extra field, and the end record
 * points through a zip64 locator to a zip64 end record.
 */
function asZip64(bytes: Uint8Array): Uint8Array {
  const zip = readStoredZip(bytes, 'x');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const cdOffset = view.getUint32(bytes.length - 22 + 16, true);
  const parts: Uint8Array[] = [bytes.subarray(0, cdOffset)];
  let p = cdOffset;
  for (const e of zip.entries.values()) {
    const nameLen = view.getUint16(p + 28, true);
    const head = bytes.slice(p, p + 46 + nameLen);
    const h = new DataView(head.buffer);
    const local = h.getUint32(42, true);
    h.setUint32(20, 0xffffffff, true);
    h.setUint32(24, 0xffffffff, true);
    h.setUint32(42, 0xffffffff, true);
    h.setUint16(30, 28, true);
    const extra = new DataView(new ArrayBuffer(28));
    extra.setUint16(0, 0x0001, true);
    extra.setUint16(2, 24, true);
    extra.setBigUint64(4, BigInt(e.size), true);
    extra.setBigUint64(12, BigInt(e.size), true);
    extra.setBigUint64(20, BigInt(local), true);
    parts.push(head, new Uint8Array(extra.buffer));
    p += 46 + nameLen;
  }
  const cdSize = parts.slice(1).reduce((s, b) => s + b.length, 0);
  const end = new DataView(new ArrayBuffer(56 + 20 + 22));
  end.setUint32(0, 0x06064b50, true);
  end.setBigUint64(4, 44n, true);
  end.setBigUint64(24, BigInt(zip.entries.size), true);
  end.setBigUint64(32, BigInt(zip.entries.size), true);
  end.setBigUint64(40, BigInt(cdSize), true);
  end.setBigUint64(48, BigInt(cdOffset), true);
  end.setUint32(56, 0x07064b50, true);
  end.setBigUint64(64, BigInt(cdOffset + cdSize), true);
  end.setUint32(72, 1, true);
  end.setUint32(76, 0x06054b50, true);
  end.setUint16(84, 0xffff, true);
  end.setUint16(86, 0xffff, true);
  end.setUint32(88, 0xffffffff, true);
  end.setUint32(92, 0xffffffff, true);
  parts.push(new Uint8Array(end.buffer));
  const out = new Uint8Array(parts.reduce((s, b) => s + b.length, 0));
  parts.reduce((at, b) => { out.set(b, at); return at + b.length; }, 0);
  return out;
}

describe('zip64 archives', () => {
  it('are read through the zip64 end record and the zip64 extra fields of the central directory', () => {
    const tensors = new Map([['w', { shape: [2, 2], data: new Float32Array([1, -2, 3.5, 4]) }], ['b', { shape: [1], data: new Float32Array([9]) }]]);
    const bytes = asZip64(writeTorchStateDict(tensors));
    const back = readTorchStateDict(bytes, 'zip64.pt').tensors;
    expect([...back.get('w')!.data]).toEqual([1, -2, 3.5, 4]);
    expect([...back.get('b')!.data]).toEqual([9]);
    const noLocator = bytes.slice();
    new DataView(noLocator.buffer).setUint32(bytes.length - 22 - 20, 0, true);
    expect(refusal(noLocator, 'zip64.pt')).toMatch(/needs zip64 records but has none/);
  });
});

/** Reads the file and returns the one-line ModelFileError message, checking it came within a second. */
function refusal(bytes: Uint8Array, name: string): string {
  const start = performance.now();
  let error: unknown;
  try {
    readTorchStateDict(bytes, name);
  } catch (e) {
    error = e;
  }
  expect(performance.now() - start).toBeLessThan(1000);
  expect(error).toBeInstanceOf(ModelFileError);
  const message = (error as ModelFileError).message;
  expect(message.startsWith(`${name}: `)).toBe(true);
  expect(message).not.toMatch(/\n/);
  return message;
}

/** A zip whose data.pkl is the given pickle bytes, as torch.save would lay it out. */
function zipWithPickle(pickle: number[] | Uint8Array): Uint8Array {
  return writeStoredZip([
    { name: 'archive/data.pkl', bytes: Uint8Array.from(pickle) },
    { name: 'archive/version', bytes: new TextEncoder().encode('3\n') },
  ]);
}
const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0));

describe('hostile and broken files are refused in one line, within a second', () => {
  it("a pickle calling posix.system through REDUCE: named, and the command never runs", () => {
    const message = refusal(fixture('exploit.pt'), 'exploit.pt');
    expect(message).toMatch(/global 'posix\.system'.*never run.*Fix: .*torch\.save\(model\.state_dict\(\)/);
    expect(existsSync(marker)).toBe(false);
  });
  it('hand-made pickles: GLOBAL builtins.eval, STACK_GLOBAL os.system, an unknown opcode', () => {
    const viaGlobal = [0x80, 2, 0x63, ...ascii('builtins\neval\n'), 0x58, 4, 0, 0, 0, ...ascii('1+1)'), 0x85, 0x52, 0x2e];
    expect(refusal(zipWithPickle(viaGlobal), 'eval.pt')).toMatch(/global 'builtins\.eval'/);
    const viaStack = [0x80, 4, 0x8c, 2, ...ascii('os'), 0x94, 0x8c, 6, ...ascii('system'), 0x94, 0x93, 0x8c, 2, ...ascii('ls'), 0x85, 0x52, 0x2e];
    expect(refusal(zipWithPickle(viaStack), 'stack.pt')).toMatch(/global 'os\.system'/);
    const inst = [0x80, 2, 0x28, 0x69, ...ascii('os\nsystem\n'), 0x2e];
    expect(refusal(zipWithPickle(inst), 'inst.pt')).toMatch(/opcode INST/);
  });
  it('a pickled nn.Module object (torch.save(model) of a whole module) names its class', () => {
    expect(refusal(fixture('whole-module.pt'), 'whole-module.pt')).toMatch(/global 'small_net\.Small'.*Fix: save the weights as a state dict/);
  });
  it('a truncated zip', () => {
    const bytes = fixture('module.pt');
    for (const keep of [bytes.length - 1, bytes.length - 30, Math.floor(bytes.length / 2), 100, 3]) {
      expect(refusal(bytes.slice(0, keep), 'cut.pt')).toMatch(/end-of-central-directory|truncated|zip/);
    }
  });
  it('a central-directory entry whose size runs past the end of the file', () => {
    const bytes = writeTorchStateDict(new Map([['w', { shape: [4], data: new Float32Array(4) }]]));
    const view = new DataView(bytes.buffer);
    const zip = readStoredZip(bytes, 'x');
    const cd = bytes.length - 22 - [...zip.entries.keys()].reduce((s, n) => s + 46 + n.length, 0);
    let p = cd + 46 + 'archive/data.pkl'.length + 46 + 'archive/byteorder'.length; // third entry: archive/data/0
    expect(view.getUint32(p, true)).toBe(0x02014b50);
    view.setUint32(p + 20, 0x7fffffff, true);
    view.setUint32(p + 24, 0x7fffffff, true);
    expect(refusal(bytes, 'long.pt')).toMatch(/zip entry 'archive\/data\/0' of 2147483647 bytes .* runs past/);
    p = cd;
    view.setUint32(p + 42, bytes.length - 10, true);
    expect(refusal(bytes, 'offset.pt')).toMatch(/local header at byte/);
  });
  it('an unknown storage type is named', () => {
    expect(refusal(fixture('unknown-storage.pt'), 'unknown-storage.pt')).toMatch(/storage type 'torch\.QuantStorage', which is not read/);
  });
  it('a deflated entry: re-compressed after saving', () => {
    expect(refusal(fixture('deflated.pt'), 'deflated.pt')).toMatch(/compressed \(zip method 8, deflate\).*re-compressed.*Fix: save it again with torch\.save/);
  });
  it('a damaged entry fails its CRC-32', () => {
    const bytes = writeTorchStateDict(new Map([['w', { shape: [4], data: new Float32Array([1, 2, 3, 4]) }]]));
    const data = readStoredZip(bytes, 'x').entries.get('archive/data/0')!;
    bytes[data.dataStart + 5] ^= 0x10;
    expect(refusal(bytes, 'crc.pt')).toMatch(/zip entry 'archive\/data\/0' has CRC-32 .* \(file damaged\?\)/);
  });
  it("a bare pickle (EDM's network-snapshot-*.pkl) as a state dict", () => {
    expect(refusal(fixture('bare.pkl'), 'bare.pkl')).toMatch(/bare Python pickle.*Fix: give an EDM network-snapshot-\*\.pkl as a model file of its own.*\['ema'\]\.state_dict\(\), 'net\.pt'\)/);
  });
  it('a checkpoint with no state dict lists its top-level keys', () => {
    const pickle = [0x80, 2, 0x7d, 0x28, 0x58, 4, 0, 0, 0, ...ascii('step'), 0x4b, 7, 0x58, 3, 0, 0, 0, ...ascii('opt'), 0x7d, 0x75, 0x2e];
    expect(refusal(zipWithPickle(pickle), 'ckpt.pt')).toMatch(/no state dict: .*top-level keys 'step', 'opt'/);
  });
  it('a tensor reaching past its storage', () => {
    const bytes = writeTorchStateDict(new Map([['w', { shape: [2, 3], data: new Float32Array(6) }]]));
    const zip = readStoredZip(bytes, 'x');
    const pickle = zip.read('archive/data.pkl').slice();
    // the size tuple (2, 3) is BININT1 2, BININT1 3, TUPLE2: make it (2, 4)
    const at = pickle.findIndex((b, i) => b === 0x4b && pickle[i + 1] === 2 && pickle[i + 2] === 0x4b && pickle[i + 3] === 3 && pickle[i + 4] === 0x86);
    expect(at).toBeGreaterThan(0);
    pickle[at + 3] = 4;
    const patched = writeStoredZip([...zip.entries.keys()].map((name) => ({ name, bytes: name.endsWith('data.pkl') ? pickle : zip.read(name) })));
    expect(refusal(patched, 'reach.pt')).toMatch(/size \[2,4\], stride \[3,1\] at offset 0 reaches element 6 of a storage of 6 elements/);
  });
});
