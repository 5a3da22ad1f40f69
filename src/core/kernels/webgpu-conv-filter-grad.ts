/**
 * PidConvFilterGrad: the gradient of a 'same', stride-1 Conv2d's weight, in PyTorch's layout [out, in, kh, kw], as
 * two WebGPU programs for tfjs-backend-webgpu. With patches P [N, K] (N = B H W output pixels, K = kh kw in, the
 * inputs each pixel's output reads; 0 outside the image) and dy [N, out], dW = P^T dy: a matrix product whose inner
 * dimension N is large and whose output is small. tfjs-webgpu's Conv2DBackpropFilter gives each output entry one
 * thread that loops over all of N (a few thousand threads for a whole GPU) and writes HWIO, transposed afterwards.
 * Here N is split into chunks, so that there are about 64k threads (one per (chunk, k, out) partial sum); the second
 * program adds the chunks' partial sums into [out, in, kh, kw]. (A version with 16 x 16 tiles in shared memory was
 * 2 to 3.5x slower than tfjs's kernel on lavapipe, whose barriers are costly; this one has none.)
 * Registered for webgpu only (backend.ts); nets/webgpu-layers.ts calls it.
 */
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { type Program, type Uniform, type WebGpuBackendLike, flatProgram, webGpuKernels } from './webgpu-program';

export const CONV_FILTER_GRAD = 'PidConvFilterGrad';

/** Threads the partial sums should keep busy (a GPU's worth), and rows a chunk holds at least. */
const TARGET_THREADS = 1 << 16;
const MIN_CHUNK_ROWS = 32;
/** Partial sums of at most MAX_PARTIAL entries. */
const MAX_PARTIAL = 1 << 24;

export type ConvFilterGradAttrs = { kh: number; kw: number };

const UNIFORMS = 'batch : i32, height : i32, width : i32, cin : i32, cout : i32, kh : i32, kw : i32, chunkRows : i32, chunks : i32,';

/** Chunks of the N rows: about TARGET_THREADS threads in all, each chunk at least MIN_CHUNK_ROWS rows. */
export function chunkCount(rows: number, outputSize: number): number {
  const wanted = Math.ceil(TARGET_THREADS / outputSize);
  return Math.max(1, Math.min(wanted, Math.floor(rows / MIN_CHUNK_ROWS), Math.floor(MAX_PARTIAL / outputSize)));
}

/**
 * partial[s, k, o] = sum over rows n of chunk s of P[n, k] dy[n, o], K = kh kw cin (k = (ky kw + kx) cin + ci): one
 * thread per entry. Neighbouring threads share n and k and read neighbouring entries of dy.
 */
function partialProgram(shape: number[]): Program {
  return flatProgram(shape, ['X', 'Dy'], 'pid_conv_filter_grad_partial', `
          let K = uniforms.kh * uniforms.kw * uniforms.cin;
          let o = index % uniforms.cout;
          let k = (index / uniforms.cout) % K;
          let chunk = index / (uniforms.cout * K);
          let ci = k % uniforms.cin;
          let tap = k / uniforms.cin;
          let dyy = tap / uniforms.kw - (uniforms.kh - 1) / 2;
          let dxx = tap % uniforms.kw - (uniforms.kw - 1) / 2;
          let HW = uniforms.height * uniforms.width;
          let start = chunk * uniforms.chunkRows;
          let end = min(uniforms.batch * HW, start + uniforms.chunkRows);
          // row n = (b H + y) W + x, stepped without divisions; the input pixel read is (y + dyy, x + dxx)
          var y = (start % HW) / uniforms.width;
          var x = start % uniforms.width;
          var acc = 0.0;
          for (var n = start; n < end; n = n + 1) {
            let yy = y + dyy;
            let xx = x + dxx;
            if (yy >= 0 && yy < uniforms.height && xx >= 0 && xx < uniforms.width) {
              acc = acc + X[(n + dyy * uniforms.width + dxx) * uniforms.cin + ci] * Dy[n * uniforms.cout + o];
            }
            x = x + 1;
            if (x == uniforms.width) {
              x = 0;
              y = y + 1;
              if (y == uniforms.height) { y = 0; }
            }
          }
          result[index] = acc;`, { uniforms: UNIFORMS });
}

/** dW[o, ci, ky, kx] = sum over chunks s of partial[s, (ky kw + kx) cin + ci, o]. */
function sumProgram(shape: number[]): Program {
  return flatProgram(shape, ['Partial'], 'pid_conv_filter_grad_sum', `
          let taps = uniforms.kh * uniforms.kw;
          let K = taps * uniforms.cin;
          let o = index / (uniforms.cin * taps);
          let ci = (index / taps) % uniforms.cin;
          let tap = index % taps;
          let k = tap * uniforms.cin + ci;
          var acc = 0.0;
          for (var s = 0; s < uniforms.chunks; s = s + 1) {
            acc = acc + Partial[(s * K + k) * uniforms.cout + o];
          }
          result[index] = acc;`, { uniforms: UNIFORMS });
}

function convFilterGrad({ inputs: { x, dy }, backend, attrs: { kh, kw } }: { inputs: Record<string, TensorInfo>; backend: WebGpuBackendLike; attrs: ConvFilterGradAttrs }): TensorInfo {
  const [B, H, W, cin] = x.shape;
  const cout = dy.shape[3];
  const rows = B * H * W;
  const K = kh * kw * cin;
  const chunks = chunkCount(rows, K * cout);
  const chunkRows = Math.ceil(rows / chunks);
  const u: Uniform[] = [B, H, W, cin, cout, kh, kw, chunkRows, chunks].map((v) => ({ type: 'int32', data: [v] }));
  const partial = backend.runWebGPUProgram(partialProgram([chunks, K, cout]), [x, dy], 'float32', u);
  const dw = backend.runWebGPUProgram(sumProgram([cout, cin, kh, kw]), [partial], 'float32', u);
  backend.disposeData(partial.dataId);
  return dw;
}

const kernels = webGpuKernels({ [CONV_FILTER_GRAD]: convFilterGrad });
/** Registers PidConvFilterGrad for webgpu (once; false when the webgpu backend is not registered). */
export const registerWebGpuConvFilterGrad = kernels.register;
/** Whether PidConvFilterGrad runs on `backend` (after registration). */
export const fusedWebGpuConvFilterGrad = kernels.on;
