/**
 * Hand-made broken model files, byte by byte (no writer from src/ involved). Each one must be refused with a
 * ModelFileError whose message matches `expect`. The CLI tests reuse this list: exit code 2, one stderr line.
 */
import { NETWORK_TYPES } from '../../src/formats/network-types.ts';

export interface BrokenFile { name: string; bytes: Uint8Array; expect: RegExp }

/** u64 LE header length (default: the header's own length), the header bytes, the data bytes. */
export function rawSafetensors(header: string, data: number[] | Uint8Array = [], headerLength?: number): Uint8Array {
  const text = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + text.length + data.length);
  const view = new DataView(out.buffer);
  const n = headerLength ?? text.length;
  view.setUint32(0, n % 2 ** 32, true);
  view.setUint32(4, Math.floor(n / 2 ** 32), true);
  out.set(text, 8);
  out.set(data, 8 + text.length);
  return out;
}

export const f32Bytes = (...xs: number[]): number[] => {
  const b = new Uint8Array(4 * xs.length);
  const view = new DataView(b.buffer);
  xs.forEach((x, i) => view.setFloat32(4 * i, x, true));
  return [...b];
};

export const validMlpConfig = () => ({
  format: 'pid-studio/1',
  role: 'teacher',
  name: 'broken-file fixture',
  data: { shape: [2], range: [-1, 1] },
  edm: { sigma_data: 0.5, sigma_min: 0.002, sigma_max: 80, rho: 7 },
  network: { type: 'mlp', hidden: 4, blocks: 1, emb_dim: 2, emb_max_freq: 1 },
}) as Record<string, any>;

const mixtureConfig = (network: Record<string, unknown>) => ({
  ...validMlpConfig(),
  network: { type: 'gaussian-mixture', weights: [0.5, 0.5], means: [[0, 0], [1, 1]], stds: [0.1, 0.1], ...network },
});

const entry = (dtype: string, shape: unknown, offsets: unknown) => ({ dtype, shape, data_offsets: offsets });

/** A model file: metadata.pid_studio = JSON of `config` (or the raw string), then the given tensor entries. */
function model(config: unknown, entries: Record<string, unknown> = {}, data: number[] = []): Uint8Array {
  const pidStudio = typeof config === 'string' ? config : JSON.stringify(config);
  return rawSafetensors(JSON.stringify({ __metadata__: { pid_studio: pidStudio }, ...entries }), data);
}

const withByte = (bytes: Uint8Array, at: number, value: number) => { bytes[at] = value; return bytes; };

const w = entry('F32', [2, 2], [0, 16]);
const wData = f32Bytes(1, 2, 3, 4);

export function brokenModelFiles(): BrokenFile[] {
  const good = validMlpConfig();
  return [
    { name: 'truncated-length.safetensors', bytes: new Uint8Array([16, 0, 0, 0, 0]), expect: /5 bytes, shorter than the 8-byte/ },
    { name: 'empty.safetensors', bytes: new Uint8Array(0), expect: /0 bytes, shorter than the 8-byte/ },
    { name: 'zero-header.safetensors', bytes: rawSafetensors('', [1, 2, 3, 4]), expect: /header length is 0/ },
    { name: 'header-beyond-file.safetensors', bytes: rawSafetensors('{}', [], 1000), expect: /header length 1000 runs past the end of the file/ },
    { name: 'huge-header-length.safetensors', bytes: rawSafetensors('{}', [], 2 ** 40), expect: /header length 1099511627776 runs past the end of the file/ },
    { name: 'header-not-json.safetensors', bytes: rawSafetensors('{"w": {"dtype": "F32",'), expect: /header is not valid JSON/ },
    { name: 'header-not-utf8.safetensors', bytes: withByte(rawSafetensors('{"?": 1}'), 10, 0xff), expect: /header is not valid UTF-8/ },
    { name: 'header-array.safetensors', bytes: rawSafetensors('[]'), expect: /header must be a JSON object \(got an array\)/ },
    { name: 'metadata-not-string.safetensors', bytes: rawSafetensors(JSON.stringify({ __metadata__: { pid_studio: good } })), expect: /__metadata__ value 'pid_studio' must be a string \(got object\)/ },
    { name: 'no-pid-studio.safetensors', bytes: rawSafetensors(JSON.stringify({ w }), wData), expect: /no pid-studio config in __metadata__\.pid_studio, and as a bare state dict its network could not be recognised: .*found 'w'\. Fix: add the config, give a config\.json together with it/ },
    { name: 'config-not-json.safetensors', bytes: model('{"format": "pid-studio/1", ', { w }, wData), expect: /__metadata__\.pid_studio is not valid JSON/ },
    { name: 'wrong-format.safetensors', bytes: model({ ...good, format: 'pid-studio/2' }), expect: /config field "format" must be "pid-studio\/1" \(got "pid-studio\/2"\)/ },
    { name: 'unknown-network.safetensors', bytes: model({ ...good, network: { type: 'transformer' } }), expect: new RegExp(`"network\\.type" is "transformer", not a known network type \\(known: ${NETWORK_TYPES.join(', ')}\\)`) },
    { name: 'mixture-mean-length.safetensors', bytes: model(mixtureConfig({ means: [[0, 0], [1, 1, 1]] })), expect: /"network\.means\[1\]" must be an array of 2 finite numbers/ },
    { name: 'mixture-negative-std.safetensors', bytes: model(mixtureConfig({ stds: [0.1, -0.1] })), expect: /"network\.stds\[1\]" must be a positive finite number \(got -0\.1\)/ },
    { name: 'student-without-section.safetensors', bytes: model({ ...good, role: 'student' }), expect: /config field "student" is missing/ },
    { name: 'bad-sigma-min.safetensors', bytes: model({ ...good, edm: { ...good.edm, sigma_min: -1 } }), expect: /"edm\.sigma_min" must be a positive number smaller than edm\.sigma_max \(got -1\)/ },
    { name: 'nan-weight.safetensors', bytes: model(good, { w }, f32Bytes(1, 2, NaN, 4)), expect: /tensor 'w' holds NaN at index 2/ },
    { name: 'inf-f16-weight.safetensors', bytes: model(good, { h: entry('F16', [2], [0, 4]) }, [0x00, 0x3c, 0x00, 0x7c]), expect: /tensor 'h' holds Infinity at index 1/ },
    { name: 'dtype-f64.safetensors', bytes: model(good, { w: entry('F64', [1], [0, 8]) }, [0, 0, 0, 0, 0, 0, 0xf0, 0x3f]), expect: /tensor 'w' has dtype F64; only F32, F16, BF16 are read/ },
    { name: 'dtype-i64.safetensors', bytes: model(good, { step: entry('I64', [], [0, 8]) }, [1, 0, 0, 0, 0, 0, 0, 0]), expect: /tensor 'step' has dtype I64; only F32, F16, BF16 are read/ },
    { name: 'dtype-unknown.safetensors', bytes: model(good, { w: entry('Q4_K', [2], [0, 1]) }, [0]), expect: /tensor 'w' has unknown dtype Q4_K; only F32, F16, BF16 are read/ },
    { name: 'truncated-data.safetensors', bytes: model(good, { w }, wData.slice(0, 10)), expect: /tensor 'w' ends at byte 16 but the data section has only 10 bytes/ },
    { name: 'overlapping-offsets.safetensors', bytes: model(good, { a: entry('F32', [3], [0, 12]), b: entry('F32', [2], [8, 16]) }, wData), expect: /tensors 'a' and 'b' overlap/ },
    { name: 'gap-in-data.safetensors', bytes: model(good, { a: entry('F32', [1], [0, 4]), b: entry('F32', [1], [12, 16]) }, wData), expect: /bytes 4\.\.12 of the data section belong to no tensor/ },
    { name: 'trailing-bytes.safetensors', bytes: model(good, { w }, [...wData, 0, 0, 0, 0]), expect: /bytes 16\.\.20 of the data section belong to no tensor \(trailing bytes\)/ },
    { name: 'shape-bytes-mismatch.safetensors', bytes: model(good, { w: entry('F32', [2, 3], [0, 16]) }, wData), expect: /tensor 'w' has shape \[2,3\] of F32 \(24 bytes\) but data_offsets span 16 bytes/ },
    { name: 'negative-shape.safetensors', bytes: model(good, { w: entry('F32', [-2, 2], [0, 16]) }, wData), expect: /tensor 'w' has shape \[-2,2\]; a shape must be an array of non-negative integers/ },
    { name: 'shape-overflow.safetensors', bytes: model(good, { w: entry('F32', [2 ** 30, 2 ** 30, 2 ** 30], [0, 16]) }, wData), expect: /tensor 'w' has shape .* whose element count overflows/ },
    { name: 'reversed-offsets.safetensors', bytes: model(good, { w: entry('F32', [2, 2], [16, 0]) }, wData), expect: /tensor 'w' has data_offsets \[16,0\]; they must be \[begin, end\]/ },
    { name: 'missing-offsets.safetensors', bytes: model(good, { w: { dtype: 'F32', shape: [2, 2] } }, wData), expect: /tensor 'w' has no "data_offsets" key/ },
    { name: 'extra-entry-key.safetensors', bytes: model(good, { w: { ...w, crc32: 0 } }, wData), expect: /tensor 'w' has an unexpected key 'crc32'/ },
    { name: 'entry-not-object.safetensors', bytes: model(good, { w: 'F32' }), expect: /tensor 'w' must be an object \{dtype, shape, data_offsets\} \(got string\)/ },
  ];
}
