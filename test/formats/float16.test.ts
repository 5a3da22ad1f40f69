import { describe, it, expect } from 'vitest';
import { bf16ToF32, f16ToF32, f32ToBf16Bits, f32ToF16Bits } from '../../src/formats/float16.ts';

describe('f16ToF32', () => {
  it.each([
    [0x3c00, 1], [0xc000, -2], [0x7bff, 65504], [0x0001, 2 ** -24], [0x03ff, 1023 * 2 ** -24],
    [0x0400, 2 ** -14], [0x3555, 0.333251953125], [0x7c00, Infinity], [0xfc00, -Infinity], [0x0000, 0],
  ])('decodes bits %i to %s', (bits, value) => {
    expect(f16ToF32(bits)).toBe(value);
  });
  it('keeps the sign of zero and decodes NaN', () => {
    expect(Object.is(f16ToF32(0x8000), -0)).toBe(true);
    expect(f16ToF32(0x7e00)).toBeNaN();
    expect(f16ToF32(0xfc01)).toBeNaN();
  });
});

describe('bf16ToF32', () => {
  it.each([
    [0x3f80, 1], [0xc000, -2], [0x4049, 3.140625], [0x7f7f, 3.3895313892515355e38], [0x0001, 2 ** -133],
    [0x0080, 2 ** -126], [0x7f80, Infinity], [0xff80, -Infinity],
  ])('decodes bits %i to %s', (bits, value) => {
    expect(bf16ToF32(bits)).toBe(value);
  });
  it('is the top half of the float32 bit pattern', () => {
    const f32 = new Float32Array(1);
    const u32 = new Uint32Array(f32.buffer);
    for (const bits of [0x3f80, 0x4049, 0xbe4c, 0x0035, 0x8001, 0x7f7f, 0xc2f7]) {
      u32[0] = bits << 16;
      expect(bf16ToF32(bits)).toBe(f32[0]);
    }
    expect(bf16ToF32(0x7fc0)).toBeNaN();
    expect(Object.is(bf16ToF32(0x8000), -0)).toBe(true);
  });
});

describe('f32ToF16Bits', () => {
  it('encodes known values, rounding to nearest even', () => {
    expect(f32ToF16Bits(1)).toBe(0x3c00);
    expect(f32ToF16Bits(-2)).toBe(0xc000);
    expect(f32ToF16Bits(65504)).toBe(0x7bff);
    expect(f32ToF16Bits(65519)).toBe(0x7bff);
    expect(f32ToF16Bits(65520)).toBe(0x7c00); // halfway to the next binade rounds to infinity
    expect(f32ToF16Bits(2 ** -24)).toBe(0x0001);
    expect(f32ToF16Bits(2 ** -25)).toBe(0x0000); // tie, rounds to even zero
    expect(f32ToF16Bits(3 * 2 ** -25)).toBe(0x0002); // tie between 1 and 2 ulps, rounds to even
    expect(f32ToF16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie, even
    expect(f32ToF16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie, even
    expect(f32ToF16Bits(1023.5 * 2 ** -24)).toBe(0x0400); // subnormal rounding up to the smallest normal
    expect(f32ToF16Bits(-0)).toBe(0x8000);
    expect(f32ToF16Bits(-Infinity)).toBe(0xfc00);
    expect(f16ToF32(f32ToF16Bits(NaN))).toBeNaN();
    expect(f32ToF16Bits(1e10)).toBe(0x7c00);
  });
  it('round-trips every finite f16 bit pattern', () => {
    for (let bits = 0; bits < 0x10000; bits++) {
      if ((bits & 0x7c00) === 0x7c00) continue;
      expect(f32ToF16Bits(f16ToF32(bits))).toBe(bits);
    }
  });
  it('f32 -> f16 -> f32 stays within half an ulp', () => {
    for (const x of [0.1, -0.3333, 3.14159, 1234.567, 6e-5, -7e-8, 0.5]) {
      const y = f16ToF32(f32ToF16Bits(x));
      const ulp = 2 ** (Math.max(Math.floor(Math.log2(Math.abs(x))), -14) - 10);
      expect(Math.abs(y - x)).toBeLessThanOrEqual(ulp / 2);
    }
  });
});

describe('f32ToBf16Bits', () => {
  it('rounds to nearest even rather than truncating', () => {
    expect(f32ToBf16Bits(1)).toBe(0x3f80);
    expect(f32ToBf16Bits(Math.fround(Math.PI))).toBe(0x4049); // 0x40490FDB: low half 0x0FDB < 0x8000, rounds down
    expect(f32ToBf16Bits(Math.fround(-0.2))).toBe(0xbe4d); // 0xBE4CCCCD: low half 0xCCCD > 0x8000, rounds up
    expect(f32ToBf16Bits(1 + 2 ** -8)).toBe(0x3f80); // tie, even
    expect(f32ToBf16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82); // tie, even
    expect(f32ToBf16Bits(2 ** -133)).toBe(0x0001);
    expect(f32ToBf16Bits(-0)).toBe(0x8000);
    expect(f32ToBf16Bits(Infinity)).toBe(0x7f80);
    expect(f32ToBf16Bits(3.4e38)).toBe(0x7f80);
    expect(bf16ToF32(f32ToBf16Bits(NaN))).toBeNaN();
  });
  it('round-trips every finite bf16 bit pattern', () => {
    for (let bits = 0; bits < 0x10000; bits++) {
      if ((bits & 0x7f80) === 0x7f80) continue;
      expect(f32ToBf16Bits(bf16ToF32(bits))).toBe(bits);
    }
  });
});
