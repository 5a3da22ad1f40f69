/**
 * The project's WebAssembly SIMD kernels (wasm/kernels.ts) on plain Float32Arrays: each call copies its inputs into
 * the module's own memory, runs, and returns a fresh array. The copies are linear in the data; the kernels are not.
 * `simdKernels()` is null where WebAssembly SIMD is missing, and callers keep their other path.
 */
import { SIMD_KERNELS_BASE64 } from './simd-binary';

interface Exports {
  memory: WebAssembly.Memory;
  heapBase(): number;
  convFilterGrad(xp: number, dyp: number, dw: number, P: number, WP: number, C: number, O: number, KH: number, KW: number): void;
  batchMatMul(a: number, b: number, out: number, batch: number, M: number, K: number, N: number): void;
  groupNorm(x: number, w: number, b: number, y: number, mean: number, rstd: number, scratch: number, B: number, P: number, C: number,
    G: number, eps: number): void;
  groupNormGrad(dy: number, x: number, w: number, mean: number, rstd: number, dx: number, dw: number, db: number, scratch: number,
    B: number, P: number, C: number, G: number): void;
}

/** A stride-1 convolution, NHWC: output OH x OW, padding before row and column 0 (top, left). */
export interface ConvGeometry {
  B: number; H: number; W: number; C: number; OH: number; OW: number; O: number; KH: number; KW: number; top: number; left: number;
}


const PAGE = 65536;
const align = (bytes: number) => Math.ceil(bytes / 16) * 16;

function decode(base64: string): Uint8Array<ArrayBuffer> {
  if (typeof atob === 'function') return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  return new Uint8Array(Buffer.from(base64, 'base64'));
}

export class SimdKernels {
  private readonly base: number;

  constructor(private readonly exports: Exports) {
    this.base = exports.heapBase();
  }

  /** Room for `floats` float32 entries at byte offsets after the base; returns a view of the whole heap. */
  private heap(floats: number): Float32Array {
    const need = this.base + floats * 4;
    const have = this.exports.memory.buffer.byteLength;
    if (need > have) this.exports.memory.grow(Math.ceil((need - have) / PAGE));
    return new Float32Array(this.exports.memory.buffer);
  }

  /**
   * dw[i, j, c, o] = sum over (b, yo, xo) of x[b, yo + i - top, xo + j - left, c] dy[b, yo, xo, o], 0 outside x: the
   * filter gradient of a stride-1 convolution. x and dy are written into one grid of HP x WP pixels per image, as
   * large as the taps reach, x shifted by the padding and dy zero outside the output, so the kernel never tests a bound.
   */
  convFilterGrad(x: Float32Array, dy: Float32Array, g: ConvGeometry): Float32Array {
    const { B, C, OH, OW, O, KH, KW } = g;
    const HP = OH + KH - 1;
    const WP = OW + KW - 1;
    const P = B * HP * WP;
    const xpLength = gridLength(g);
    const dypLength = align(P * O * 4) / 4;
    const heap = this.heap(xpLength + dypLength + KH * KW * C * O);
    const xp = this.base / 4;
    const dyp = xp + xpLength;
    const dw = dyp + dypLength;
    heap.fill(0, xp, dw);
    writeGrid(x, heap, xp, g);
    for (let b = 0; b < B; b++) {
      for (let y = 0; y < OH; y++) {
        const from = (b * OH + y) * OW * O;
        heap.set(dy.subarray(from, from + OW * O), dyp + (b * HP + y) * WP * O);
      }
    }
    this.exports.convFilterGrad(xp * 4, dyp * 4, dw * 4, P, WP, C, O, KH, KW);
    return heap.slice(dw, dw + KH * KW * C * O);
  }

  /** Lays out `lengths` float32 blocks one after another (16-byte aligned), with room; returns the heap and offsets. */
  private blocks(lengths: number[]): { heap: Float32Array; at: number[] } {
    const at: number[] = [];
    let next = this.base / 4;
    for (const n of lengths) {
      at.push(next);
      next += align(n * 4) / 4;
    }
    return { heap: this.heap(next - this.base / 4), at };
  }

  /**
   * GroupNorm of B samples of P pixels by C channels (NHWC) in G groups, then the affine w, b: y, and each sample's
   * group means and reciprocal standard deviations (B x G) for groupNormGrad. Views into the module's memory, valid
   * until the next call.
   */
  groupNorm(x: Float32Array, w: Float32Array, b: Float32Array, B: number, P: number, C: number, G: number, eps: number) {
    const size = B * P * C;
    const { heap, at: [xAt, wAt, bAt, yAt, meanAt, rstdAt, scratch] } = this.blocks([size, C, C, size, B * G, B * G, 3 * C]);
    heap.set(x, xAt);
    heap.set(w, wAt);
    heap.set(b, bAt);
    this.exports.groupNorm(xAt * 4, wAt * 4, bAt * 4, yAt * 4, meanAt * 4, rstdAt * 4, scratch * 4, B, P, C, G, eps);
    return { y: heap.subarray(yAt, yAt + size), mean: heap.subarray(meanAt, meanAt + B * G), rstd: heap.subarray(rstdAt, rstdAt + B * G) };
  }

  /** The gradient of groupNorm for dy: dx, dw and db, as views valid until the next call. */
  groupNormGrad(dy: Float32Array, x: Float32Array, w: Float32Array, mean: Float32Array, rstd: Float32Array, B: number, P: number, C: number, G: number) {
    const size = B * P * C;
    const { heap, at: [dyAt, xAt, wAt, meanAt, rstdAt, dxAt, dwAt, dbAt, scratch] } = this.blocks([size, size, C, B * G, B * G, size, C, C, 5 * C]);
    heap.set(dy, dyAt);
    heap.set(x, xAt);
    heap.set(w, wAt);
    heap.set(mean, meanAt);
    heap.set(rstd, rstdAt);
    this.exports.groupNormGrad(dyAt * 4, xAt * 4, wAt * 4, meanAt * 4, rstdAt * 4, dxAt * 4, dwAt * 4, dbAt * 4, scratch * 4, B, P, C, G);
    return { dx: heap.subarray(dxAt, dxAt + size), dw: heap.subarray(dwAt, dwAt + C), db: heap.subarray(dbAt, dbAt + C) };
  }

  /**
   * out[n] = op(a[n]) @ op(b[n]) for n < batch, op transposing where asked: a holds batch matrices M x K (K x M when
   * transposeA), b holds K x N (N x K when transposeB). Transposed operands are written out straight first.
   */
  batchMatMul(a: Float32Array, b: Float32Array, batch: number, M: number, K: number, N: number, transposeA: boolean, transposeB: boolean): Float32Array {
    const aLength = align(batch * M * K * 4) / 4;
    const bLength = align(batch * K * N * 4) / 4;
    const heap = this.heap(aLength + bLength + batch * M * N);
    const aAt = this.base / 4;
    const bAt = aAt + aLength;
    const outAt = bAt + bLength;
    if (transposeA) writeTransposed(a, heap, aAt, batch, K, M);
    else heap.set(a, aAt);
    if (transposeB) writeTransposed(b, heap, bAt, batch, N, K);
    else heap.set(b, bAt);
    this.exports.batchMatMul(aAt * 4, bAt * 4, outAt * 4, batch, M, K, N);
    return heap.slice(outAt, outAt + batch * M * N);
  }
}

/** Float32 entries of the padded grid of x for geometry g: B planes of HP x WP pixels, then the taps' overhang. */
function gridLength(g: ConvGeometry): number {
  const HP = g.OH + g.KH - 1;
  const WP = g.OW + g.KW - 1;
  return align((g.B * HP * WP + (g.KH - 1) * WP + g.KW) * g.C * 4) / 4;
}

/** Writes x (NHWC) into its grid at `at` (already zero): pixel (y, x) of plane b at (y + top, x + left). */
function writeGrid(x: Float32Array, heap: Float32Array, at: number, g: ConvGeometry): void {
  const { B, H, W, C, OH, OW, KH, KW, top, left } = g;
  const HP = OH + KH - 1;
  const WP = OW + KW - 1;
  const x0 = Math.max(0, -left);
  const x1 = Math.min(W, WP - left);
  if (x1 <= x0) return;
  for (let b = 0; b < B; b++) {
    for (let y = Math.max(0, -top); y < Math.min(H, HP - top); y++) {
      const from = ((b * H + y) * W + x0) * C;
      heap.set(x.subarray(from, from + (x1 - x0) * C), at + ((b * HP + y + top) * WP + x0 + left) * C);
    }
  }
}

/** dst[at + n R C + c R + r] = src[n R C + r C + c]: each of `batch` R x C matrices, transposed. */
function writeTransposed(src: Float32Array, dst: Float32Array, at: number, batch: number, R: number, C: number): void {
  for (let n = 0; n < batch; n++) {
    const s = n * R * C;
    const d = at + s;
    for (let r = 0; r < R; r++) {
      for (let c = 0; c < C; c++) dst[d + c * R + r] = src[s + r * C + c];
    }
  }
}

let loaded: SimdKernels | null | undefined;
let enabled = true;

/** Turns the SIMD kernels off and on again, for A/B measurements and for testing the paths without them. */
export function useSimdKernels(on: boolean): void {
  enabled = on;
}

/** The kernels, compiled once on first use; null where this engine has no WebAssembly SIMD (or they are turned off). */
export function simdKernels(): SimdKernels | null {
  if (!enabled) return null;
  if (loaded !== undefined) return loaded;
  try {
    const module = new WebAssembly.Module(decode(SIMD_KERNELS_BASE64));
    const instance = new WebAssembly.Instance(module, {});
    loaded = new SimdKernels(instance.exports as unknown as Exports);
  } catch {
    loaded = null;
  }
  return loaded;
}
