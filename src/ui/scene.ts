/**
 * What the sample view shows, as plain data: panels with titles, point layers, paths or image grids. Built from the
 * teacher's and the student's views; drawn by draw.ts onto one canvas (which is also what "Download PNG" saves).
 * A new data kind adds a case here and a panel kind in draw.ts.
 */
import { type StudentView, type TeacherView, viewKindOf } from '../worker/protocol';
import { type Range, countOutside, extent, padRange, scaledPaths } from './plot';

export const TEACHER_COLOR = '#3b6fb6';
export const STUDENT_COLOR = '#e0672a';
export const PATH_COLORS = ['#e0672a', '#2a9d8f', '#8e44ad', '#c0392b', '#27ae60', '#d4a017', '#1f77b4', '#e84393'];

export interface PointLayer { points: Float32Array; color: string; alpha: number; radius: number; label: string }

export type Panel =
  | { kind: 'scatter'; title: string; subtitle: string; view: Range; layers: PointLayer[]; outside: number }
  | { kind: 'paths'; title: string; subtitle: string; times: number[]; yRange: Range; yLabel: string;
      teacher: number[][]; student: number[][] | null }
  | { kind: 'images'; title: string; subtitle: string; images: Float32Array; count: number; height: number; width: number;
      channels: number; range: [number, number]; classes: number[] | null }
  | { kind: 'message'; title: string; text: string };

export interface Scene { panels: Panel[]; caption: string }

/** The classes a class-conditional model's grid was sampled with: one class (`only`), or every class in turn. */
export interface GridClasses { labelDim: number; only: number | null }

/**
 * The class of each cell of a grid, to be written in the cell: every class in turn gives cell i class i mod labelDim
 * (core/labels.ts, fixedLabels); null for a grid of one class or of an unconditional model.
 */
export function cellClasses(count: number, classes: GridClasses | null | undefined): number[] | null {
  if (!classes || classes.labelDim <= 0 || classes.only !== null) return null;
  return Array.from({ length: count }, (_, i) => i % classes.labelDim);
}

/** What a grid's subtitle says of its classes: " · class 3", " · classes 0–9 in turn, row by row", or nothing. */
export function classesText(classes: GridClasses | null | undefined): string {
  if (!classes || classes.labelDim <= 0) return '';
  if (classes.only !== null) return ` · class ${classes.only}`;
  return classes.labelDim === 1 ? ' · class 0' : ` · classes 0–${classes.labelDim - 1} in turn, row by row`;
}

export function studentSubtitle(v: StudentView, name?: string): string {
  const weights = v.weights === 'ema' ? 'EMA weights' : 'training weights';
  // a bare network read as a PID student records no step count (step 0)
  if (v.source === 'opened') return `${name ?? 'opened student'}${v.step > 0 ? ` · ${v.step} steps` : ''} · 1 NFE`;
  return `step ${v.step} · ${weights} · 1 NFE`;
}

/**
 * `waiting`: what the page is waiting for before there is a teacher view (loading the teacher, solving its ODE), said
 * in place of "No teacher loaded yet."; while it is set an opened student is not drawn against a view that is going.
 * `teacherClasses`, `studentClasses`: the classes a class-conditional teacher's and student's grids were sampled with
 * (the student's only when it is drawn beside that teacher: alone, it was sampled with its own labels).
 */
export function buildScene(loadedTeacher: TeacherView | null, student: StudentView | null, opts: {
  coord?: number; studentName?: string; waiting?: string | null; teacherClasses?: GridClasses | null; studentClasses?: GridClasses | null;
  /** The teacher is loaded but its picture is not drawn yet (training came first). */
  teacherPending?: boolean;
} = {}): Scene {
  if (!loadedTeacher && (!student || opts.waiting)) {
    return { panels: [{ kind: 'message', title: 'Samples', text: opts.waiting ? `${opts.waiting}…` : 'No teacher loaded yet.' }], caption: '' };
  }
  // A student of another data shape is shown alone.
  const teacher = loadedTeacher && student && loadedTeacher.dataShape.join(',') !== student.dataShape.join(',') ? null : loadedTeacher;
  const kind = viewKindOf(teacher?.dataShape ?? student!.dataShape);
  const teacherTitle = teacher ? `Teacher ODE · Heun ${teacher.heunSteps} steps (${teacher.nfe} NFE)` : 'Teacher';
  const noTeacher = opts.teacherPending ? "the teacher's ODE is solved for this picture when the run pauses or ends: training comes first"
    : 'no teacher of this data shape is loaded';
  const studentTitle = student ? 'Student · one step x_θ(z, σ_min)' : 'Student';
  const studentSub = student ? studentSubtitle(student, opts.studentName) : 'start a distillation to see its samples';
  const count = teacher?.count ?? student?.count ?? 0;
  const caption = `${count} samples from the same fixed noise z ~ N(0, σ_max² I) for teacher and student`;

  if (kind.kind === 'none') return { panels: [{ kind: 'message', title: 'Samples', text: kind.reason }], caption: '' };

  if (kind.kind === 'images') {
    const range = teacher?.dataRange ?? student!.dataRange;
    const studentClasses = teacher ? opts.studentClasses : null;
    // The student's subtitle is long already: it names one class, and leaves "in turn" to the teacher's and the cells.
    const studentClassText = studentClasses?.only != null ? classesText(studentClasses) : '';
    const panels: Panel[] = [
      teacher
        ? { kind: 'images', title: teacherTitle, subtitle: `${teacher.count} samples${classesText(opts.teacherClasses)}`, images: teacher.samples, count: teacher.count,
            height: kind.height, width: kind.width, channels: kind.channels, range, classes: cellClasses(teacher.count, opts.teacherClasses) }
        : { kind: 'message', title: teacherTitle, text: noTeacher },
      student
        ? { kind: 'images', title: studentTitle, subtitle: studentSub + studentClassText, images: student.samples,
            count: student.count, height: kind.height, width: kind.width, channels: kind.channels, range, classes: cellClasses(student.count, studentClasses) }
        : { kind: 'message', title: studentTitle, text: studentSub },
    ];
    return { panels, caption };
  }

  // points2d
  const range = teacher?.dataRange ?? student!.dataRange;
  const view = padRange({ lo: range[0], hi: range[1] }, 0.15);
  const teacherLayer: PointLayer | null = teacher
    ? { points: teacher.samples, color: TEACHER_COLOR, alpha: 0.55, radius: 1.6, label: 'teacher' } : null;
  const panels: Panel[] = [];
  panels.push(teacherLayer
    ? { kind: 'scatter', title: teacherTitle, subtitle: `${teacher!.count} samples`, view, layers: [teacherLayer], outside: countOutside(teacher!.samples, view) }
    : { kind: 'message', title: teacherTitle, text: noTeacher });
  if (student) {
    const layers: PointLayer[] = [];
    if (teacherLayer && teacher!.count === student.count) layers.push({ ...teacherLayer, color: '#9aa5b1', alpha: 0.35, label: 'teacher (for reference)' });
    layers.push({ points: student.samples, color: STUDENT_COLOR, alpha: 0.7, radius: 1.6, label: 'student' });
    panels.push({ kind: 'scatter', title: studentTitle, subtitle: studentSub, view, layers, outside: countOutside(student.samples, view) });
  } else {
    panels.push({ kind: 'message', title: studentTitle, text: studentSub });
  }
  if (teacher?.paths && teacher.pathCount > 0) {
    const coord = opts.coord ?? 0;
    const dim = teacher.dataShape.reduce((a, b) => a * b, 1);
    const t = scaledPaths(teacher.paths, teacher.times, teacher.pathCount, dim, coord, teacher.sigmaData);
    const s = student?.paths ? scaledPaths(student.paths, teacher.times, teacher.pathCount, dim, coord, teacher.sigmaData) : null;
    const yRange = padRange(extent(t.flat()), 0.12);
    panels.push({
      kind: 'paths',
      title: 'Trajectories: student x_θ(z, t) vs teacher ODE',
      subtitle: `${teacher.pathCount} fixed noises z, a line each · x${coord === 0 ? '₁' : '₂'} · teacher dashed`,
      times: teacher.times,
      yRange,
      yLabel: `x${coord === 0 ? '₁' : '₂'}(t) / √(σ_d² + t²)`,
      teacher: t,
      student: s,
    });
  }
  return { panels, caption };
}
