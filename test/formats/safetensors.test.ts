import { describe, it, expect } from 'vitest';
import { ModelFileError } from '../../src/formats/errors.ts';
import { f32ToBf16Bits, f32ToF16Bits } from '../../src/formats/float16.ts';
import { readSafetensors, writeSafetensors, type NamedTensor } from '../../src/formats/safetensors.ts';

/** A safetensors file assembled byte by byte: u64 LE header length, the header text, the data bytes. */
function handMade(header: string, data: number[], headerLen = header.length): Uint8Array {
  const out = new Uint8Array(8 + header.length + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, headerLen, true);
  view.setUint32(4, 0, true);
  for (let i = 0; i < header.length; i++) out[8 + i] = header.charCodeAt(i); // ASCII headers only
  out.set(data, 8 + header.length);
  return out;
}

const f32Bytes = (...xs: number[]) => {
  const b = new Uint8Array(4 * xs.length);
  xs.forEach((x, i) => new DataView(b.buffer).setFloat32(4 * i, x, true));
  return [...b];
};
const u16Bytes = (...bits: number[]) => bits.flatMap((b) => [b & 0xff, b >> 8]);

describe('writeSafetensors / readSafetensors', () => {
  it('round-trips several tensors, including a scalar and a zero-size tensor', () => {
    const tensors: Record<string, NamedTensor> = {
      'b.weight': { shape: [2, 3], data: Float32Array.from([1, -2, 3.5, 1e-30, -0, 65504]) },
      'a.bias': { shape: [3], data: Float32Array.from([0.1, 0.2, 0.3]) },
      scale: { shape: [], data: Float32Array.from([7]) },
      empty: { shape: [0, 4], data: new Float32Array(0) },
    };
    const bytes = writeSafetensors(tensors, { note: 'hello', pid_studio: '{"x": 1}' });
    const { tensors: read, metadata } = readSafetensors(bytes, 'rt.safetensors');
    expect(metadata).toEqual({ note: 'hello', pid_studio: '{"x": 1}' });
    expect([...read.keys()].sort()).toEqual(['a.bias', 'b.weight', 'empty', 'scale']);
    for (const [name, t] of Object.entries(tensors)) {
      const r = read.get(name)!;
      expect(r.dtype).toBe('F32');
      expect(r.shape).toEqual(t.shape);
      expect(r.data).toEqual(t.data);
    }
  });

  it('writes the layout the format requires: padded header, sorted names, contiguous offsets', () => {
    const bytes = writeSafetensors(new Map([
      ['z', { shape: [1], data: Float32Array.from([1]) }],
      ['a', { shape: [2], data: Float32Array.from([2, 3]) }],
    ]));
    const view = new DataView(bytes.buffer);
    const n = view.getUint32(0, true);
    expect(view.getUint32(4, true)).toBe(0);
    expect(n % 8).toBe(0);
    const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    expect(text).toMatch(/^\{.*\} *$/);
    expect(JSON.parse(text)).toEqual({
      a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
      z: { dtype: 'F32', shape: [1], data_offsets: [8, 12] },
    });
    expect(text.indexOf('"a"')).toBeLessThan(text.indexOf('"z"'));
    expect(bytes.length).toBe(8 + n + 12);
    expect([view.getFloat32(8 + n, true), view.getFloat32(12 + n, true), view.getFloat32(16 + n, true)]).toEqual([2, 3, 1]);
  });

  it('reads a file built by hand, with unaligned tensor data', () => {
    // Header of odd length: the data section (and so every tensor) starts at an unaligned byte offset.
    const header = '{"__metadata__":{"k":"v"},"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[1],"data_offsets":[16,20]}}';
    expect(header.length % 4).not.toBe(0);
    const bytes = handMade(header, [...f32Bytes(1, 2, 3, 4), ...f32Bytes(-0.5)]);
    const { tensors, metadata } = readSafetensors(bytes, 'hand.safetensors');
    expect(metadata).toEqual({ k: 'v' });
    expect(tensors.get('w')).toEqual({ dtype: 'F32', shape: [2, 2], data: Float32Array.from([1, 2, 3, 4]) });
    expect(tensors.get('b')!.data).toEqual(Float32Array.from([-0.5]));
  });

  it('reads from a subarray of a larger buffer', () => {
    const inner = writeSafetensors({ x: { shape: [2], data: Float32Array.from([5, 6]) } });
    const outer = new Uint8Array(inner.length + 3);
    outer.set(inner, 3);
    expect(readSafetensors(outer.subarray(3), 'sub.safetensors').tensors.get('x')!.data).toEqual(Float32Array.from([5, 6]));
  });

  it('reads F16 and BF16 tensors from hand-built bytes', () => {
    const header = '{"h":{"dtype":"F16","shape":[5],"data_offsets":[0,10]},"g":{"dtype":"BF16","shape":[1,3],"data_offsets":[10,16]}}';
    const bytes = handMade(header, [
      ...u16Bytes(0x3c00, 0xc000, 0x7bff, 0x0001, 0x8000),
      ...u16Bytes(0x3f80, 0x4049, f32ToBf16Bits(-0.2)),
    ]);
    const { tensors } = readSafetensors(bytes, 'half.safetensors');
    expect(tensors.get('h')!.dtype).toBe('F16');
    expect(tensors.get('h')!.data).toEqual(Float32Array.from([1, -2, 65504, 2 ** -24, -0]));
    expect(tensors.get('g')).toEqual({ dtype: 'BF16', shape: [1, 3], data: Float32Array.from([1, 3.140625, -0.2001953125]) });
    expect(f32ToF16Bits(0.5)).toBe(0x3800);
  });

  it('accepts a header without tensors, and an empty __metadata__', () => {
    const { tensors, metadata } = readSafetensors(handMade('{"__metadata__":{}}', []), 'empty.safetensors');
    expect(tensors.size).toBe(0);
    expect(metadata).toEqual({});
  });

  it('rejects tensors with NaN or Inf, naming the index, for every dtype', () => {
    const cases: [string, number[], RegExp][] = [
      ['F32', f32Bytes(0, 1, NaN), /tensor 'w' holds NaN at index 2/],
      ['F16', u16Bytes(0x3c00, 0xfc00, 0), /tensor 'w' holds -Infinity at index 1/],
      ['BF16', u16Bytes(0x7fc0, 0, 0), /tensor 'w' holds NaN at index 0/],
    ];
    for (const [dtype, data, re] of cases) {
      const header = `{"w":{"dtype":"${dtype}","shape":[3],"data_offsets":[0,${data.length}]}}`;
      expect(() => readSafetensors(handMade(header, data), 'nan.safetensors')).toThrow(re);
    }
  });

  it('wraps every structural problem in a one-line ModelFileError', () => {
    const t = (entries: string, data: number[] = []) => handMade(`{${entries}}`, data);
    const e = (dtype: string, shape: string, offsets: string) => `{"dtype":"${dtype}","shape":${shape},"data_offsets":${offsets}}`;
    const cases: [Uint8Array, RegExp][] = [
      [new Uint8Array(7), /7 bytes, shorter than the 8-byte/],
      [handMade('{}', [], 0), /header length is 0/],
      [handMade('{"a":', []), /header is not valid JSON \(/],
      [handMade('{}', [], 99), /header length 99 runs past the end of the file/],
      [handMade('"abc"', []), /must be a JSON object \(got string\)/],
      [handMade('null', []), /must be a JSON object \(got null\)/],
      [handMade('{"__metadata__":[1]}', []), /__metadata__ must be an object of string values/],
      [handMade('{"__metadata__":{"a":1}}', []), /__metadata__ value 'a' must be a string \(got number\)/],
      [t(`"x":[1]`), /tensor 'x' must be an object/],
      [t(`"x":{"dtype":"F32","shape":[1]}`, f32Bytes(1)), /tensor 'x' has no "data_offsets" key/],
      [t(`"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"crc":1}`, f32Bytes(1)), /tensor 'x' has an unexpected key 'crc'/],
      [t(`"x":${e('I64', '[1]', '[0,8]')}`, [0, 0, 0, 0, 0, 0, 0, 0]), /tensor 'x' has dtype I64; only F32, F16, BF16 are read/],
      [t(`"x":${e('Q4', '[1]', '[0,1]')}`, [0]), /tensor 'x' has unknown dtype Q4; only F32, F16, BF16 are read/],
      [t(`"x":{"dtype":7,"shape":[1],"data_offsets":[0,4]}`, f32Bytes(1)), /dtype that is not a string/],
      [t(`"x":${e('F32', '[2,-1]', '[0,4]')}`, f32Bytes(1)), /shape \[2,-1\]; a shape must be an array of non-negative integers/],
      [t(`"x":${e('F32', '[1.5]', '[0,4]')}`, f32Bytes(1)), /shape \[1.5\]/],
      [t(`"x":${e('F32', '"3"', '[0,4]')}`, f32Bytes(1)), /shape "3"/],
      [t(`"x":${e('F32', '[4294967296,4294967296]', '[0,4]')}`, f32Bytes(1)), /element count overflows/],
      [t(`"x":${e('F32', '[1]', '[4,0]')}`, f32Bytes(1)), /data_offsets \[4,0\]; they must be \[begin, end\]/],
      [t(`"x":${e('F32', '[1]', '[0]')}`, f32Bytes(1)), /data_offsets \[0\]/],
      [t(`"x":${e('F32', '[1]', '[0,4.5]')}`, f32Bytes(1)), /data_offsets \[0,4.5\]/],
      [t(`"x":${e('F32', '[2]', '[0,8]')}`, f32Bytes(1)), /ends at byte 8 but the data section has only 4 bytes/],
      [t(`"x":${e('F32', '[2]', '[0,4]')}`, f32Bytes(1)), /shape \[2\] of F32 \(8 bytes\) but data_offsets span 4 bytes/],
      [t(`"x":${e('F32', '[2]', '[0,8]')},"y":${e('F32', '[1]', '[4,8]')}`, f32Bytes(1, 2)), /tensors 'x' and 'y' overlap/],
      [t(`"x":${e('F32', '[1]', '[0,4]')},"y":${e('F32', '[1]', '[8,12]')}`, f32Bytes(1, 2, 3)), /bytes 4..8 of the data section belong to no tensor \(gap before 'y'\)/],
      [t(`"x":${e('F32', '[1]', '[0,4]')}`, f32Bytes(1, 2)), /bytes 4..8 .* \(trailing bytes\)/],
      [t(`"a\\nb":${e('Q4', '[1]', '[0,1]')}`, [0]), /tensor 'a\\u000ab' has unknown dtype/],
    ];
    for (const [bytes, re] of cases) {
      let err: unknown;
      try { readSafetensors(bytes, 'bad.safetensors'); } catch (x) { err = x; }
      expect(err, String(re)).toBeInstanceOf(ModelFileError);
      const msg = (err as Error).message;
      expect(msg).toMatch(re);
      expect(msg.startsWith('bad.safetensors: ')).toBe(true);
      expect(msg).not.toContain('\n');
    }
  });

  it('rejects a header that is not UTF-8, and a huge declared header length without allocating it', () => {
    const bad = handMade('{"a":1}', []);
    bad[10] = 0xff;
    expect(() => readSafetensors(bad, 'f')).toThrow(/not valid UTF-8/);
    const huge = new Uint8Array(16);
    new DataView(huge.buffer).setUint32(4, 256, true); // 2^40
    expect(() => readSafetensors(huge, 'f')).toThrow(/header length 1099511627776 runs past the end/);
    const max = new Uint8Array(16).fill(0xff);
    expect(() => readSafetensors(max, 'f')).toThrow(ModelFileError);
  });

  it('refuses to write what it could not read back', () => {
    expect(() => writeSafetensors({ x: { shape: [3], data: new Float32Array(2) } })).toThrow(/shape \[3\] but 2 values/);
    expect(() => writeSafetensors({ x: { shape: [1], data: Float32Array.from([NaN]) } })).toThrow(/NaN at index 0/);
  });
});

describe('readSafetensors header limit', () => {
  it('refuses a header longer than 100 MB even when the file holds it', () => {
    const n = 100 * 1024 * 1024 + 8;
    const bytes = new Uint8Array(8 + n);
    new DataView(bytes.buffer).setUint32(0, n, true);
    expect(() => readSafetensors(bytes, 'big.safetensors')).toThrow(/^big\.safetensors: header length 104857608 is larger than the 100 MB limit/);
  });
});
