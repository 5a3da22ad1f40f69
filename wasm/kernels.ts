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

/**
 * GroupNorm of B samples of P pixels by C channels (NHWC), G groups of C / G consecutive channels, then the
 * per-channel affine: y = (x - mean_g) rstd_g w + b, with mean_g and rstd_g = 1 / sqrt(var_g + eps) over the group's
 * pixels and channels (two passes: the variance about the mean). Writes mean and rstd, B x G, for the gradient.
 * C must be a multiple of 4; scratch holds 3 C floats.
 */
export function groupNorm(x: usize, w: usize, b: usize, y: usize, mean: usize, rstd: usize, scratch: usize,
  B: i32, P: i32, C: i32, G: i32, eps: f32): void {
  const cg = C / G;
  const n = <f32>(P * cg);
  const sums = scratch;
  const scale = scratch + (<usize>C << 2);
  const shift = scale + (<usize>C << 2);
  for (let s = 0; s < B; s++) {
    const xs = x + (<usize>(s * P * C) << 2);
    const ys = y + (<usize>(s * P * C) << 2);
    channelSums(xs, 0, sums, P, C);
    for (let g = 0; g < G; g++) {
      let t: f32 = 0;
      for (let c = g * cg; c < (g + 1) * cg; c++) t += load<f32>(sums + (<usize>c << 2));
      const m = t / n;
      store<f32>(mean + (<usize>(s * G + g) << 2), m);
      for (let c = g * cg; c < (g + 1) * cg; c++) store<f32>(shift + (<usize>c << 2), m);
    }
    channelSquares(xs, shift, sums, P, C);
    for (let g = 0; g < G; g++) {
      let t: f32 = 0;
      for (let c = g * cg; c < (g + 1) * cg; c++) t += load<f32>(sums + (<usize>c << 2));
      const r = <f32>1 / Mathf.sqrt(t / n + eps);
      store<f32>(rstd + (<usize>(s * G + g) << 2), r);
      for (let c = g * cg; c < (g + 1) * cg; c++) {
        const k = <usize>c << 2;
        const a = r * load<f32>(w + k);
        store<f32>(scale + k, a);
        store<f32>(shift + k, load<f32>(b + k) - load<f32>(shift + k) * a);
      }
    }
    affine(xs, 0, 0, scale, shift, ys, P, C);
  }
}

/**
 * The gradient of groupNorm, from dy, x, w and the forward pass's mean and rstd. With x^ = (x - mean_g) rstd_g:
 *   db = sum dy,  dw = sum dy x^  (over samples and pixels),
 *   dx = rstd_g (dy w - m1_g - x^ m2_g),  m1_g = mean over the group of dy w,  m2_g = of dy w x^,
 * which is dx = alpha dy + beta x + gamma with per-channel alpha, beta, gamma: two passes over each sample.
 * dw and db are written, not accumulated into. scratch holds 5 C floats.
 */
export function groupNormGrad(dy: usize, x: usize, w: usize, mean: usize, rstd: usize, dx: usize, dw: usize, db: usize,
  scratch: usize, B: i32, P: i32, C: i32, G: i32): void {
  const cg = C / G;
  const n = <f32>(P * cg);
  const sumDy = scratch;
  const sumDyX = sumDy + (<usize>C << 2);
  const alpha = sumDyX + (<usize>C << 2);
  const beta = alpha + (<usize>C << 2);
  const gamma = beta + (<usize>C << 2);
  memory.fill(dw, 0, <usize>C << 2);
  memory.fill(db, 0, <usize>C << 2);
  for (let s = 0; s < B; s++) {
    const dys = dy + (<usize>(s * P * C) << 2);
    const xs = x + (<usize>(s * P * C) << 2);
    channelSums(dys, xs, sumDy, P, C);
    for (let g = 0; g < G; g++) {
      const m = load<f32>(mean + (<usize>(s * G + g) << 2));
      const r = load<f32>(rstd + (<usize>(s * G + g) << 2));
      let m1: f32 = 0, m2: f32 = 0;
      for (let c = g * cg; c < (g + 1) * cg; c++) {
        const k = <usize>c << 2;
        const a = load<f32>(sumDy + k);
        const dyXHat = r * (load<f32>(sumDyX + k) - m * a);
        store<f32>(db + k, load<f32>(db + k) + a);
        store<f32>(dw + k, load<f32>(dw + k) + dyXHat);
        m1 += load<f32>(w + k) * a;
        m2 += load<f32>(w + k) * dyXHat;
      }
      m1 /= n;
      m2 /= n;
      for (let c = g * cg; c < (g + 1) * cg; c++) {
        const k = <usize>c << 2;
        store<f32>(alpha + k, r * load<f32>(w + k));
        store<f32>(beta + k, -r * r * m2);
        store<f32>(gamma + k, r * (m * r * m2 - m1));
      }
    }
    affine(dys, xs, beta, alpha, gamma, dx + (<usize>(s * P * C) << 2), P, C);
  }
}

/** sums[c] = sum over p of u[p, c], and sums[C + c] = sum over p of u[p, c] v[p, c] where v is not 0. */
function channelSums(u: usize, v: usize, sums: usize, P: i32, C: i32): void {
  memory.fill(sums, 0, <usize>(v ? 2 * C : C) << 2);
  const row = <usize>C << 2;
  for (let c = 0; c < C; c += 4) {
    const k = <usize>c << 2;
    let a = f32x4.splat(0), q = f32x4.splat(0);
    let pu = u + k, pv = v + k;
    if (v) {
      for (let p = 0; p < P; p++) {
        const t = v128.load(pu);
        a = f32x4.add(a, t);
        q = f32x4.add(q, f32x4.mul(t, v128.load(pv)));
        pu += row;
        pv += row;
      }
      v128.store(sums + row + k, q);
    } else {
      for (let p = 0; p < P; p++) {
        a = f32x4.add(a, v128.load(pu));
        pu += row;
      }
    }
    v128.store(sums + k, a);
  }
}

/** sums[c] = sum over p of (u[p, c] - centre[c])^2. */
function channelSquares(u: usize, centre: usize, sums: usize, P: i32, C: i32): void {
  const row = <usize>C << 2;
  for (let c = 0; c < C; c += 4) {
    const k = <usize>c << 2;
    const m = v128.load(centre + k);
    let a = f32x4.splat(0);
    let pu = u + k;
    for (let p = 0; p < P; p++) {
      const d = f32x4.sub(v128.load(pu), m);
      a = f32x4.add(a, f32x4.mul(d, d));
      pu += row;
    }
    v128.store(sums + k, a);
  }
}

/** out[p, c] = u[p, c] a[c] + v[p, c] b[c] + shift[c] (the v term only where v is not 0). */
function affine(u: usize, v: usize, b: usize, a: usize, shift: usize, out: usize, P: i32, C: i32): void {
  const n = <usize>(P * C) << 2;
  if (C == 4) {
    // one vector per pixel: the coefficients stay in registers
    const av = v128.load(a), sv = v128.load(shift);
    const bv = v ? v128.load(b) : f32x4.splat(0);
    for (let k: usize = 0; k < n; k += 16) {
      let r = f32x4.add(f32x4.mul(v128.load(u + k), av), sv);
      if (v) r = f32x4.add(r, f32x4.mul(v128.load(v + k), bv));
      v128.store(out + k, r);
    }
    return;
  }
  const row = <usize>C << 2;
  for (let p: usize = 0; p < n; p += row) {
    for (let k: usize = 0; k < row; k += 16) {
      let r = f32x4.add(f32x4.mul(v128.load(u + p + k), v128.load(a + k)), v128.load(shift + k));
      if (v) r = f32x4.add(r, f32x4.mul(v128.load(v + p + k), v128.load(b + k)));
      v128.store(out + p + k, r);
    }
  }
}
