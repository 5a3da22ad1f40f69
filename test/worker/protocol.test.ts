import { describe, expect, it } from 'vitest';
import { adapterLabel, adapterReport, probeAdapter } from '../../src/worker/adapter';
import { StudioClient, type WorkerPort } from '../../src/worker/client';
import { errorMessage } from '../../src/worker/error-message';
import { Lock } from '../../src/worker/lock';
import { ModelFileError } from '../../src/formats/errors';
import { isWorkerCommand, viewKindOf, viewSizes, type WorkerCommand, type WorkerEvent } from '../../src/worker/protocol';

describe('protocol', () => {
  it('recognises commands and refuses anything else', () => {
    expect(isWorkerCommand({ type: 'start', settings: {} })).toBe(true);
    expect(isWorkerCommand({ type: 'export-student', requestId: 1 })).toBe(true);
    expect(isWorkerCommand({ type: 'metrics' })).toBe(false);
    expect(isWorkerCommand(null)).toBe(false);
    expect(isWorkerCommand('start')).toBe(false);
  });

  it('picks the sample view by data shape', () => {
    expect(viewKindOf([2])).toEqual({ kind: 'points2d' });
    expect(viewKindOf([28, 28, 1])).toEqual({ kind: 'images', height: 28, width: 28, channels: 1 });
    expect(viewKindOf([8, 8, 3])).toMatchObject({ kind: 'images', channels: 3 });
    expect(viewKindOf([5])).toMatchObject({ kind: 'none' });
    expect(viewSizes(2)).toMatchObject({ samples: 512, paths: 8 });
    expect(viewSizes(784)).toMatchObject({ samples: 16, paths: 0 });
  });
});

describe('adapter report', () => {
  it('flags software adapters by the fallback flag or by name', () => {
    expect(adapterReport({ vendor: 'google', architecture: 'swiftshader' }, undefined)).toMatchObject({ software: true, isFallbackAdapter: false });
    expect(adapterReport({ vendor: 'nvidia', architecture: 'ampere' }, false)).toMatchObject({ software: false });
    expect(adapterReport({ vendor: 'x', isFallbackAdapter: true }, undefined)).toMatchObject({ software: true, isFallbackAdapter: true });
    expect(adapterReport({ vendor: 'mesa', description: 'llvmpipe (LLVM 15)' }, undefined).software).toBe(true);
    expect(adapterLabel(adapterReport({ vendor: 'google', architecture: 'swiftshader', isFallbackAdapter: true }, undefined)))
      .toBe('google swiftshader (software, fallback adapter)');
    expect(adapterLabel(adapterReport({ vendor: 'nvidia', architecture: 'hopper' }, false))).toBe('nvidia hopper');
  });

  it('probes navigator.gpu and says why there is no adapter', async () => {
    expect(await probeAdapter(undefined)).toEqual({ adapter: null, note: 'WebGPU is not available here (no navigator.gpu)' });
    expect(await probeAdapter({ requestAdapter: async () => null })).toEqual({ adapter: null, note: 'navigator.gpu.requestAdapter() gave no adapter' });
    expect((await probeAdapter({ requestAdapter: async () => { throw new Error('boom'); } })).note).toBe('requestAdapter failed: boom');
    const viaInfo = await probeAdapter({ requestAdapter: async () => ({ info: { vendor: 'apple', architecture: 'metal-3' } }) });
    expect(viaInfo.adapter).toMatchObject({ vendor: 'apple', software: false });
    const old = await probeAdapter({ requestAdapter: async () => ({ isFallbackAdapter: true, requestAdapterInfo: async () => ({ vendor: 'v' }) }) });
    expect(old.adapter).toMatchObject({ vendor: 'v', isFallbackAdapter: true, software: true });
  });
});

class FakePort implements WorkerPort {
  sent: { message: WorkerCommand; transfer?: Transferable[] }[] = [];
  private onMessage: ((e: MessageEvent) => void)[] = [];
  private onError: ((e: ErrorEvent) => void)[] = [];
  terminated = false;
  postMessage(message: unknown, transfer?: Transferable[]) { this.sent.push({ message: message as WorkerCommand, transfer }); }
  addEventListener(type: 'message' | 'error', listener: (e: never) => void) {
    if (type === 'message') this.onMessage.push(listener as (e: MessageEvent) => void);
    else this.onError.push(listener as (e: ErrorEvent) => void);
  }
  terminate() { this.terminated = true; }
  emit(e: WorkerEvent) { for (const l of this.onMessage) l({ data: e } as MessageEvent); }
  crash(message: string) { for (const l of this.onError) l({ message } as ErrorEvent); }
}

describe('StudioClient', () => {
  it('sends commands, transferring dropped file bytes', () => {
    const port = new FakePort();
    const client = new StudioClient(port);
    const bytes = new Uint8Array([1, 2, 3]);
    client.send({ type: 'load-teacher', source: { kind: 'files', files: [{ name: 'a.safetensors', bytes }] } });
    expect(port.sent[0].transfer).toEqual([bytes.buffer]);
    client.send({ type: 'pause' });
    expect(port.sent[1]).toEqual({ message: { type: 'pause' }, transfer: [] });
  });

  it('pairs replies with requests, and rejects with the worker\'s one-line error', async () => {
    const port = new FakePort();
    const client = new StudioClient(port);
    const seen: WorkerEvent[] = [];
    client.on((e) => seen.push(e));
    const exported = client.exportStudent();
    const id = (port.sent[0].message as { requestId: number }).requestId;
    port.emit({ type: 'student-file', requestId: id, fileName: 's.safetensors', bytes: new Uint8Array([9]) });
    await expect(exported).resolves.toEqual({ fileName: 's.safetensors', bytes: new Uint8Array([9]) });
    const opened = client.openStudent([{ name: 'x.safetensors', bytes: new Uint8Array(1) }]);
    const id2 = (port.sent[1].message as { requestId: number }).requestId;
    expect(id2).not.toBe(id);
    port.emit({ type: 'error', scope: 'student', message: 'x.safetensors: too short', requestId: id2 });
    await expect(opened).rejects.toThrow('x.safetensors: too short');
    // replies go to their caller only; other events to every listener
    port.emit({ type: 'busy', task: null });
    expect(seen).toEqual([{ type: 'busy', task: null }]);
  });

  it('turns a crashed worker into an error event and rejects what is pending', async () => {
    const port = new FakePort();
    const client = new StudioClient(port);
    const seen: WorkerEvent[] = [];
    client.on((e) => seen.push(e));
    const pending = client.exportStudent();
    port.crash('out of memory');
    await expect(pending).rejects.toThrow('the training worker crashed: out of memory');
    expect(seen).toEqual([{ type: 'error', scope: 'protocol', message: 'the training worker crashed: out of memory' }]);
    client.close();
    expect(port.terminated).toBe(true);
    await expect(client.exportStudent()).rejects.toThrow('closed');
  });
});

describe('controller helpers', () => {
  it('the lock runs jobs one at a time, in order, past failures', async () => {
    const lock = new Lock();
    const log: string[] = [];
    const slow = lock.run(async () => { await new Promise((r) => setTimeout(r, 20)); log.push('a'); });
    const bad = lock.run(async () => { log.push('b'); throw new Error('x'); });
    const c = lock.run(async () => { log.push('c'); return 3; });
    await slow;
    await expect(bad).rejects.toThrow('x');
    expect(await c).toBe(3);
    expect(log).toEqual(['a', 'b', 'c']);
  });

  it('error messages are one line; file errors keep their own words', () => {
    expect(errorMessage(new ModelFileError('a.json', 'bad', 'fix it'))).toBe('a.json: bad. Fix: fix it');
    expect(errorMessage(new Error('two\n  lines'))).toBe('two lines');
    expect(errorMessage('')).toBe('unknown error');
  });
});
