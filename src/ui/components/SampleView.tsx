import { useEffect, useMemo, useRef, useState } from 'react';
import { drawScene } from '../draw';
import { useRuntime, useStudio } from '../context';
import { buildScene } from '../scene';

const WIDTH = 1080;
const HEIGHT = 400;

/** Teacher ODE samples vs the student's one-step samples from the same noise, and the trajectories; one canvas. */
export function SampleView() {
  const runtime = useRuntime();
  const teacherView = useStudio((s) => s.teacherView);
  const liveView = useStudio((s) => s.liveView);
  const opened = useStudio((s) => s.opened);
  const shown = useStudio((s) => s.shown);
  const [coord, setCoord] = useState(0);
  const canvas = useRef<HTMLCanvasElement>(null);

  const student = shown === 'opened' && opened ? opened.view : liveView;
  const scene = useMemo(
    () => buildScene(teacherView, student, { coord, studentName: shown === 'opened' ? opened?.info.name : undefined }),
    [teacherView, student, coord, shown, opened],
  );
  const hasPaths = scene.panels.some((p) => p.kind === 'paths');

  useEffect(() => {
    const c = canvas.current;
    if (!c) return;
    runtime.canvas = c;
    const dpr = Math.min(2, globalThis.devicePixelRatio || 1);
    c.width = WIDTH * dpr;
    c.height = HEIGHT * dpr;
    const ctx = c.getContext('2d');
    if (!ctx) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    drawScene(ctx, WIDTH, HEIGHT, scene);
  }, [scene, runtime]);

  const description = scene.panels.map((p) => p.title + ('subtitle' in p && p.subtitle ? ` (${p.subtitle})` : '')).join('; ');
  return (
    <section className="panel" aria-labelledby="samples-heading">
      <h2 id="samples-heading">Samples</h2>
      <div className="buttons">
        {opened ? (
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
        <button type="button" onClick={() => runtime.downloadPng()} disabled={!teacherView && !student}>Download PNG</button>
      </div>
      <canvas ref={canvas} className="sample-canvas" data-testid="sample-canvas" data-student-step={student?.step ?? ''}
        data-student-source={student?.source ?? ''} role="img" aria-label={description} style={{ aspectRatio: `${WIDTH} / ${HEIGHT}` }} />
    </section>
  );
}
