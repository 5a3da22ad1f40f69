import { useEffect, useMemo, useRef, useState } from 'react';
import { drawScene, layoutScene } from '../draw';
import { useRuntime, useStudio } from '../context';
import { type GridClasses, buildScene } from '../scene';
import { viewWaiting } from '../store';

/**
 * The class picked when `view` arrived: a view keeps the class it was sampled with, while a new pick is being solved
 * (the old grids stay on the screen until then) and after it, for an opened student that is not sampled anew.
 */
function usePickOf<T>(view: T, pick: number | null): number | null {
  const [seen, setSeen] = useState({ view, pick });
  if (seen.view !== view) {
    setSeen({ view, pick });
    return pick;
  }
  return seen.pick;
}

/** Until the canvas has been measured (and where ResizeObserver is missing). */
const FALLBACK_WIDTH = 1080;

/** Teacher ODE samples vs the student's one-step samples from the same noise, and the trajectories; one canvas. */
export function SampleView() {
  const runtime = useRuntime();
  const teacherView = useStudio((s) => s.teacherView);
  const liveView = useStudio((s) => s.liveView);
  const opened = useStudio((s) => s.opened);
  const shown = useStudio((s) => s.shown);
  const waiting = useStudio(viewWaiting);
  const labelDim = useStudio((s) => s.teacher?.labelDim ?? 0);
  const teacherPending = useStudio((s) => s.teacher !== null && s.teacherView === null);
  const sampleClass = useStudio((s) => s.sampleClass);
  const [coord, setCoord] = useState(0);
  const [width, setWidth] = useState(0);
  const canvas = useRef<HTMLCanvasElement>(null);

  // While a teacher loads, what is in the store is the previous teacher's view: show neither it nor a student.
  const loadingOther = waiting !== null;
  const student = loadingOther ? null : shown === 'opened' && opened ? opened.view : liveView;
  const teacher = loadingOther ? null : teacherView;
  const teacherPick = usePickOf(teacher, sampleClass);
  const studentPick = usePickOf(student, sampleClass);
  // An opened student of another teacher may not take class labels: its cells are not labelled.
  const studentConditional = student?.source === 'training' || (student?.source === 'opened' && opened?.info.matchesTeacher === true);
  const scene = useMemo(() => {
    const classes = (only: number | null): GridClasses | null => (labelDim > 0 ? { labelDim, only } : null);
    return buildScene(teacher, student, {
      coord, studentName: shown === 'opened' ? opened?.info.name : undefined, waiting,
      teacherClasses: classes(teacherPick), studentClasses: studentConditional ? classes(studentPick) : null, teacherPending,
    });
  }, [teacher, student, coord, shown, opened, waiting, labelDim, teacherPick, studentPick, studentConditional, teacherPending]);
  const hasPaths = scene.panels.some((p) => p.kind === 'paths');
  const images = scene.panels.some((p) => p.kind === 'images');

  // Draw at the canvas's CSS width, one unit per CSS pixel, so its text is as large as the page's.
  useEffect(() => {
    const c = canvas.current;
    if (!c || typeof ResizeObserver === 'undefined') return;
    const ro = new ResizeObserver((entries) => {
      const w = Math.floor(entries[0].contentRect.width);
      if (w > 0) setWidth(w);
    });
    ro.observe(c);
    return () => ro.disconnect();
  }, []);

  useEffect(() => {
    const c = canvas.current;
    if (!c) return;
    runtime.canvas = c;
    const ctx = c.getContext('2d');
    if (!ctx) return;
    const cssWidth = width || FALLBACK_WIDTH;
    const layout = layoutScene(ctx, cssWidth, scene);
    const dpr = Math.min(3, globalThis.devicePixelRatio || 1);
    c.width = Math.round(cssWidth * dpr);
    c.height = Math.round(layout.height * dpr);
    // border-box: the CSS height holds the borders too (as many as the width's)
    c.style.height = `${layout.height + (c.offsetWidth - c.clientWidth)}px`;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    drawScene(ctx, layout, scene);
    c.dataset.cssWidth = String(cssWidth);
  }, [scene, runtime, width]);

  const description = scene.panels.map((p) => p.title + ('subtitle' in p && p.subtitle ? ` (${p.subtitle})` : '')).join('; ');
  return (
    <section className="panel" aria-labelledby="samples-heading">
      <h2 id="samples-heading">Samples</h2>
      <div className="buttons">
        {opened && !loadingOther ? (
          <fieldset className="toggle">
            <legend>Student shown</legend>
            <label><input type="radio" name="shown" checked={shown === 'training'} onChange={() => runtime.store.getState().set({ shown: 'training' })} /> live run</label>
            <label><input type="radio" name="shown" checked={shown === 'opened'} onChange={() => runtime.store.getState().set({ shown: 'opened' })} /> opened file</label>
          </fieldset>
        ) : null}
        {hasPaths ? (
          <fieldset className="toggle">
            <legend>Trajectory coordinate</legend>
            <label><input type="radio" name="coord" checked={coord === 0} onChange={() => setCoord(0)} /> x₁</label>
            <label><input type="radio" name="coord" checked={coord === 1} onChange={() => setCoord(1)} /> x₂</label>
          </fieldset>
        ) : null}
        <span className="spacer" />
        <button type="button" onClick={() => runtime.downloadPng()} disabled={!teacher && !student}>Download PNG</button>
      </div>
      <canvas ref={canvas} className="sample-canvas" data-testid="sample-canvas" data-student-step={student?.step ?? ''}
        data-student-source={student?.source ?? ''} data-waiting={waiting ?? ''} role="img" aria-label={description} />
      {teacher || student ? (
        <p className="hint chart-note" data-testid="samples-note">
          The teacher's samples come from solving its ODE with Heun's method; the student's from one network
          evaluation (1 NFE), from the same noises z. {images ? 'The closer the two grids, image by image, the better the student.' : 'The closer the two clouds, the better the student.'}
          {hasPaths ? (
            <>
              {' '}Trajectories: each line follows one of a few fixed noises z from t = σ_max (left) to σ_min (right), the
              teacher's ODE solution dashed, the student's x_θ(z, t) solid. The y axis is one coordinate divided by
              √(σ_d² + t²), so the noise at the start (about N(0, 1)) and the data at the end fit on one scale.
            </>
          ) : null}
        </p>
      ) : null}
    </section>
  );
}
