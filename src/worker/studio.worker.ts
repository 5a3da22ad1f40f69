/**
 * The training worker: a module Web Worker that owns tfjs and the GPU. It wires StudioController to postMessage,
 * starts the backend (WebGPU when navigator.gpu gives an adapter, else WebGL, wasm, cpu; or the user's choice) and
 * serves the wasm binaries from this site (Vite `?url` assets), never from another origin.
 */
/// <reference lib="webworker" />
import * as tf from '@tensorflow/tfjs-core';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import { type BackendName, startBackend } from '../core/backend';
import { probeAdapter } from './adapter';
import { StudioController, errorMessage } from './controller';
import { type BackendChoice, type BackendInfo, isWorkerCommand, type WorkerEvent } from './protocol';

declare const self: DedicatedWorkerGlobalScope;

const abs = (u: string) => new URL(u, self.location.href).href;
const wasmPaths = {
  'tfjs-backend-wasm.wasm': abs(wasmPlain),
  'tfjs-backend-wasm-simd.wasm': abs(wasmSimd),
  'tfjs-backend-wasm-threaded-simd.wasm': abs(wasmThreaded),
};

async function pickBackend(choice: BackendChoice): Promise<BackendInfo> {
  const gpu = (self.navigator as Navigator & { gpu?: unknown }).gpu;
  const probe = await probeAdapter(gpu);
  const notes: string[] = [];
  if (choice !== 'auto') {
    try {
      const report = await startBackend(choice, { wasmPaths });
      return { asked: choice, got: tf.getBackend(), adapter: probe.adapter, ...(probe.note ? { adapterNote: probe.note } : {}), ...(report.fallbackReason ? { fallbackReason: report.fallbackReason } : {}) };
    } catch (e) {
      notes.push(`${choice} was asked for but did not start (${errorMessage(e)})`);
    }
  }
  const order: BackendName[] = ['webgpu', 'webgl', 'wasm', 'cpu'];
  if (!probe.adapter) {
    order.shift();
    notes.push(`webgpu: ${probe.note}`);
  }
  const report = await startBackend('auto', { wasmPaths, order });
  if (report.fallbackReason) notes.push(report.fallbackReason);
  const got = tf.getBackend();
  return {
    asked: choice,
    got,
    adapter: probe.adapter,
    ...(probe.note ? { adapterNote: probe.note } : {}),
    ...(notes.length ? { fallbackReason: notes.join('; ') } : {}),
  };
}

/** A macrotask boundary that is not clamped like nested setTimeout(0). */
const channel = new MessageChannel();
const waiting: (() => void)[] = [];
channel.port1.onmessage = () => waiting.shift()?.();
function yieldToEvents(): Promise<void> {
  return new Promise((resolve) => {
    waiting.push(resolve);
    channel.port2.postMessage(0);
  });
}

const post = (event: WorkerEvent, transfer: Transferable[] = []) => self.postMessage(event, transfer);

const controller = new StudioController({
  emit: post,
  startBackend: pickBackend,
  async fetchBytes(url) {
    const res = await fetch(url);
    if (!res.ok) throw new Error(`could not fetch ${url}: HTTP ${res.status}`);
    return new Uint8Array(await res.arrayBuffer());
  },
  yieldToEvents,
  now: () => performance.now(),
});

self.onmessage = (e: MessageEvent) => {
  if (!isWorkerCommand(e.data)) {
    post({ type: 'error', scope: 'protocol', message: `the worker got a message it does not understand: ${JSON.stringify(e.data)?.slice(0, 80)}` });
    return;
  }
  void controller.handle(e.data);
};
