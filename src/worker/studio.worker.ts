/**
 * The training worker: a module Web Worker that owns tfjs and the GPU. It wires StudioController to postMessage,
 * starts the backend (WebGPU when navigator.gpu gives an adapter, else WebGL, wasm, cpu; or the user's choice),
 * serves the wasm binaries from this site (Vite `?url` assets), never from another origin, saves runs in IndexedDB
 * and watches the WebGPU device: when it is lost, the controller starts a new one and restores the run.
 */
/// <reference lib="webworker" />
import * as tf from '@tensorflow/tfjs-core';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import { type BackendName, startBackend } from '../core/backend';
import { probeAdapter } from './adapter';
import { autoBackendPlan } from './auto-backend';
import { StudioController } from './controller';
import { errorMessage } from './error-message';
import { IdbRunStore } from './idb-run-store';
import { type BackendChoice, type BackendInfo, isWorkerCommand, type WorkerEvent } from './protocol';

declare const self: DedicatedWorkerGlobalScope;

const abs = (u: string) => new URL(u, self.location.href).href;
const wasmPaths = {
  'tfjs-backend-wasm.wasm': abs(wasmPlain),
  'tfjs-backend-wasm-simd.wasm': abs(wasmSimd),
  'tfjs-backend-wasm-threaded-simd.wasm': abs(wasmThreaded),
};

/** The adapter report of the last start: "auto" races the GPU against wasm only when it is real hardware. */
let lastProbe: Awaited<ReturnType<typeof probeAdapter>> | null = null;

async function pickBackend(choice: BackendChoice): Promise<BackendInfo> {
  const gpu = (self.navigator as Navigator & { gpu?: unknown }).gpu;
  const probe = await probeAdapter(gpu);
  lastProbe = probe;
  const notes: string[] = [];
  if (choice !== 'auto') {
    try {
      const report = await startBackend(choice, { wasmPaths });
      return { asked: choice, got: tf.getBackend(), wasmThreads: report.wasmThreads, wasmThreadsReason: report.wasmThreadsReason, adapter: probe.adapter, ...(probe.note ? { adapterNote: probe.note } : {}), ...(report.fallbackReason ? { fallbackReason: report.fallbackReason } : {}) };
    } catch (e) {
      notes.push(`${choice} was asked for but did not start (${errorMessage(e)})`);
    }
  }
  const plan = autoBackendPlan(probe.adapter, probe.note);
  const order = plan.order;
  if (!probe.adapter) notes.push(`webgpu: ${probe.note}`); // WebGPU, the first choice on a GPU, is not there
  const report = await startBackend('auto', { wasmPaths, order });
  if (report.fallbackReason) notes.push(report.fallbackReason);
  const got = tf.getBackend();
  return {
    asked: choice,
    got,
    ...(choice === 'auto' && got === order[0] ? { reason: plan.reason } : {}),
    wasmThreads: report.wasmThreads,
    wasmThreadsReason: report.wasmThreadsReason,
    adapter: probe.adapter,
    ...(probe.note ? { adapterNote: probe.note } : {}),
    ...(notes.length ? { fallbackReason: notes.join('; ') } : {}),
  };
}

interface DeviceLike {
  lost: Promise<{ reason?: string; message?: string }>;
  destroy(): void;
}

/** The WebGPU device tfjs runs on, when the backend is webgpu. */
function currentDevice(): DeviceLike | null {
  if (tf.getBackend() !== 'webgpu') return null;
  return (tf.backend() as unknown as { device?: DeviceLike }).device ?? null;
}

let watched: DeviceLike | null = null;
let lostDevice: DeviceLike | null = null;
const lostWaiters: (() => void)[] = [];

/** Reports the loss of the device tfjs runs on to the controller (once per device). */
function watchDevice(): void {
  const device = currentDevice();
  if (!device || device === watched) return;
  watched = device;
  void device.lost.then((info) => {
    if (watched !== device) return;
    lostDevice = device;
    lostWaiters.splice(0).forEach((w) => w());
    const why = [info?.reason, info?.message].filter(Boolean).join(': ') || 'no reason given';
    void controller.deviceLost(why);
  });
}

async function startWatched(choice: BackendChoice): Promise<BackendInfo> {
  const info = await pickBackend(choice);
  watchDevice();
  return info;
}

/** Everything on the lost device is gone: drop all tensors and backends (their factories stay registered), start again. */
async function restartBackend(choice: BackendChoice): Promise<BackendInfo> {
  try {
    tf.engine().reset();
  } catch {
    // a backend on a dead device may fail to free its buffers; they are gone anyway
  }
  return startWatched(choice);
}

/** A failed step on webgpu: wait a moment for the device's loss to be reported, if it is lost. */
function deviceWasLost(): Promise<boolean> {
  const device = currentDevice();
  if (!device) return Promise.resolve(false);
  if (lostDevice === device) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(lostDevice === device), 1000);
    lostWaiters.push(() => {
      clearTimeout(timer);
      resolve(true);
    });
  });
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
  startBackend: startWatched,
  autoCandidates: () => (lastProbe?.adapter && !lastProbe.adapter.software ? ['webgpu', 'wasm'] : []),
  async useBackend(name) {
    const report = await startBackend(name as BackendName, { wasmPaths });
    watchDevice();
    const probe = lastProbe;
    return {
      asked: 'auto', got: tf.getBackend(), wasmThreads: report.wasmThreads, wasmThreadsReason: report.wasmThreadsReason,
      adapter: probe?.adapter ?? null, ...(probe?.note ? { adapterNote: probe.note } : {}),
    };
  },
  restartBackend,
  deviceWasLost,
  loseDevice() {
    const device = currentDevice();
    if (!device) return false;
    device.destroy();
    return true;
  },
  runStore: typeof indexedDB === 'undefined' ? undefined : new IdbRunStore(indexedDB),
  wallClock: () => Date.now(),
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
