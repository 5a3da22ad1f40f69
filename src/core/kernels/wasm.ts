/** The kernels this project adds to tfjs-backend-wasm 4.22 (architecture.md, "Known traps"); see each file. */
import { registerWasmBatchMatMul } from './wasm-batch-matmul';
import { registerWasmConcat } from './wasm-concat';
import { registerWasmConvGrads } from './wasm-conv-grads';
import { registerWasmGroupNorm } from './wasm-group-norm';
import { registerWasmIdentity } from './wasm-identity';
import { registerWasmSlice } from './wasm-slice';

/** Registers them all (idempotent); backend.ts calls it after importing the wasm backend, before it starts. */
export function registerWasmKernels(): void {
  registerWasmBatchMatMul();
  registerWasmConcat();
  registerWasmConvGrads();
  registerWasmGroupNorm();
  registerWasmIdentity();
  registerWasmSlice();
}
