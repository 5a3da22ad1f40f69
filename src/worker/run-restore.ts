/**
 * The distillation saved in this browser (saved-run.ts), after a reload: offered to the page when the backend has
 * started, and continued on request. Its teacher is loaded again (a dropped one from the files saved with the run,
 * a built-in one fetched from the site), must be the same file (sha256), and the run goes on from its checkpoint.
 */
import type { InputFile } from '../formats/model-file';
import { errorMessage } from './error-message';
import type { Emit, RunPhase, TeacherSource } from './protocol';
import { type RunStore, type SavedRun, summarize } from './saved-run';

/** A loaded teacher's files: kept to load it again on a new device and to save a dropped one with the run. */
export interface TeacherFiles {
  files: InputFile[];
  source: TeacherSource;
}

/** Tells the page which run is saved (or none); a store that cannot be read is said, not fatal. */
export async function offerSavedRun(store: RunStore | undefined, emit: Emit): Promise<void> {
  if (!store) return;
  try {
    const saved = await store.load();
    emit({ type: 'saved-run', saved: saved ? summarize(saved) : null });
  } catch (e) {
    emit({ type: 'error', scope: 'saved-run', message: `saved runs cannot be read (${errorMessage(e)}): this run will not survive a reload` });
  }
}

/** What resuming asks of the controller, in the order it asks. */
export interface ResumeSteps {
  emit: Emit;
  fetchBytes(url: string): Promise<Uint8Array>;
  setHeunSteps(heunSteps: number): void;
  /** Loads the teacher as a chosen one is, and resolves to its sha256. */
  loadTeacher(teacher: TeacherFiles): Promise<string>;
  setPhase(phase: RunPhase): void;
  /** Continues the run from `saved` in `phase`. */
  restore(saved: SavedRun, phase: RunPhase): Promise<void>;
}

/**
 * Continues the saved run of `store` on its teacher; `teacherUrl` is where a built-in teacher is now (null when the
 * site no longer has it). A finished or stopped run comes back as it was, any other trains on.
 */
export async function resumeSavedRun(store: RunStore | undefined, teacherUrl: string | null, steps: ResumeSteps): Promise<void> {
  const saved = store ? await store.load() : null;
  if (!saved) throw new Error('there is no saved distillation in this browser any more');
  const files = await savedTeacherFiles(saved, teacherUrl, steps.fetchBytes);
  steps.setHeunSteps(saved.view.heunSteps);
  steps.emit({ type: 'teacher-loading', source: saved.teacher.source });
  const sha = await steps.loadTeacher({ files, source: saved.teacher.source });
  if (sha !== saved.teacher.sha256) {
    steps.setPhase('idle');
    throw new Error(`the saved distillation (step ${saved.step}) was made for teacher "${saved.teacher.name}" with sha256 ${saved.teacher.sha256.slice(0, 12)}…, `
      + `but that teacher's file is now ${sha.slice(0, 12)}…: its checkpoint cannot continue with a different teacher. Discard the saved run and start a new one`);
  }
  await steps.restore(saved, saved.phase === 'done' || saved.phase === 'stopped' ? saved.phase : 'training');
  steps.emit({ type: 'saved-run', saved: null }); // it is the current run now
}

async function savedTeacherFiles(saved: SavedRun, teacherUrl: string | null, fetchBytes: (url: string) => Promise<Uint8Array>): Promise<InputFile[]> {
  if (saved.teacher.files) return saved.teacher.files;
  const src = saved.teacher.source;
  if (src.kind !== 'builtin' || !teacherUrl) throw new Error(`the saved distillation's teacher "${saved.teacher.name}" is no longer among this site's built-in teachers: discard the saved run`);
  return [{ name: teacherUrl.split('/').pop() || `${src.id}.safetensors`, bytes: await fetchBytes(teacherUrl) }];
}
