/**
 * Two kernels that lay tensors of any shapes end to end and back in one launch each, where tf ops take one Reshape
 * per tensor plus a Concat (or a SplitV): PidFlatConcat (tensors -> [sum of their sizes]) and PidFlatSplit (a flat
 * vector -> tensors of the given shapes). They run the backend's own Concat and SplitV kernels on the tensors seen
 * as 1-D: on cpu and wasm a Reshape only relabels the data (same dataId), so the relabelled views cost nothing.
 * webgpu registers buffer copies under the same names (kernels/webgpu-flat-copies.ts, from backend.ts). webgl's
 * reshape of a packed texture is not free: there (and wherever neither is registered) flatConcat and flatSplit fall
 * back to tf ops.
 * No gradients: they serve the optimiser, after the tape.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Concat, type KernelFunc, type NamedTensorMap, SplitV, type TensorInfo, getKernel, registerKernel, util } from '@tensorflow/tfjs-core';

export const FLAT_CONCAT = 'PidFlatConcat';
export const FLAT_SPLIT = 'PidFlatSplit';
const BACKENDS = ['cpu', 'wasm'];

const flatView = (t: TensorInfo): TensorInfo => ({ dataId: t.dataId, shape: [util.sizeFromShape(t.shape)], dtype: t.dtype });

function backendKernel(name: string, backendName: string): KernelFunc {
  const k = getKernel(name, backendName);
  if (!k) throw new Error(`the ${backendName} backend has no ${name} kernel`);
  return k.kernelFunc;
}

function register(backendName: string): void {
  if (getKernel(FLAT_CONCAT, backendName)) return;
  registerKernel({
    kernelName: FLAT_CONCAT,
    backendName,
    kernelFunc: ({ inputs, backend }) =>
      backendKernel(Concat, backendName)({ inputs: (inputs as unknown as TensorInfo[]).map(flatView) as unknown as NamedTensorMap, backend, attrs: { axis: 0 } }),
  });
  registerKernel({
    kernelName: FLAT_SPLIT,
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const shapes = (attrs as unknown as { shapes: number[][] }).shapes;
      const parts = backendKernel(SplitV, backendName)({
        inputs, backend, attrs: { numOrSizeSplits: shapes.map((s) => util.sizeFromShape(s)), axis: 0 },
      }) as TensorInfo[];
      return parts.map((p, i) => ({ dataId: p.dataId, shape: shapes[i], dtype: p.dtype })); // fresh outputs, relabelled
    },
  });
}
for (const b of BACKENDS) register(b);

const native = () => getKernel(FLAT_CONCAT, tf.getBackend()) != null;

/** The tensors flattened and concatenated, [sum of sizes]. */
export function flatConcat(tensors: tf.Tensor[]): tf.Tensor1D {
  if (tensors.length === 1) return tf.reshape(tensors[0], [-1]);
  if (!native()) return tf.tidy(() => tf.concat(tensors.map((t) => tf.reshape(t, [-1]))) as tf.Tensor1D);
  return tf.engine().runKernel(FLAT_CONCAT, tensors as unknown as NamedTensorMap, {}) as tf.Tensor1D;
}

/** A flat vector cut into tensors of `shapes` (sizes summing to its length). */
export function flatSplit(flat: tf.Tensor1D, shapes: number[][]): tf.Tensor[] {
  const total = shapes.reduce((n, s) => n + util.sizeFromShape(s), 0);
  if (total !== flat.size) throw new Error(`flatSplit: shapes hold ${total} entries, the vector ${flat.size}`);
  if (shapes.length === 1) return [tf.reshape(flat, shapes[0])];
  if (!native()) return tf.tidy(() => tf.split(flat, shapes.map((s) => util.sizeFromShape(s))).map((p, i) => tf.reshape(p, shapes[i])));
  return tf.engine().runKernel(FLAT_SPLIT, { x: flat }, { shapes } as unknown as tf.NamedAttrMap) as unknown as tf.Tensor[];
}
