/**
 * IEEE half (f16) and bfloat16 (bf16) <-> float32 conversions, one bit pattern at a time.
 * Both formats are the same scheme with different field widths, so one decoder and one encoder serve both.
 */

interface Layout { expBits: number; mantBits: number }
const F16: Layout = { expBits: 5, mantBits: 10 };
const BF16: Layout = { expBits: 8, mantBits: 7 };

function decode(bits: number, { expBits, mantBits }: Layout): number {
  const expMax = (1 << expBits) - 1;
  const bias = expMax >> 1;
  const sign = (bits >> (expBits + mantBits)) & 1 ? -1 : 1;
  const exp = (bits >> mantBits) & expMax;
  const mant = bits & ((1 << mantBits) - 1);
  if (exp === expMax) return mant ? NaN : sign * Infinity;
  if (exp === 0) return sign * mant * 2 ** (1 - bias - mantBits);
  return sign * (1 + mant / 2 ** mantBits) * 2 ** (exp - bias);
}

/** Rounds a non-negative number to an integer, ties to even. */
function roundEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  return d > 0.5 || (d === 0.5 && f % 2 === 1) ? f + 1 : f;
}

// Encodes straight from the double (no detour through float32), so rounding happens exactly once.
function encode(x: number, { expBits, mantBits }: Layout): number {
  const expMax = (1 << expBits) - 1;
  const bias = expMax >> 1;
  const signBit = x < 0 || Object.is(x, -0) ? 1 << (expBits + mantBits) : 0;
  if (Number.isNaN(x)) return (expMax << mantBits) | (1 << (mantBits - 1));
  const a = Math.abs(x);
  const inf = signBit | (expMax << mantBits);
  if (a === Infinity) return inf;
  const eMin = 1 - bias;
  if (a < 2 ** eMin) return signBit | roundEven(a * 2 ** (mantBits - eMin)); // subnormal (may round up to the smallest normal)
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  let mant = roundEven((a / 2 ** e - 1) * 2 ** mantBits);
  if (mant === 2 ** mantBits) { mant = 0; e++; }
  if (e > bias) return inf;
  return signBit | ((e + bias) << mantBits) | mant;
}

export const f16ToF32 = (bits: number): number => decode(bits, F16);
export const bf16ToF32 = (bits: number): number => decode(bits, BF16);
/** float -> f16 bits, round to nearest even; overflow gives infinity. */
export const f32ToF16Bits = (x: number): number => encode(x, F16);
/** float -> bf16 bits, round to nearest even (not truncation); overflow gives infinity. */
export const f32ToBf16Bits = (x: number): number => encode(x, BF16);
