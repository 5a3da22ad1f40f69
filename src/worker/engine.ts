/**
 * What the worker does with tfjs, free of any messaging: load a teacher, compute the teacher's side of the sample
 * view, run a PID distillation step by step, evaluate the student against the teacher's ODE, write and open student
 * files. All math comes from src/core; this module only wires it together and turns tensors into plain arrays.
 * It runs in the worker and, on the cpu backend, in Node tests.
 */
import * as tf from '@tensorflow/tfjs-core';
import { readCheckpoint } from '../core/checkpoint';
import { type NetworkFn, karrasSigmas, networkWithLabels, withLabels } from '../core/edm';
import { fixedLabels } from '../core/labels';
import { precondOf } from '../core/precond';
import { TrajectoryReference, type TrajectoryError } from '../core/metrics';
import { type Teacher, dataSize, finiteWeights, loadStudent, loadTeacher, studentFileBytes } from '../core/models';
import type { LearnedNetworkSpec } from '../core/nets';
import type { HostTensor } from '../core/nets/params';
import { pidOneStep } from '../core/pid';
import { PidRun, type RunTick } from '../core/run';
import { type MemoryLimit, type StepCost, microBatchFor } from '../core/plan';
import { measureStepCost } from '../core/plan-probe';
import { pidStudentAtTimes } from '../core/student';
import { Rng } from '../core/rng';
import { edmSamplingSigmas, sampleHeun } from '../core/samplers';
import type { PidStudioConfig } from '../formats/config';
import type { InputFile, ModelOrigin } from '../formats/model-file';
import { writeTorchStateDict } from '../formats/torch-file';
import { PRECOND_CHOICES, type PrecondType, readAnyModel } from '../core/model-import';
import { isLearnedNetwork } from '../core/nets';
import { describeNetwork } from '../formats/network-types';
import {
  type OpenedStudentInfo, type RunSettings, SAMPLE_NOISE_SEED, type StudentView, type TeacherInfo, type TeacherSource,
  type TeacherView, VALIDATION_NOISE_SEED, viewKindOf, viewSizes,
} from './protocol';

/** Milliseconds of training steps between two turns of the worker's lock: pause, stop and commands wait at most this long. */
const TICK_MS = 200;

/** Fixed noise z ~ N(0, sigma_max^2 I) of a given shape, the same for the same seed, count and shape. */
export function fixedNoise(seed: number, count: number, shape: number[], sigmaMax: number): tf.Tensor {
  return tf.tensor(new Rng(seed).normals(count * dataSize(shape), sigmaMax), [count, ...shape]);
}

function networkDetails(config: PidStudioConfig): [string, string][] {
  if (config.network.type === 'gaussian-mixture') return [['components', String(config.network.weights.length)]];
  const { type: _type, ...rest } = config.network;
  return Object.entries(rest).map(([k, v]) => [k, Array.isArray(v) ? `[${v.join(', ')}]` : String(v)]);
}

/** The teacher, the fixed noise batches and the teacher's reference trajectories on them. */
interface LoadedTeacher {
  teacher: Teacher;
  info: TeacherInfo;
  sampleZ: tf.Tensor;
  validationZ: tf.Tensor;
  /** Solved on first use (the first evaluation, or the paths view): a large teacher's card shows at once. */
  reference: TrajectoryReference | null;
  referenceSteps: number;
  /** The first `paths` validation noises, whose trajectories are drawn. */
  pathZ: tf.Tensor | null;
  /** A class-conditional teacher's labels for the validation noise (every class in turn) and for the sample grid. */
  validationLabels: tf.Tensor2D | undefined;
  sampleLabels: tf.Tensor2D | undefined;
  /** The one class the sample grid shows, or null for every class in turn. */
  sampleClass: number | null;
  view: TeacherView | null;
}

interface Run {
  run: PidRun;
  /** The weights a student file holds (EMA when one is kept). */
  exportF: NetworkFn;
}

/** The student last opened, kept so a run can continue from it when it was distilled from the loaded teacher. */
interface OpenedStudent {
  teacherSha256: string;
  network: LearnedNetworkSpec;
  weights: Map<string, HostTensor>;
  settings: RunSettings;
}

export class StudioEngine {
  private loaded: LoadedTeacher | null = null;
  private run: Run | null = null;
  private opened: OpenedStudent | null = null;
  /** What a step of the loaded image teacher costs on this backend, and the memory a run may take (core/plan.ts). */
  private sizing: { cost: StepCost; limit: MemoryLimit } | null = null;

  /**
   * Times real PID steps of the loaded teacher at one and two samples (an image teacher; 2D data needs no plan) and
   * keeps the cost: runs are then split into micro-batches that fit `limit`. Null when there is nothing to size.
   */
  async measureCost(limit: MemoryLimit, progress?: (what: string) => void): Promise<StepCost | null> {
    const l = this.requireTeacher();
    this.sizing = null;
    if (l.teacher.config.data.shape.length !== 3) return null;
    const cost = await measureStepCost(l.teacher, { limit, ...(progress ? { progress } : {}) });
    this.sizing = { cost, limit };
    return cost;
  }

  /** Samples per pass of a run of `batch`: the most that fit the backend's memory (the whole batch without a plan). */
  microBatchFor(batch: number): number | undefined {
    return this.sizing ? microBatchFor(this.sizing.cost, this.sizing.limit, batch) : undefined;
  }

  get teacherInfo(): TeacherInfo | null {
    return this.loaded?.info ?? null;
  }

  get step(): number {
    return this.run?.run.step ?? 0;
  }

  get runSettings(): RunSettings | null {
    return this.run ? { ...this.run.run.settings } : null;
  }

  /** The current run (its plan, trainer and student). */
  get pidRun(): PidRun | null {
    return this.run?.run ?? null;
  }

  /** Reads and validates a teacher file (throws ModelFileError with the one-line message), then replaces the current one. */
  async loadTeacher(files: InputFile[], source: TeacherSource): Promise<TeacherInfo> {
    const model = await readAnyModel(files, source.kind === 'files' && source.precond ? { precond: source.precond } : {});
    const teacher = loadTeacher(model);
    const { config } = teacher;
    const net = config.network;
    const info: TeacherInfo = {
      source,
      name: config.name,
      fileName: model.fileName,
      networkType: net.type,
      architecture: describeNetwork(net),
      labelDim: teacher.labelDim,
      precond: config.precond?.type ?? 'edm',
      precondAssumed: model.origin !== undefined && !model.origin.precondGiven,
      precondChoosable: model.origin?.format === 'pytorch' || model.origin?.format === 'safetensors',
      trainedSigmas: Number.isFinite(teacher.precond.trainedRange[1]) ? [...teacher.precond.trainedRange] : null,
      weightsTaken: teacherWeightsTaken(model.origin),
      ...(model.origin?.precondFrom ? { precondFrom: `the snapshot's ${model.origin.precondFrom}` } : {}),
      parameterCount: teacher.network ? teacher.network.parameterCount : null,
      components: net.type === 'gaussian-mixture' ? net.weights.length : null,
      networkDetails: networkDetails(config),
      dataShape: [...config.data.shape],
      dataRange: [...config.data.range],
      sigmaMin: config.edm.sigma_min,
      sigmaMax: config.edm.sigma_max,
      sigmaData: config.edm.sigma_data,
      rho: config.edm.rho,
      sha256: teacher.sha256,
    };
    const shape = config.data.shape;
    const sizes = viewSizes(dataSize(shape), teacher.network?.parameterCount ?? 0);
    const sampleZ = fixedNoise(SAMPLE_NOISE_SEED, sizes.samples, shape, config.edm.sigma_max);
    const validationZ = fixedNoise(VALIDATION_NOISE_SEED, sizes.validation, shape, config.edm.sigma_max);
    const validationLabels = fixedLabels(teacher.labelDim, sizes.validation);
    const pathZ = sizes.paths > 0 && viewKindOf(shape).kind === 'points2d' ? tf.slice(validationZ, 0, sizes.paths) : null;
    this.stopRun();
    this.disposeTeacher();
    this.sizing = null;
    const sampleLabels = fixedLabels(teacher.labelDim, sizes.samples);
    this.loaded = {
      teacher, info, sampleZ, validationZ, reference: null, referenceSteps: sizes.referenceSteps, pathZ, validationLabels, sampleLabels, sampleClass: null, view: null,
    };
    return info;
  }

  /** Shows one class in the sample grids (null: every class in turn); the next views are computed anew. */
  setSampleClass(classIndex: number | null): void {
    const l = this.requireTeacher();
    if (l.teacher.labelDim === 0 || classIndex === l.sampleClass) return;
    const labels = fixedLabels(l.teacher.labelDim, l.sampleZ.shape[0], classIndex ?? undefined);
    l.sampleLabels?.dispose();
    l.sampleLabels = labels;
    l.sampleClass = classIndex;
    l.view = null;
  }

  /** The view of the teacher last computed, if it is for these Heun steps. */
  teacherViewFor(heunSteps: number): TeacherView | null {
    const view = this.loaded?.view ?? null;
    return view && view.heunSteps === heunSteps ? view : null;
  }

  /**
   * The teacher's ODE samples (Heun, `heunSteps` Karras points + 0) from the fixed sample noise, and its paths.
   * `between` runs after each Heun step (progress, a turn of the event loop) and may give up: then null, nothing kept.
   */
  async teacherView(heunSteps: number, between?: (done: number, total: number) => Promise<boolean>): Promise<TeacherView | null> {
    const l = this.requireTeacher();
    if (l.view && l.view.heunSteps === heunSteps) return l.view;
    const { edm, data } = l.teacher.config;
    const sigmas = edmSamplingSigmas(heunSteps, edm.sigma_min, edm.sigma_max, edm.rho);
    const denoiser = withLabels(l.teacher.denoiser, l.sampleLabels);
    let x = tf.clone(l.sampleZ);
    let nfe = 0;
    let samples: Float32Array;
    try {
      for (let i = 0; i < sigmas.length - 1; i++) {
        const step = sampleHeun(denoiser, x, sigmas.slice(i, i + 2));
        nfe += step.nfe;
        x.dispose();
        x = step.x;
        const goOn = !between || (await between(i + 1, sigmas.length - 1));
        if (!goOn || this.loaded !== l) return null; // given up, or another teacher came meanwhile
      }
      samples = (await x.data()) as Float32Array;
    } finally {
      x.dispose();
    }
    let paths: Float32Array | null = null;
    if (l.pathZ) {
      const n = l.pathZ.shape[0];
      const stacked = tf.tidy(() => tf.stack(this.referenceOf(l).states.map((s) => tf.slice(s, 0, n))));
      paths = (await stacked.data()) as Float32Array;
      stacked.dispose();
    }
    l.view = {
      view: viewKindOf(data.shape),
      dataShape: [...data.shape],
      dataRange: [...data.range],
      samples,
      count: l.sampleZ.shape[0],
      heunSteps,
      nfe,
      paths,
      pathCount: l.pathZ ? l.pathZ.shape[0] : 0,
      times: karrasSigmas(l.referenceSteps, edm.sigma_min, edm.sigma_max, edm.rho),
      sigmaData: edm.sigma_data,
    };
    return l.view;
  }

  /**
   * Starts a new distillation of the loaded teacher (any previous run is discarded); `fromOpened` continues from the
   * student last opened, which must have been distilled from this teacher.
   */
  startRun(settings: RunSettings, fromOpened = false): void {
    const l = this.requireTeacher();
    const opened = fromOpened ? this.opened : null;
    if (fromOpened && (!opened || opened.teacherSha256 !== l.teacher.sha256)) {
      throw new Error('the opened student was not distilled from the loaded teacher: open one of its students, or start from the teacher');
    }
    this.stopRun();
    const microBatch = this.microBatchFor(settings.batch);
    const run = new PidRun(l.teacher, settings, {
      tickMs: TICK_MS, ...(microBatch !== undefined ? { microBatch } : {}), ...(opened ? { network: opened.network, initialWeights: opened.weights } : {}),
    });
    this.run = { run, exportF: run.exportedNetwork() };
  }

  /** The run's checkpoint (core/checkpoint.ts bytes): everything needed to continue it exactly. */
  async checkpoint(): Promise<Uint8Array> {
    if (!this.run) throw new Error('there is no run to checkpoint');
    return this.run.run.checkpoint();
  }

  /** Starts the run of `settings` from a checkpoint of it; refused when it was made for another teacher or network. */
  restoreRun(settings: RunSettings, bytes: Uint8Array): void {
    this.requireTeacher();
    const { info, state } = readCheckpoint(bytes, 'the saved checkpoint');
    this.stopRun();
    const l = this.requireTeacher();
    const microBatch = this.microBatchFor(settings.batch);
    const run = new PidRun(l.teacher, settings, { network: info.network, tickMs: TICK_MS, ...(microBatch !== undefined ? { microBatch } : {}) });
    const why = run.mismatch(info);
    if (why) {
      run.dispose();
      throw new Error(`the saved checkpoint ${why}: it cannot continue with this teacher`);
    }
    run.resume(state);
    this.run = { run, exportF: run.exportedNetwork() };
  }

  /** Non-finite steps the trainer skipped, restores of its last good state and the lr factor they left. */
  get faults(): { skippedSteps: number; restores: number; lrFactor: number } | null {
    const t = this.run?.run.trainer;
    return t ? { skippedSteps: t.skippedSteps, restores: t.restores, lrFactor: t.lrFactor } : null;
  }

  hasRun(): boolean {
    return this.run !== null;
  }

  /** Steps of the run up to its next evaluation, end or time budget: plain numbers out, no tensors left behind. */
  async tick(): Promise<RunTick> {
    if (!this.run) throw new Error('no run: start one first');
    return this.run.run.tick();
  }

  /** Trajectory error of the raw and the exported weights, and the sample view of the exported student. */
  async evaluate(): Promise<{ raw: TrajectoryError; ema: TrajectoryError; view: StudentView }> {
    const l = this.requireTeacher();
    if (!this.run) throw new Error('no run to evaluate');
    const { run: { trainer, student }, exportF } = this.run;
    const raw = await this.errorOf(student.apply);
    const ema = trainer.ema ? await this.errorOf(exportF) : raw;
    const view = await this.studentView(exportF, l.teacher.config, 'training', trainer.step, trainer.ema ? 'ema' : 'raw', ema);
    return { raw, ema, view };
  }

  /** A student's trajectory error against the loaded teacher's reference (with the validation labels, if any). */
  private errorOf(F: NetworkFn): Promise<TrajectoryError> {
    const l = this.requireTeacher();
    return this.referenceOf(l).errorOf(networkWithLabels(F, l.validationLabels));
  }

  /** The teacher's reference trajectories from the validation noise (Heun on `referenceSteps` Karras points), solved once. */
  private referenceOf(l: LoadedTeacher): TrajectoryReference {
    if (!l.reference) {
      const { teacher, validationZ, validationLabels, referenceSteps } = l;
      l.reference = new TrajectoryReference(withLabels(teacher.denoiser, validationLabels), teacher.config.edm, validationZ, referenceSteps, teacher.precond);
    }
    return l.reference;
  }

  /**
   * One-step samples x(z, sigma_min) of a student from the fixed sample noise (and the sample grid's labels), and
   * its paths x(z, t) at the reference times.
   */
  private async studentView(F: NetworkFn, config: PidStudioConfig, source: StudentView['source'], step: number,
    weights: StudentView['weights'], error: TrajectoryError | null, own?: { z: tf.Tensor; labels: tf.Tensor2D | undefined }): Promise<StudentView> {
    const l = this.loaded;
    const { edm, data } = config;
    const range = data.range;
    const precond = precondOf(config);
    const z = own?.z ?? l!.sampleZ;
    const labels = own ? own.labels : l!.sampleLabels;
    const pathZ = !own && l?.pathZ ? l.pathZ : null;
    const x = pidOneStep(networkWithLabels(F, labels), edm, z, precond);
    const p = pathZ ? pidStudentAtTimes(F, edm, pathZ, this.referenceOf(l!).times, precond) : null;
    const [samples, paths] = await Promise.all([x.data() as Promise<Float32Array>, p ? (p.data() as Promise<Float32Array>) : null]);
    tf.dispose(p ? [x, p] : [x]);
    return { source, step, weights, dataShape: z.shape.slice(1), dataRange: [...range], samples, count: z.shape[0], paths, error };
  }

  /** The student file of the current run (formats.md, student section). */
  async exportStudent(format: 'safetensors' | 'pytorch' = 'safetensors'): Promise<{ fileName: string; bytes: Uint8Array }> {
    const l = this.requireTeacher();
    if (!this.run) throw new Error('there is no student yet: start a distillation first');
    const { trainer } = this.run.run;
    const config = this.run.run.studentConfig();
    const base = `${slug(l.info.source.kind === 'builtin' ? l.info.source.id : l.teacher.config.name)}-pid-student-${trainer.step}steps`;
    if (format === 'pytorch') {
      const host = await finiteWeights(trainer.exportParams());
      const prefix = config.pytorch?.prefix ?? '';
      return { fileName: `${base}.pt`, bytes: writeTorchStateDict(new Map([...host].map(([name, t]) => [prefix + name, t]))) };
    }
    return { fileName: `${base}.safetensors`, bytes: await studentFileBytes(config, trainer.exportParams()) };
  }

  /**
   * Reads a student file and samples it in one step from the fixed sample noise (throws ModelFileError on bad files).
   * A bare network (.pt, .pkl, state-dict .safetensors) is read as a PID student, the PID reference's; its
   * preconditioning is the loaded teacher's (a student keeps its teacher's c_in and c_noise), else EDM's.
   */
  async openStudent(files: InputFile[]): Promise<{ info: OpenedStudentInfo; view: StudentView }> {
    const teacherPrecond = this.loaded?.teacher.config.precond?.type ?? 'edm';
    const fallback = (PRECOND_CHOICES as string[]).includes(teacherPrecond) && this.loaded ? teacherPrecond as PrecondType : undefined;
    const model = await readAnyModel(files, { role: 'student', ...(fallback ? { precondFallback: fallback } : {}) });
    const student = loadStudent(model);
    try {
      const { config } = student;
      const s = config.student ?? null;
      const origin = model.origin;
      if (s && isLearnedNetwork(config.network)) {
        const p = s.pid;
        this.opened = {
          teacherSha256: s.teacher.sha256, network: config.network, weights: model.tensors,
          settings: { N: p.N, loss: p.loss, optimizer: p.optimizer, lr: p.lr, lrFinal: p.lr_final ?? p.lr, ema: p.ema, batch: p.batch, steps: p.steps, seed: p.seed, evalEvery: Math.max(1, Math.round(p.steps / 10)) },
        };
      } else if (!s) {
        this.opened = null; // a bare network records no teacher or settings to continue from
      }
      const l = this.loaded;
      const sameShape = l !== null && l.teacher.config.data.shape.join(',') === config.data.shape.join(',')
        && l.teacher.config.edm.sigma_max === config.edm.sigma_max;
      const info: OpenedStudentInfo = {
        fileName: model.fileName,
        name: config.name,
        teacherName: s?.teacher.name ?? null,
        teacherSha256: s?.teacher.sha256 ?? null,
        matchesTeacher: s !== null && l !== null && l.teacher.sha256 === s.teacher.sha256,
        networkType: config.network.type,
        parameterCount: student.network.parameterCount,
        dataShape: [...config.data.shape],
        pid: s ? { ...s.pid } : null,
        ...(origin ? {
          bare: {
            format: origin.format,
            precond: config.precond?.type ?? 'edm',
            precondFrom: origin.precondFrom ? `the snapshot's ${origin.precondFrom}` : fallback ? "the loaded teacher's" : 'assumed: EDM\'s',
          },
        } : {}),
      };
      let view: StudentView;
      if (sameShape) {
        const error = await this.errorOf(student.network.apply);
        view = await this.studentView(student.network.apply, config, 'opened', s?.pid.steps ?? 0, 'ema', error);
      } else {
        const sizes = viewSizes(dataSize(config.data.shape), student.network.parameterCount);
        const z = fixedNoise(SAMPLE_NOISE_SEED, sizes.samples, config.data.shape, config.edm.sigma_max);
        const labels = fixedLabels(config.data.label_dim ?? 0, sizes.samples);
        try {
          view = await this.studentView(student.network.apply, config, 'opened', s?.pid.steps ?? 0, 'ema', null, { z, labels });
        } finally {
          tf.dispose(labels ? [z, labels] : [z]);
        }
      }
      return { info, view };
    } finally {
      student.dispose();
    }
  }

  stopRun(): void {
    if (!this.run) return;
    this.run.run.dispose();
    this.run = null;
  }

  private disposeTeacher(): void {
    const l = this.loaded;
    if (!l) return;
    l.reference?.dispose();
    tf.dispose([l.sampleZ, l.validationZ, ...[l.pathZ, l.validationLabels, l.sampleLabels].filter((t) => t != null)]);
    l.teacher.dispose();
    this.loaded = null;
  }

  private requireTeacher(): LoadedTeacher {
    if (!this.loaded) throw new Error('no teacher is loaded');
    return this.loaded;
  }

  dispose(): void {
    this.stopRun();
    this.disposeTeacher();
  }
}

/**
 * x_theta(z, t) for every z at every time in one batched evaluation: [times, B, ...dataShape]. The same numbers as
 * calling pidStudentX once per time, with one network call instead of `times.length` (on WebGPU every op is a
 * dispatch, so this is what keeps evaluation cheap).
 */
/** Which weights of a dropped file the teacher is, for the card: an EDM snapshot's 'ema' network says it is the EMA weights. */
export function teacherWeightsTaken(origin: ModelOrigin | undefined): string | null {
  if (!origin) return null;
  if (origin.format === 'edm-snapshot') return `the snapshot's '${origin.taken}' network${origin.taken === 'ema' ? ' (EMA weights)' : ''}`;
  return origin.taken;
}

export function slug(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 60) || 'teacher';
}
