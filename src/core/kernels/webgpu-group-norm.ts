/**
 * GroupNorm as WebGPU programs for tfjs-backend-webgpu, under the kernel names of the wasm ones
 * (kernels/wasm-group-norm.ts): PidGroupNorm (x [B,H,W,C], w [C], b [C]; attrs {groups, eps} -> y, mean [B,G],
 * rstd [B,G]) and PidGroupNormGrad (dy, x, w, mean, rstd -> dx [B,H,W,C], dw [C], db [C]). Composed of tfjs ops a
 * GroupNorm and its gradient take about 20 dispatches each way; here the forward pass takes 3 and the gradient 4
 * (a WebGPU program has one output, and mean and rstd are outputs of their own):
 *   forward:  mean (one workgroup per (sample, group), summed in shared memory), rstd (the same over (x - mean)^2,
 *             two passes as the composed op), y = (x - mean) rstd w + b (elementwise);
 *   backward: per (sample, group) one workgroup sums, per channel, dy and dy x^ (x^ = (x - mean) rstd) and, per
 *             group, w dy and w dy x^ (all in one scratch tensor); then dx = rstd (dy w - m1 - x^ m2), m1, m2 those
 *             group sums over (H W C/G), elementwise; then db = sum_b sum dy and dw = sum_b sum dy x^.
 * At most 6 inputs per program (a device has 8 storage buffers per stage, one taken by the output).
 * nets/layers.ts takes them where `fusedWebGpuGroupNorm` says so (registered by backend.ts with the webgpu backend).
 */
import { type KernelConfig, type KernelFunc, type TensorInfo, getKernel, registerKernel } from '@tensorflow/tfjs-core';
import { GROUP_NORM, GROUP_NORM_GRAD } from './wasm-group-norm';
import { type Program, type Uniform, type WebGpuBackendLike, flatProgram } from './webgpu-program';

type Attrs = { groups: number; eps: number };

/** Threads of a statistics workgroup (a power of two, at most the 256 invocations WebGPU guarantees). */
const REDUCE_THREADS = 256;

/** Whether the fused webgpu programs take a GroupNorm of C channels in `groups` groups (after registration). */
export function fusedWebGpuGroupNorm(backend: string, channels: number, groups: number): boolean {
  return backend === 'webgpu' && registered && channels % groups === 0 && channels / groups <= REDUCE_THREADS;
}

/** Shape uniforms shared by every program (names and order must match `uniformValues`). */
const UNIFORMS = 'pixels : i32, channels : i32, groups : i32, batch : i32, eps : f32, which : i32,';
const uniformValues = (B: number, N: number, C: number, G: number, eps = 0, which = 0): Uniform[] => [
  { type: 'int32', data: [N] }, { type: 'int32', data: [C] }, { type: 'int32', data: [G] }, { type: 'int32', data: [B] },
  { type: 'float32', data: [eps] }, { type: 'int32', data: [which] },
];

/** The linear id of this workgroup (tfjs reshapes a dispatch over 65535 workgroups into two or three dimensions). */
const WORKGROUP_ID = 'i32(workgroupId.z * numWorkgroups.x * numWorkgroups.y + workgroupId.y * numWorkgroups.x + workgroupId.x)';

/**
 * Tree sums of workgroup arrays of `threads` = keep x (a power of two) slots, strides threads / 2 down to keep: slot
 * i < keep ends up with the sum of the slots i + j keep.
 */
const treeSum = (threads: number, keep: number, arrays: string[]) => threads === keep ? '' : `
  for (var s = ${threads / 2}u; s >= ${keep}u; s = s >> 1u) {
    if (localIndex < s) {
      ${arrays.map((a) => `${a}[localIndex] = ${a}[localIndex] + ${a}[localIndex + s];`).join('\n      ')}
    }
    workgroupBarrier();
  }`;

/** Per (sample, group): the mean (squares = false) or rstd (squares = true, from the mean) over (H, W, C/G). */
function statsProgram(B: number, G: number, squares: boolean): Program {
  const T = REDUCE_THREADS;
  return {
    variableNames: squares ? ['X', 'Mean'] : ['X'],
    outputShape: [B, G],
    shaderKey: `pid_group_norm_${squares ? 'rstd' : 'mean'}_${T}`,
    dispatchLayout: { x: [0, 1] },
    dispatch: [B * G, 1, 1],
    workgroupSize: [T, 1, 1],
    uniforms: UNIFORMS,
    getUserCode: () => `
      var<workgroup> partial : array<f32, ${T}>;
      fn main(index : i32) {
        let N = uniforms.pixels;
        let C = uniforms.channels;
        let G = uniforms.groups;
        let S = C / G;
        let wid = ${WORKGROUP_ID};
        let valid = wid < uniforms.batch * G;
        let b = wid / G;
        let g = wid - b * G;
        var acc = 0.0;
        if (valid) {
          ${squares ? 'let m = Mean[wid];' : ''}
          for (var e = i32(localIndex); e < N * S; e = e + ${T}) {
            let n = e / S;
            let v = X[(b * N + n) * C + g * S + (e - n * S)];
            ${squares ? 'acc = acc + (v - m) * (v - m);' : 'acc = acc + v;'}
          }
        }
        partial[localIndex] = acc;
        workgroupBarrier();
        ${treeSum(T, 1, ['partial'])}
        if (localIndex == 0u && valid) {
          let average = partial[0] / f32(N * S);
          result[wid] = ${squares ? '1.0 / sqrt(average + uniforms.eps)' : 'average'};
        }
      }`,
  };
}

/** y = (x - mean) rstd w + b, elementwise over [B, H, W, C]. */
function affineProgram(shape: number[]): Program {
  return flatProgram(shape, ['X', 'W', 'Bias', 'Mean', 'Rstd'], 'pid_group_norm_affine', `
          let C = uniforms.channels;
          let G = uniforms.groups;
          let c = index % C;
          let bg = (index / (C * uniforms.pixels)) * G + c / (C / G);
          result[index] = (X[index] - Mean[bg]) * Rstd[bg] * W[c] + Bias[c];`, { uniforms: UNIFORMS });
}

/**
 * The backward pass's sums, one workgroup per (sample, group), in a flat scratch tensor:
 *   [(b * 2 + k) * C + c]          k = 0: sum over pixels of dy, k = 1: of dy x^ (channel c of sample b);
 *   [2 B C + (b * 2 + k) * G + g]  the same weighted by w and summed over the group's channels.
 * Thread t always reads channel t % S of the group (S * P threads, P a power of two), so that reads are contiguous
 * and the tree sum, stopping at stride S, leaves each channel's sums in slots 0..S-1.
 */
function gradSumsProgram(B: number, C: number, G: number): Program {
  const S = C / G;
  let P = 1;
  while (S * P * 2 <= REDUCE_THREADS) P *= 2;
  const T = S * P;
  return {
    variableNames: ['Dy', 'X', 'W', 'Mean', 'Rstd'],
    outputShape: [2 * B * (C + G)],
    shaderKey: `pid_group_norm_grad_sums_${S}_${P}`,
    dispatchLayout: { x: [0] },
    dispatch: [B * G, 1, 1],
    workgroupSize: [T, 1, 1],
    uniforms: UNIFORMS,
    getUserCode: () => `
      var<workgroup> sumDy : array<f32, ${T}>;
      var<workgroup> sumDyXHat : array<f32, ${T}>;
      fn main(index : i32) {
        let N = uniforms.pixels;
        let C = uniforms.channels;
        let G = uniforms.groups;
        let B = uniforms.batch;
        let wid = ${WORKGROUP_ID};
        let valid = wid < B * G;
        let b = wid / G;
        let g = wid - b * G;
        let t = i32(localIndex);
        let c = g * ${S} + t % ${S};
        var a = 0.0;
        var d = 0.0;
        if (valid) {
          let m = Mean[wid];
          let r = Rstd[wid];
          for (var n = t / ${S}; n < N; n = n + ${P}) {
            let k = (b * N + n) * C + c;
            let dy = Dy[k];
            a = a + dy;
            d = d + dy * (X[k] - m) * r;
          }
        }
        sumDy[localIndex] = a;
        sumDyXHat[localIndex] = d;
        workgroupBarrier();
        ${treeSum(T, S, ['sumDy', 'sumDyXHat'])}
        if (valid && t < ${S}) {
          result[(b * 2) * C + c] = sumDy[localIndex];
          result[(b * 2 + 1) * C + c] = sumDyXHat[localIndex];
        }
        if (valid && t == 0) {
          var m1 = 0.0;
          var m2 = 0.0;
          for (var j = 0; j < ${S}; j = j + 1) {
            let w = W[g * ${S} + j];
            m1 = m1 + w * sumDy[j];
            m2 = m2 + w * sumDyXHat[j];
          }
          result[2 * B * C + (b * 2) * G + g] = m1;
          result[2 * B * C + (b * 2 + 1) * G + g] = m2;
        }
      }`,
  };
}

/** dx = rstd (dy w - m1 - x^ m2), m1 and m2 the group sums over (H W C/G) pixels, elementwise over [B, H, W, C]. */
function dxProgram(shape: number[]): Program {
  return flatProgram(shape, ['Dy', 'X', 'W', 'Mean', 'Rstd', 'Sums'], 'pid_group_norm_grad_dx', `
          let N = uniforms.pixels;
          let C = uniforms.channels;
          let G = uniforms.groups;
          let S = C / G;
          let c = index % C;
          let b = index / (C * N);
          let g = c / S;
          let bg = b * G + g;
          let r = Rstd[bg];
          let xHat = (X[index] - Mean[bg]) * r;
          let base = 2 * uniforms.batch * C + b * 2 * G + g;
          let count = f32(N * S);
          result[index] = r * (Dy[index] * W[c] - Sums[base] / count - xHat * (Sums[base + G] / count));`, { uniforms: UNIFORMS });
}

/** db (which = 0) or dw (which = 1): the per-sample channel sums of gradSumsProgram summed over the batch. */
function paramGradProgram(C: number): Program {
  return flatProgram([C], ['Sums'], 'pid_group_norm_grad_param', `
          let C = uniforms.channels;
          var acc = 0.0;
          for (var b = 0; b < uniforms.batch; b = b + 1) {
            acc = acc + Sums[(b * 2 + uniforms.which) * C + index];
          }
          result[index] = acc;`, { uniforms: UNIFORMS });
}

function groupNorm({ inputs: { x, w, b }, backend, attrs: { groups, eps } }: { inputs: Record<string, TensorInfo>; backend: WebGpuBackendLike; attrs: Attrs }): TensorInfo[] {
  const [B, H, W, C] = x.shape;
  const u = uniformValues(B, H * W, C, groups, eps);
  const mean = backend.runWebGPUProgram(statsProgram(B, groups, false), [x], 'float32', u);
  const rstd = backend.runWebGPUProgram(statsProgram(B, groups, true), [x, mean], 'float32', u);
  const y = backend.runWebGPUProgram(affineProgram(x.shape), [x, w, b, mean, rstd], 'float32', u);
  return [y, mean, rstd];
}

function groupNormGrad({ inputs: { dy, x, w, mean, rstd }, backend, attrs: { groups } }: { inputs: Record<string, TensorInfo>; backend: WebGpuBackendLike; attrs: Attrs }): TensorInfo[] {
  const [B, H, W, C] = x.shape;
  const u = uniformValues(B, H * W, C, groups);
  const sums = backend.runWebGPUProgram(gradSumsProgram(B, C, groups), [dy, x, w, mean, rstd], 'float32', u);
  const dx = backend.runWebGPUProgram(dxProgram(x.shape), [dy, x, w, mean, rstd, sums], 'float32', u);
  const dw = backend.runWebGPUProgram(paramGradProgram(C), [sums], 'float32', uniformValues(B, H * W, C, groups, 0, 1));
  const db = backend.runWebGPUProgram(paramGradProgram(C), [sums], 'float32', u);
  backend.disposeData(sums.dataId);
  return [dx, dw, db];
}

let registered = false;

/** Registers both kernels for webgpu (once; false when the webgpu backend is not registered). */
export function registerWebGpuGroupNorm(): boolean {
  if (registered) return true;
  if (!getKernel('Add', 'webgpu')) return false;
  registerKernel({ kernelName: GROUP_NORM, backendName: 'webgpu', kernelFunc: groupNorm as unknown as KernelFunc } as KernelConfig);
  registerKernel({ kernelName: GROUP_NORM_GRAD, backendName: 'webgpu', kernelFunc: groupNormGrad as unknown as KernelFunc } as KernelConfig);
  registered = true;
  return true;
}
