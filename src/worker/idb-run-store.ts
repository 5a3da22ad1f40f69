/**
 * The saved run in IndexedDB (available in workers). Two object stores: 'runs' holds the latest run under one key,
 * 'teachers' a dropped teacher's files by sha256, written once per teacher rather than with every checkpoint.
 */
import type { InputFile } from '../formats/model-file';
import { type RunStore, type SavedRun, upgradeSavedRun } from './saved-run';

const DB_NAME = 'pid-studio';
const DB_VERSION = 1;
const RUNS = 'runs';
const TEACHERS = 'teachers';
const LATEST = 'latest';

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error ?? new Error('IndexedDB request failed'));
  });
}

function done(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'));
    tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
  });
}

export class IdbRunStore implements RunStore {
  private db: Promise<IDBDatabase> | null = null;
  /** sha256 of the teacher whose files are stored. */
  private storedTeacher: string | null = null;

  constructor(private readonly factory: IDBFactory = indexedDB) {}

  private open(): Promise<IDBDatabase> {
    this.db ??= new Promise((resolve, reject) => {
      const r = this.factory.open(DB_NAME, DB_VERSION);
      r.onupgradeneeded = () => {
        const db = r.result;
        if (!db.objectStoreNames.contains(RUNS)) db.createObjectStore(RUNS);
        if (!db.objectStoreNames.contains(TEACHERS)) db.createObjectStore(TEACHERS);
      };
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error ?? new Error('IndexedDB could not be opened'));
      r.onblocked = () => reject(new Error('IndexedDB is blocked by another tab of this page'));
    });
    this.db.catch(() => { this.db = null; });
    return this.db;
  }

  async load(): Promise<SavedRun | null> {
    const db = await this.open();
    const tx = db.transaction([RUNS, TEACHERS], 'readonly');
    const run = upgradeSavedRun(await request(tx.objectStore(RUNS).get(LATEST)));
    if (!run) return null;
    if (run.teacher.source.kind === 'files') {
      const files = (await request(tx.objectStore(TEACHERS).get(run.teacher.sha256))) as InputFile[] | undefined;
      if (!Array.isArray(files)) return null; // the teacher's files are gone: the run cannot continue
      run.teacher.files = files;
      this.storedTeacher = run.teacher.sha256;
    }
    return run;
  }

  async save(run: SavedRun): Promise<void> {
    const db = await this.open();
    const tx = db.transaction([RUNS, TEACHERS], 'readwrite');
    const { files } = run.teacher;
    const writeTeacher = files !== null && this.storedTeacher !== run.teacher.sha256;
    if (writeTeacher) {
      tx.objectStore(TEACHERS).clear();
      tx.objectStore(TEACHERS).put(files, run.teacher.sha256);
    } else if (files === null && this.storedTeacher !== null) {
      tx.objectStore(TEACHERS).clear();
    }
    tx.objectStore(RUNS).put({ ...run, teacher: { ...run.teacher, files: null } }, LATEST);
    await done(tx);
    this.storedTeacher = files !== null ? run.teacher.sha256 : null;
  }

  async clear(): Promise<void> {
    const db = await this.open();
    const tx = db.transaction([RUNS, TEACHERS], 'readwrite');
    tx.objectStore(RUNS).clear();
    tx.objectStore(TEACHERS).clear();
    await done(tx);
    this.storedTeacher = null;
  }
}
