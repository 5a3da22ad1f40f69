import { describe, expect, it } from 'vitest';
import { cellLabelPx } from '../../src/ui/draw';
import { buildScene, cellClasses, classesText } from '../../src/ui/scene';
import type { StudentView, TeacherView } from '../../src/worker/protocol';

const images = (count: number): Pick<TeacherView, 'view' | 'dataShape' | 'dataRange' | 'samples' | 'count'> => ({
  view: { kind: 'images', height: 4, width: 4, channels: 1 }, dataShape: [4, 4, 1], dataRange: [-1, 1], samples: new Float32Array(count * 16), count,
});
const teacher: TeacherView = { ...images(12), heunSteps: 18, nfe: 35, paths: null, pathCount: 0, times: [80, 1, 0.002], sigmaData: 0.5 };
const student = (source: StudentView['source']): StudentView => ({ ...images(12), source, step: 20, weights: 'ema', paths: null, error: null });

describe('the classes of a class-conditional sample grid', () => {
  it('every class in turn: cell i has class i mod label_dim, as fixedLabels gives them', () => {
    expect(cellClasses(12, { labelDim: 5, only: null })).toEqual([0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1]);
    expect(classesText({ labelDim: 10, only: null })).toBe(' · classes 0–9 in turn, row by row');
  });

  it('one class, or an unconditional model: nothing in the cells', () => {
    expect(cellClasses(12, { labelDim: 5, only: 3 })).toBeNull();
    expect(classesText({ labelDim: 5, only: 3 })).toBe(' · class 3');
    expect(cellClasses(12, { labelDim: 0, only: null })).toBeNull();
    expect(cellClasses(12, null)).toBeNull();
    expect(classesText(null)).toBe('');
  });

  it('the scene carries them to both grids, the student only beside its teacher', () => {
    const classes = { labelDim: 10, only: null };
    const scene = buildScene(teacher, student('training'), { teacherClasses: classes, studentClasses: classes });
    const [t, s] = scene.panels;
    expect(t.kind === 'images' && t.classes).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
    expect(t.kind === 'images' && t.subtitle).toBe('12 samples · classes 0–9 in turn, row by row');
    expect(s.kind === 'images' && s.classes).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
    expect(s.kind === 'images' && s.subtitle).toBe('step 20 · EMA weights · 1 NFE');

    const one = buildScene(teacher, student('training'), { teacherClasses: { labelDim: 10, only: 7 }, studentClasses: { labelDim: 10, only: 7 } });
    expect(one.panels.map((p) => p.kind === 'images' && p.classes)).toEqual([null, null]);
    expect(one.panels.map((p) => p.kind === 'images' && p.subtitle)).toEqual(['12 samples · class 7', 'step 20 · EMA weights · 1 NFE · class 7']);

    // a student of another data shape is drawn alone, sampled with its own labels: none are claimed
    const alone = buildScene({ ...teacher, view: { kind: 'points2d' }, dataShape: [2] }, student('opened'), { teacherClasses: classes, studentClasses: classes });
    expect(alone.panels[1]).toMatchObject({ kind: 'images', classes: null });
    expect(buildScene(teacher, student('training')).panels[0]).toMatchObject({ classes: null, subtitle: '12 samples' });
  });

  it('the label fits the cell, or is left out of cells too small for it', () => {
    expect(cellLabelPx(80)).toBe(11);
    expect(cellLabelPx(30)).toBe(9);
    expect(cellLabelPx(26)).toBe(null);
  });
});

describe('a teacher whose picture training came before', () => {
  it("says when the picture comes, not that no teacher is loaded; the student's grid is drawn", () => {
    const pending = buildScene(null, student('training'), { teacherPending: true });
    expect(pending.panels[0]).toEqual({ kind: 'message', title: 'Teacher', text: "the teacher's ODE is solved for this picture when the run pauses or ends: training comes first" });
    expect(pending.panels[1]).toMatchObject({ kind: 'images', count: 12 });
    expect(buildScene(null, student('opened')).panels[0]).toMatchObject({ kind: 'message', text: 'no teacher of this data shape is loaded' });
  });
});
