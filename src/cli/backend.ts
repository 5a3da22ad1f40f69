/** The CLI's backend choice: wasm by default (fastest on a CPU), cpu, or webgpu where Node has a WebGPU adapter. */
import * as tf from '@tensorflow/tfjs-core';
import { type BackendName, startBackend } from '../core/backend';
import { UsageError } from './args';

const CLI_BACKENDS = ['wasm', 'cpu', 'webgpu'] as const;

export async function startCliBackend(value: unknown): Promise<string> {
  tf.enableProdMode(); // no console banners: stdout and stderr carry only what the commands print
  const asked = (value ?? 'wasm') as BackendName;
  if (!(CLI_BACKENDS as readonly string[]).includes(asked)) throw new UsageError(`--backend must be one of ${CLI_BACKENDS.join(', ')} (got '${asked}')`);
  try {
    return (await startBackend(asked)).got;
  } catch (e) {
    const hint = asked === 'webgpu' ? '; Node has no WebGPU adapter here, use --backend wasm (or the studio in a browser)' : '';
    throw new UsageError(`${(e as Error).message}${hint}`);
  }
}
