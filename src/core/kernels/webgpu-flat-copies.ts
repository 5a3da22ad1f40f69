/**
 * PidFlatConcat and PidFlatSplit (kernels/flat.ts) on webgpu as buffer copies (copyBufferToBuffer), with no compute
 * dispatch: laying tensors end to end, or cutting a flat vector into tensors, moves whole contiguous byte ranges.
 * Through the backend's Concat and SplitV kernels they took one dispatch per tensor (a SplitV is a Slice each; a
 * Concat takes a few inputs per program): 88 + 32 dispatches of the mnist28 UNet's step, 272 + 92 of EDM's SongUNet
 * 28x28. A copy needs no pipeline, bind group or uniform buffer; it is recorded outside a compute pass (the pass in
 * progress is ended first, as the backend does for its own copies).
 *
 * The backend frees a tensor's buffer only after the commands that use it are submitted when its data id is in
 * commandQueueOwnedIds: the source and every output are put there, as runWebGPUProgram does for a program's.
 */
import { type TensorInfo, util } from '@tensorflow/tfjs-core';
import { FLAT_CONCAT, FLAT_SPLIT } from './flat';
import { webGpuKernels } from './webgpu-program';

/** The parts of tfjs-backend-webgpu's WebGPUBackend (backend_webgpu.d.ts) a copy goes through. */
interface CopyingBackend {
  tensorMap: { get(dataId: object): { resource: unknown } };
  commandQueueOwnedIds: WeakSet<object>;
  commandEncoder: GPUCommandEncoder;
  makeTensorInfo(shape: number[], dtype: string): TensorInfo;
  uploadToGPU(dataId: object): void;
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
}

/** float32, int32 and bool take 4 bytes an entry on webgpu (webgpu_util.GPUBytesPerElement). */
const BYTES = 4;

/** The GPU buffer of a tensor (uploading it first when its values are on the host). */
function bufferOf(backend: CopyingBackend, t: TensorInfo): GPUBuffer {
  backend.uploadToGPU(t.dataId);
  const resource = backend.tensorMap.get(t.dataId).resource;
  if (!(resource instanceof GPUBuffer)) throw new Error('PidFlatConcat/PidFlatSplit: a tensor held in a texture, not a buffer');
  backend.commandQueueOwnedIds.add(t.dataId);
  return resource;
}

/** A new tensor of `shape` with its (uninitialised) GPU buffer. */
function freshOutput(backend: CopyingBackend, shape: number[], dtype: string): { info: TensorInfo; buffer: GPUBuffer } {
  const info = backend.makeTensorInfo(shape, dtype);
  return { info, buffer: bufferOf(backend, info) };
}

function startCopies(backend: CopyingBackend): GPUCommandEncoder {
  backend.ensureCommandEncoderReady();
  backend.endComputePassEncoder();
  return backend.commandEncoder;
}

function flatConcatCopies({ inputs, backend }: { inputs: Record<string, TensorInfo>; backend: CopyingBackend }): TensorInfo {
  const tensors = Object.values(inputs);
  const total = tensors.reduce((n, t) => n + util.sizeFromShape(t.shape), 0);
  const out = freshOutput(backend, [total], tensors[0].dtype);
  const sources = tensors.map((t) => bufferOf(backend, t));
  const encoder = startCopies(backend);
  let offset = 0;
  tensors.forEach((t, i) => {
    const bytes = util.sizeFromShape(t.shape) * BYTES;
    if (bytes > 0) encoder.copyBufferToBuffer(sources[i], 0, out.buffer, offset, bytes);
    offset += bytes;
  });
  return out.info;
}

function flatSplitCopies({ inputs: { x }, backend, attrs }: { inputs: Record<string, TensorInfo>; backend: CopyingBackend; attrs: { shapes: number[][] } }): TensorInfo[] {
  const source = bufferOf(backend, x);
  const outs = attrs.shapes.map((shape) => freshOutput(backend, shape, x.dtype));
  const encoder = startCopies(backend);
  let offset = 0;
  return outs.map(({ info, buffer }) => {
    const bytes = util.sizeFromShape(info.shape) * BYTES;
    if (bytes > 0) encoder.copyBufferToBuffer(source, offset, buffer, 0, bytes);
    offset += bytes;
    return info;
  });
}

const kernels = webGpuKernels({ [FLAT_CONCAT]: flatConcatCopies, [FLAT_SPLIT]: flatSplitCopies });
/** Registers both kernels for webgpu in place of flat.ts's Concat/SplitV ones (once; false without webgpu). */
export const registerWebGpuFlatCopies = kernels.register;
