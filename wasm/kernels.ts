// Float32 kernels for the wasm backend, compiled with AssemblyScript to WebAssembly SIMD (npm run build:wasm-kernels;
// src/core/kernels/simd-module.ts loads the result). The caller copies inputs into this module's memory at offsets
// of its choosing, at or after heapBase(), 16-byte aligned, and reads the outputs back: nothing here allocates.

/** The first byte the caller may use. */
export function heapBase(): usize {
  return (__heap_base + 15) & ~15;
}

/**
 * The filter gradient of a stride-1 convolution, NHWC, on padded planes that the caller writes: xp holds the input in
 * a zero border as large as the taps reach (B planes of HP x WP pixels of C channels, then zero pixels enough for the
 * last taps to read), dyp holds dy in the same HP x WP grid (O channels), zero outside the output's OH x OW. Then the
 * pixel that tap (i, j) reads for grid pixel p is p + i WP + j, in every plane at once, so
 *   dw[i, j, c, o] = sum over grid pixels p of xp[p + i WP + j, c] dyp[p, o].
 * The grid is walked in chunks of CHUNK pixels that stay in cache across the taps; for each tap, pair of input
 * channels and sixteen output channels, the sums sit in eight vectors while the chunk's pixels stream past.
 */
const CHUNK = 128;

export function convFilterGrad(xp: usize, dyp: usize, dw: usize, P: i32, WP: i32, C: i32, O: i32, KH: i32, KW: i32): void {
  memory.fill(dw, 0, <usize>(KH * KW * C * O) << 2);
  const O16 = O & ~15;
  const C2 = C & ~1;
  const xPixel = <usize>C << 2;
  const dyPixel = <usize>O << 2;
  for (let p0 = 0; p0 < P; p0 += CHUNK) {
    const n = min(CHUNK, P - p0);
    const dyChunk = dyp + (<usize>(p0 * O) << 2);
    for (let i = 0; i < KH; i++) {
      for (let j = 0; j < KW; j++) {
        const xChunk = xp + (<usize>((p0 + i * WP + j) * C) << 2);
        const wTap = dw + (<usize>((i * KW + j) * C * O) << 2);
        let c = 0;
        for (; c < C2; c += 2) {
          const w0 = wTap + (<usize>(c * O) << 2);
          const w1 = w0 + dyPixel;
          const xc = xChunk + (<usize>c << 2);
          let o = 0;
          for (; o < O16; o += 16) {
            const u = w0 + (<usize>o << 2);
            const v = w1 + (<usize>o << 2);
            let a0 = v128.load(u), a1 = v128.load(u, 16), a2 = v128.load(u, 32), a3 = v128.load(u, 48);
            let b0 = v128.load(v), b1 = v128.load(v, 16), b2 = v128.load(v, 32), b3 = v128.load(v, 48);
            let d = dyChunk + (<usize>o << 2);
            let x = xc;
            for (let p = 0; p < n; p++) {
              const s = f32x4.splat(load<f32>(x));
              const t = f32x4.splat(load<f32>(x, 4));
              const d0 = v128.load(d), d1 = v128.load(d, 16), d2 = v128.load(d, 32), d3 = v128.load(d, 48);
              a0 = f32x4.add(a0, f32x4.mul(s, d0)); a1 = f32x4.add(a1, f32x4.mul(s, d1));
              a2 = f32x4.add(a2, f32x4.mul(s, d2)); a3 = f32x4.add(a3, f32x4.mul(s, d3));
              b0 = f32x4.add(b0, f32x4.mul(t, d0)); b1 = f32x4.add(b1, f32x4.mul(t, d1));
              b2 = f32x4.add(b2, f32x4.mul(t, d2)); b3 = f32x4.add(b3, f32x4.mul(t, d3));
              d += dyPixel;
              x += xPixel;
            }
            v128.store(u, a0); v128.store(u, a1, 16); v128.store(u, a2, 32); v128.store(u, a3, 48);
            v128.store(v, b0); v128.store(v, b1, 16); v128.store(v, b2, 32); v128.store(v, b3, 48);
          }
          for (; o < O; o++) {
            const u = w0 + (<usize>o << 2);
            const v = w1 + (<usize>o << 2);
            let a = load<f32>(u), b = load<f32>(v);
            let d = dyChunk + (<usize>o << 2);
            let x = xc;
            for (let p = 0; p < n; p++) {
              const g = load<f32>(d);
              a += load<f32>(x) * g;
              b += load<f32>(x, 4) * g;
              d += dyPixel;
              x += xPixel;
            }
            store<f32>(u, a);
            store<f32>(v, b);
          }
        }
        for (; c < C; c++) {
          const w0 = wTap + (<usize>(c * O) << 2);
          const xc = xChunk + (<usize>c << 2);
          let o = 0;
          for (; o < O16; o += 16) {
            const u = w0 + (<usize>o << 2);
            let a0 = v128.load(u), a1 = v128.load(u, 16), a2 = v128.load(u, 32), a3 = v128.load(u, 48);
            let d = dyChunk + (<usize>o << 2);
            let x = xc;
            for (let p = 0; p < n; p++) {
              const s = f32x4.splat(load<f32>(x));
              a0 = f32x4.add(a0, f32x4.mul(s, v128.load(d))); a1 = f32x4.add(a1, f32x4.mul(s, v128.load(d, 16)));
              a2 = f32x4.add(a2, f32x4.mul(s, v128.load(d, 32))); a3 = f32x4.add(a3, f32x4.mul(s, v128.load(d, 48)));
              d += dyPixel;
              x += xPixel;
            }
            v128.store(u, a0); v128.store(u, a1, 16); v128.store(u, a2, 32); v128.store(u, a3, 48);
          }
          for (; o < O; o++) {
            const u = w0 + (<usize>o << 2);
            let a = load<f32>(u);
            let d = dyChunk + (<usize>o << 2);
            let x = xc;
            for (let p = 0; p < n; p++) {
              a += load<f32>(x) * load<f32>(d);
              d += dyPixel;
              x += xPixel;
            }
            store<f32>(u, a);
          }
        }
      }
    }
  }
}

/**
 * out[n] = a[n] @ b[n] for n < batch, a[n] M x K and b[n] K x N, all row-major and contiguous (the caller writes
 * transposed operands out first). Two rows of out by sixteen columns at a time in registers, then the edges.
 */
export function batchMatMul(a: usize, b: usize, out: usize, batch: i32, M: i32, K: i32, N: i32): void {
  const N16 = N & ~15;
  const N4 = N & ~3;
  const M2 = M & ~1;
  const bRow = <usize>N << 2;
  for (let n = 0; n < batch; n++) {
    const an = a + (<usize>(n * M * K) << 2);
    const bn = b + (<usize>(n * K * N) << 2);
    const on = out + (<usize>(n * M * N) << 2);
    let i = 0;
    for (; i < M2; i += 2) {
      const a0 = an + (<usize>(i * K) << 2);
      const a1 = a0 + (<usize>K << 2);
      const o0 = on + (<usize>(i * N) << 2);
      const o1 = o0 + bRow;
      let j = 0;
      for (; j < N16; j += 16) {
        let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c02 = f32x4.splat(0), c03 = f32x4.splat(0);
        let c10 = f32x4.splat(0), c11 = f32x4.splat(0), c12 = f32x4.splat(0), c13 = f32x4.splat(0);
        let bk = bn + (<usize>j << 2);
        for (let k = 0; k < K; k++) {
          const s0 = f32x4.splat(load<f32>(a0 + (<usize>k << 2)));
          const s1 = f32x4.splat(load<f32>(a1 + (<usize>k << 2)));
          const b0 = v128.load(bk), b1 = v128.load(bk, 16), b2 = v128.load(bk, 32), b3 = v128.load(bk, 48);
          c00 = f32x4.add(c00, f32x4.mul(s0, b0)); c01 = f32x4.add(c01, f32x4.mul(s0, b1));
          c02 = f32x4.add(c02, f32x4.mul(s0, b2)); c03 = f32x4.add(c03, f32x4.mul(s0, b3));
          c10 = f32x4.add(c10, f32x4.mul(s1, b0)); c11 = f32x4.add(c11, f32x4.mul(s1, b1));
          c12 = f32x4.add(c12, f32x4.mul(s1, b2)); c13 = f32x4.add(c13, f32x4.mul(s1, b3));
          bk += bRow;
        }
        const p0 = o0 + (<usize>j << 2);
        const p1 = o1 + (<usize>j << 2);
        v128.store(p0, c00); v128.store(p0, c01, 16); v128.store(p0, c02, 32); v128.store(p0, c03, 48);
        v128.store(p1, c10); v128.store(p1, c11, 16); v128.store(p1, c12, 32); v128.store(p1, c13, 48);
      }
      for (; j < N4; j += 4) {
        let c0 = f32x4.splat(0), c1 = f32x4.splat(0);
        let bk = bn + (<usize>j << 2);
        for (let k = 0; k < K; k++) {
          const bv = v128.load(bk);
          c0 = f32x4.add(c0, f32x4.mul(f32x4.splat(load<f32>(a0 + (<usize>k << 2))), bv));
          c1 = f32x4.add(c1, f32x4.mul(f32x4.splat(load<f32>(a1 + (<usize>k << 2))), bv));
          bk += bRow;
        }
        v128.store(o0 + (<usize>j << 2), c0);
        v128.store(o1 + (<usize>j << 2), c1);
      }
      for (; j < N; j++) {
        let c0: f32 = 0, c1: f32 = 0;
        let bk = bn + (<usize>j << 2);
        for (let k = 0; k < K; k++) {
          const bv = load<f32>(bk);
          c0 += load<f32>(a0 + (<usize>k << 2)) * bv;
          c1 += load<f32>(a1 + (<usize>k << 2)) * bv;
          bk += bRow;
        }
        store<f32>(o0 + (<usize>j << 2), c0);
        store<f32>(o1 + (<usize>j << 2), c1);
      }
    }
    for (; i < M; i++) {
      const a0 = an + (<usize>(i * K) << 2);
      const o0 = on + (<usize>(i * N) << 2);
      let j = 0;
      for (; j < N4; j += 4) {
        let c0 = f32x4.splat(0);
        let bk = bn + (<usize>j << 2);
        for (let k = 0; k < K; k++) {
          c0 = f32x4.add(c0, f32x4.mul(f32x4.splat(load<f32>(a0 + (<usize>k << 2))), v128.load(bk)));
          bk += bRow;
        }
        v128.store(o0 + (<usize>j << 2), c0);
      }
      for (; j < N; j++) {
        let c0: f32 = 0;
        let bk = bn + (<usize>j << 2);
        for (let k = 0; k < K; k++) {
          c0 += load<f32>(a0 + (<usize>k << 2)) * load<f32>(bk);
          bk += bRow;
        }
        store<f32>(o0 + (<usize>j << 2), c0);
      }
    }
  }
}
