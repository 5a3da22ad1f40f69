/**
 * The page's handle on the training worker: typed commands out, typed events in, and promises for the
 * request/response pairs (export a student, export a run, open a student). Takes any Worker-like port, so tests can pass a fake.
 */
import type { InputFile } from '../formats/model-file';
import type { OpenedStudentInfo, RunSettings, StudentView, WorkerCommand, WorkerEvent } from './protocol';

export interface WorkerPort {
  postMessage(message: unknown, transfer?: Transferable[]): void;
  addEventListener(type: 'message', listener: (e: MessageEvent) => void): void;
  addEventListener(type: 'error', listener: (e: ErrorEvent) => void): void;
  terminate(): void;
}

type Pending = { resolve: (e: WorkerEvent) => void; reject: (err: Error) => void };

export class StudioClient {
  private readonly listeners = new Set<(e: WorkerEvent) => void>();
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;

  constructor(private readonly port: WorkerPort) {
    port.addEventListener('message', (e: MessageEvent) => this.receive(e.data as WorkerEvent));
    port.addEventListener('error', (e: ErrorEvent) => {
      const message = `the training worker crashed: ${e.message || 'unknown error'}`;
      this.receive({ type: 'error', scope: 'protocol', message });
      for (const p of this.pending.values()) p.reject(new Error(message));
      this.pending.clear();
    });
  }

  /** Subscribes to every event; returns the unsubscribe function. */
  on(listener: (e: WorkerEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  send(cmd: WorkerCommand): void {
    if (this.closed) return;
    const transfer: Transferable[] = [];
    if (cmd.type === 'open-student' || (cmd.type === 'load-teacher' && cmd.source.kind === 'files')) {
      const src = cmd.source;
      const files = src.kind === 'files' ? src.files : [];
      for (const f of files) if (f.bytes.buffer instanceof ArrayBuffer) transfer.push(f.bytes.buffer);
    }
    this.port.postMessage(cmd, transfer);
  }

  /** Asks for the current student's file. Rejects with the worker's one-line error. */
  exportStudent(format: 'safetensors' | 'pytorch' = 'safetensors'): Promise<{ fileName: string; bytes: Uint8Array }> {
    return this.request({ type: 'export-student', requestId: this.nextId++, format }).then((e) => {
      if (e.type !== 'student-file') throw new Error(`unexpected reply ${e.type}`);
      return { fileName: e.fileName, bytes: e.bytes };
    });
  }

  /** Asks for the "Run on your GPUs" zip of the loaded teacher and `settings`. Rejects with the worker's one-line error. */
  exportRun(settings: RunSettings): Promise<{ fileName: string; bytes: Uint8Array }> {
    return this.request({ type: 'export-run', requestId: this.nextId++, settings }).then((e) => {
      if (e.type !== 'run-zip') throw new Error(`unexpected reply ${e.type}`);
      return { fileName: e.fileName, bytes: e.bytes };
    });
  }

  /** Sends a student file (or a built-in student's address) to be read and sampled in one step. Rejects with the file's one-line error. */
  openStudent(source: InputFile[] | { kind: 'builtin'; id: string; url: string }): Promise<{ student: OpenedStudentInfo; view: StudentView }> {
    const src = Array.isArray(source) ? { kind: 'files' as const, files: source } : source;
    return this.request({ type: 'open-student', source: src, requestId: this.nextId++ }).then((e) => {
      if (e.type !== 'opened-student') throw new Error(`unexpected reply ${e.type}`);
      return { student: e.student, view: e.view };
    });
  }

  private request(cmd: Extract<WorkerCommand, { requestId: number }>): Promise<WorkerEvent> {
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(new Error('the training worker has been closed'));
      this.pending.set(cmd.requestId, { resolve, reject });
      this.send(cmd);
    });
  }

  private receive(e: WorkerEvent): void {
    if ('requestId' in e && e.requestId !== undefined) {
      const p = this.pending.get(e.requestId);
      if (p) {
        this.pending.delete(e.requestId);
        if (e.type === 'error') p.reject(new Error(e.message));
        else p.resolve(e);
        return; // a reply goes to its caller only
      }
    }
    for (const l of this.listeners) l(e);
  }

  close(): void {
    this.closed = true;
    for (const p of this.pending.values()) p.reject(new Error('the training worker has been closed'));
    this.pending.clear();
    this.port.terminate();
  }
}

/** Starts the studio worker (a module worker, bundled by Vite). */
export function createStudioWorker(): Worker {
  return new Worker(new URL('./studio.worker.ts', import.meta.url), { type: 'module', name: 'pid-studio-training' });
}
