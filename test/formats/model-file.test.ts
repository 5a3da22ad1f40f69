import { describe, it, expect } from 'vitest';
import { createHash } from 'node:crypto';
import { parseConfig } from '../../src/formats/config.ts';
import { ModelFileError } from '../../src/formats/errors.ts';
import { readModelFile, sha256Hex, writeModelFile, type InputFile } from '../../src/formats/model-file.ts';
import { readSafetensors, writeSafetensors, type NamedTensor } from '../../src/formats/safetensors.ts';
import { validMlpConfig } from './broken-files.ts';

const config = parseConfig(validMlpConfig(), 'fixture');
const tensors = new Map<string, NamedTensor>([
  ['in.weight', { shape: [4, 2], data: Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]) }],
  ['in.bias', { shape: [4], data: Float32Array.from([0, -1, 0.5, 2]) }],
]);
const json = (v: unknown): InputFile => ({ name: 'config.json', bytes: new TextEncoder().encode(JSON.stringify(v)) });

async function refused(files: InputFile[], re: RegExp, fileName?: string) {
  const err = await readModelFile(files).then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(ModelFileError);
  const msg = (err as Error).message;
  expect(msg).toMatch(re);
  if (fileName) expect(msg.startsWith(`${fileName}: `)).toBe(true);
  expect(msg).not.toContain('\n');
}

describe('sha256Hex', () => {
  it('matches known digests and node:crypto', async () => {
    expect(await sha256Hex(new TextEncoder().encode('abc'))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(await sha256Hex(new Uint8Array(0))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    const big = new Uint8Array(100_003).map((_, i) => (i * 31) & 0xff);
    expect(await sha256Hex(big.subarray(3))).toBe(createHash('sha256').update(big.subarray(3)).digest('hex'));
  });
});

describe('readModelFile / writeModelFile', () => {
  it('round-trips a model in one .safetensors file, the config in __metadata__.pid_studio', async () => {
    const bytes = writeModelFile(config, tensors);
    expect(JSON.parse(readSafetensors(bytes, 'm').metadata.pid_studio)).toEqual(config);
    const model = await readModelFile([{ name: 'dir/teacher.safetensors', bytes }]);
    expect(model.fileName).toBe('dir/teacher.safetensors');
    expect(model.config).toEqual(config);
    expect([...model.tensors.keys()].sort()).toEqual(['in.bias', 'in.weight']);
    expect(model.tensors.get('in.weight')!.data).toEqual(tensors.get('in.weight')!.data);
    expect(model.tensors.get('in.weight')!.shape).toEqual([4, 2]);
    expect(model.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
  });

  it('reads a tensor-less gaussian-mixture teacher', async () => {
    const gm = parseConfig({ ...validMlpConfig(), network: { type: 'gaussian-mixture', weights: [2], means: [[0, 1]], stds: [1] } }, 'x');
    const model = await readModelFile([{ name: 'gm.safetensors', bytes: writeModelFile(gm, new Map()) }]);
    expect(model.tensors.size).toBe(0);
    expect(model.config.network).toEqual({ type: 'gaussian-mixture', weights: [1], means: [[0, 1]], stds: [1] });
  });

  it('reads a config.json + .safetensors pair in either order; config.json wins over embedded metadata', async () => {
    const plain = writeSafetensors(tensors);
    const embedded = writeModelFile({ ...config, name: 'embedded' }, tensors);
    const fromJson = { ...validMlpConfig(), name: 'from config.json' };
    for (const files of [[json(fromJson), { name: 'w.safetensors', bytes: plain }], [{ name: 'w.safetensors', bytes: embedded }, json(fromJson)]]) {
      const model = await readModelFile(files);
      expect(model.config.name).toBe('from config.json');
      expect(model.fileName).toBe('w.safetensors');
      expect(model.sha256).toBe(await sha256Hex(files.find((f) => f.name === 'w.safetensors')!.bytes));
      expect(model.tensors.get('in.bias')!.data).toEqual(tensors.get('in.bias')!.data);
    }
  });

  it('accepts a config.json with a byte-order mark', async () => {
    const bytes = new Uint8Array([0xef, 0xbb, 0xbf, ...json(validMlpConfig()).bytes]);
    const model = await readModelFile([{ name: 'config.json', bytes }, { name: 'w.safetensors', bytes: writeSafetensors(tensors) }]);
    expect(model.config.name).toBe(config.name);
  });

  it('refuses wrong sets of files', async () => {
    const st = { name: 'a.safetensors', bytes: writeModelFile(config, tensors) };
    await refused([], /^\(no file\): no model file given\. Fix: give one \.safetensors file, or a config\.json together with its \.safetensors file$/);
    await refused([st, st, json(config)], /^a\.safetensors, a\.safetensors, config\.json: 3 files given/);
    await refused([st, { ...st, name: 'b.safetensors' }], /^a\.safetensors, b\.safetensors: two files that are not a config\.json \+ \.safetensors pair/);
    await refused([json(config), json(config)], /two files that are not a config\.json \+ \.safetensors pair/);
    await refused([json(config)], /^config\.json: a config\.json alone has no weights\. Fix: give it together with its \.safetensors file$/);
    await refused([{ name: 'model.bin', bytes: st.bytes }], /^model\.bin: not a \.safetensors file/);
  });

  it('refuses a broken config.json, naming config.json', async () => {
    const st = { name: 'a.safetensors', bytes: writeSafetensors(tensors) };
    await refused([st, { name: 'config.json', bytes: new TextEncoder().encode('{"format": ') }], /config\.json: not valid JSON \(.*\)\. Fix: fix the JSON syntax/, 'config.json');
    await refused([st, { name: 'config.json', bytes: new Uint8Array([0x7b, 0xff, 0x7d]) }], /not valid UTF-8/, 'config.json');
    await refused([st, json({ ...validMlpConfig(), role: 'critic' })], /config field "role" must be "teacher" or "student"/, 'config.json');
    await refused([st, json([1, 2])], /pid-studio config must be a JSON object \(got an array\)/, 'config.json');
  });

  it('refuses a broken .safetensors even when config.json is fine, naming the .safetensors', async () => {
    await refused([json(validMlpConfig()), { name: 'a.safetensors', bytes: new Uint8Array(3) }], /shorter than the 8-byte/, 'a.safetensors');
  });

  it('writeModelFile refuses an invalid config', () => {
    expect(() => writeModelFile({ ...config, edm: { ...config.edm, rho: -1 } }, tensors)).toThrow(/"edm\.rho"/);
  });
});
