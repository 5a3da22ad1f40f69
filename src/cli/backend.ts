/** The CLI's backend choice: wasm by default (fastest on a CPU), cpu, or webgpu through Dawn's Node binding (webgpu-node.ts). */
import * as tf from '@tensorflow/tfjs-core';
import { type BackendName, startBackend } from '../core/backend';
import { UsageError } from './args';

const CLI_BACKENDS = ['wasm', 'cpu', 'webgpu'] as const;

/** Starts the asked backend; returns its name, for webgpu with the adapter in parentheses ("webgpu (nvidia hopper: ...)"). */
export async function startCliBackend(value: unknown): Promise<string> {
  tf.enableProdMode(); // no console banners: stdout and stderr carry only what the commands print
  const asked = (value ?? 'wasm') as BackendName;
  if (!(CLI_BACKENDS as readonly string[]).includes(asked)) throw new UsageError(`--backend must be one of ${CLI_BACKENDS.join(', ')} (got '${asked}')`);
  let adapter = '';
  try {
    // Loaded only here, so wasm and cpu runs never load Dawn.
    if (asked === 'webgpu') adapter = ` (${(await (await import('../core/webgpu-node')).installNodeWebGpu()).description})`;
    return (await startBackend(asked)).got + adapter;
  } catch (e) {
    const hint = asked === 'webgpu' ? '; use --backend wasm' : '';
    throw new UsageError(`the ${asked} backend did not start: ${(e as Error).message.replace(/^the \w+ backend did not start: /, '')}${hint}`);
  }
}
