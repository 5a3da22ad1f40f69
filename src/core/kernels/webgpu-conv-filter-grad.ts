/**
 * PidConvFilterGrad: the gradient of a 'same', stride-1 Conv2d's weight, in PyTorch's layout [out, in, kh, kw], as
 * two WebGPU programs for tfjs-backend-webgpu. With patches P [N, K] (N = B H W output pixels, K = kh kw in, the
 * inputs each pixel's output reads; 0 outside the image) and dy [N, out], dW = P^T dy: a matrix product whose inner
 * dimension N is large and whose output is small. tfjs-webgpu's Conv2DBackpropFilter gives each output entry one
 * thread that loops over all of N (a few thousand threads for a whole GPU) and writes HWIO, transposed afterwards.
 * Here the product is tiled (16 x 16 tiles of P and dy in shared memory) and N split into chunks, one workgroup per
 * (output tile, chunk) writing partial sums; the second program adds the chunks' partial sums into [out, in, kh, kw].
 * Registered for webgpu only (backend.ts); nets/webgpu-layers.ts calls it.
 */
import { type KernelConfig, type KernelFunc, type TensorInfo, getKernel, registerKernel } from '@tensorflow/tfjs-core';
import { type Program, type Uniform, type WebGpuBackendLike, flatProgram } from './webgpu-program';

export const CONV_FILTER_GRAD = 'PidConvFilterGrad';

/** The tile's side: a workgroup of TILE x TILE threads, one per output entry of its tile. */
const TILE = 16;
/** Rows of N a chunk holds at least; at most MAX_CHUNKS chunks, and partial sums of at most MAX_PARTIAL entries. */
const MIN_CHUNK_ROWS = 256;
const MAX_CHUNKS = 64;
const MAX_PARTIAL = 1 << 24;

export type ConvFilterGradAttrs = { kh: number; kw: number };

const UNIFORMS = 'batch : i32, height : i32, width : i32, cin : i32, cout : i32, kh : i32, kw : i32, chunkRows : i32, chunks : i32,';

/** Chunks of the N rows: enough workgroups to fill a GPU, each with at least MIN_CHUNK_ROWS rows. */
export function chunkCount(rows: number, outputSize: number): number {
  return Math.max(1, Math.min(MAX_CHUNKS, Math.floor(rows / MIN_CHUNK_ROWS), Math.floor(MAX_PARTIAL / outputSize)));
}

/** partial[s, k, o] = sum over rows n of chunk s of P[n, k] dy[n, o], K = kh kw cin (k = (ky kw + kx) cin + ci). */
function partialProgram(K: number, cout: number, chunks: number): Program {
  const tilesK = Math.ceil(K / TILE);
  const tilesO = Math.ceil(cout / TILE);
  return {
    variableNames: ['X', 'Dy'],
    outputShape: [chunks * K * cout],
    shaderKey: `pid_conv_filter_grad_partial_${TILE}`,
    dispatchLayout: { x: [0] },
    dispatch: [tilesK * tilesO, chunks, 1],
    workgroupSize: [TILE * TILE, 1, 1],
    uniforms: UNIFORMS,
    getUserCode: () => `
      var<workgroup> tileP : array<f32, ${TILE * TILE}>;
      var<workgroup> tileD : array<f32, ${TILE * TILE}>;
      fn patchValue(n : i32, k : i32) -> f32 {
        let HW = uniforms.height * uniforms.width;
        let K = uniforms.kh * uniforms.kw * uniforms.cin;
        if (n >= uniforms.batch * HW || k >= K) { return 0.0; }
        let b = n / HW;
        let y = (n - b * HW) / uniforms.width;
        let x = n - b * HW - y * uniforms.width;
        let ci = k % uniforms.cin;
        let tap = k / uniforms.cin;
        let yy = y + tap / uniforms.kw - (uniforms.kh - 1) / 2;
        let xx = x + tap % uniforms.kw - (uniforms.kw - 1) / 2;
        if (yy < 0 || yy >= uniforms.height || xx < 0 || xx >= uniforms.width) { return 0.0; }
        return X[((b * uniforms.height + yy) * uniforms.width + xx) * uniforms.cin + ci];
      }
      fn main(index : i32) {
        let K = uniforms.kh * uniforms.kw * uniforms.cin;
        let N = uniforms.batch * uniforms.height * uniforms.width;
        let tilesO = (uniforms.cout + ${TILE - 1}) / ${TILE};
        let tile = i32(workgroupId.x);
        let k0 = (tile / tilesO) * ${TILE};
        let o0 = (tile % tilesO) * ${TILE};
        let chunk = i32(workgroupId.y);
        let tx = i32(localIndex) % ${TILE};
        let ty = i32(localIndex) / ${TILE};
        let start = chunk * uniforms.chunkRows;
        let end = min(N, start + uniforms.chunkRows);
        var acc = 0.0;
        // as many steps in every workgroup (from uniforms: barriers need uniform control flow); rows past the chunk are 0
        let steps = (uniforms.chunkRows + ${TILE - 1}) / ${TILE};
        for (var step = 0; step < steps; step = step + 1) {
          let n = start + step * ${TILE} + ty;
          let inChunk = n < end;
          tileP[ty * ${TILE} + tx] = select(0.0, patchValue(n, k0 + tx), inChunk);
          let o = o0 + tx;
          let dyIndex = min(n, N - 1) * uniforms.cout + min(o, uniforms.cout - 1); // in bounds: select reads both sides
          tileD[ty * ${TILE} + tx] = select(0.0, Dy[dyIndex], inChunk && o < uniforms.cout);
          workgroupBarrier();
          for (var r = 0; r < ${TILE}; r = r + 1) {
            acc = acc + tileP[r * ${TILE} + ty] * tileD[r * ${TILE} + tx];
          }
          workgroupBarrier();
        }
        let k = k0 + ty;
        let o = o0 + tx;
        if (k < K && o < uniforms.cout) {
          result[(chunk * K + k) * uniforms.cout + o] = acc;
        }
      }`,
  };
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
  const partial = backend.runWebGPUProgram(partialProgram(K, cout, chunks), [x, dy], 'float32', u);
  const dw = backend.runWebGPUProgram(sumProgram([cout, cin, kh, kw]), [partial], 'float32', u);
  backend.disposeData(partial.dataId);
  return dw;
}

let registered = false;

/** Registers PidConvFilterGrad for webgpu (once; false when the webgpu backend is not registered). */
export function registerWebGpuConvFilterGrad(): boolean {
  if (registered) return true;
  if (!getKernel('Add', 'webgpu')) return false;
  registerKernel({ kernelName: CONV_FILTER_GRAD, backendName: 'webgpu', kernelFunc: convFilterGrad as unknown as KernelFunc } as KernelConfig);
  registered = true;
  return true;
}
