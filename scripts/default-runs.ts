/**
 * The studio's default run on each built-in teacher, as the page makes it on wasm: the Quick preset, the backend's
 * batch and steps, the teacher's recommendation, Start and nothing else. Drives the worker's controller in Node
 * (the same code as the page's worker) and prints, per teacher, the time and the final one-step error of the
 * downloaded (EMA) weights against the teacher's ODE on the studio's validation noise.
 *
 *   npm run default-runs [-- teacher-id ...]
 */
import { readFileSync } from 'node:fs';
import { startBackend } from '../src/core/backend';
import type { BuiltinIndex } from '../src/core/teachers/builtin';
import { layeredDefaults } from '../src/ui/settings';
import { StudioController } from '../src/worker/controller';
import { type BackendInfo, type WorkerEvent, runSettingsOf } from '../src/worker/protocol';

const index: BuiltinIndex = JSON.parse(readFileSync('public/teachers/index.json', 'utf8'));
const wanted = process.argv.slice(2);
const backend: BackendInfo = { asked: 'auto', got: 'wasm', adapter: null };
await startBackend('wasm');

console.log('| teacher | steps, batch, lr | backend | time | one-step error (EMA) | trajectory rmse |');
console.log('|---|---|---|---|---|---|');
for (const entry of index.teachers.filter((t) => !wanted.length || wanted.includes(t.id))) {
  const settings = layeredDefaults({ preset: 'quick', backend, recommended: entry.recommended ?? null });
  let finish: (e: WorkerEvent) => void = () => undefined;
  const finished = new Promise<WorkerEvent>((r) => { finish = r; });
  let last: WorkerEvent | null = null;
  const controller = new StudioController({
    emit: (e) => {
      if (e.type === 'evaluation') last = e;
      if (e.type === 'run' && (e.run.phase === 'done' || e.run.phase === 'failed')) finish(e);
    },
    startBackend: async () => backend,
    fetchBytes: async () => new Uint8Array(readFileSync(`public/teachers/${entry.file}`)),
    yieldToEvents: () => new Promise((r) => setImmediate(r)),
    now: () => performance.now(),
  });
  await controller.handle({ type: 'init', backend: 'wasm' });
  await controller.handle({ type: 'load-teacher', source: { kind: 'builtin', id: entry.id, url: entry.file } });
  const start = performance.now();
  await controller.handle({ type: 'start', settings: runSettingsOf(settings), view: { heunSteps: settings.heunSteps } });
  const end = await finished;
  const seconds = (performance.now() - start) / 1000;
  const ev = last as WorkerEvent | null;
  const err = ev?.type === 'evaluation' ? ev.point.ema : null;
  const outcome = end.type === 'run' && end.run.phase === 'failed' ? `failed: ${end.run.message}` : err ? `${(100 * err.relEnd).toFixed(1)} %` : 'no evaluation';
  console.log(`| ${entry.id} | ${settings.steps}, ${settings.batch}, ${settings.lr} -> ${settings.lrFinal} | wasm | ${seconds.toFixed(0)} s | ${outcome} | ${err ? err.rmsePath.toFixed(4) : ''} |`);
  controller.engine.dispose();
}
