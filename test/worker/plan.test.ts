/**
 * The plan for a dropped EDM teacher is one resolution, wherever it runs: the worker times the teacher after loading
 * it and reports the cost; the page's settings (layered: preset, backend, plan) and `pid-studio distill`'s settings
 * from the same cost agree on every run setting, and the worker's run splits the batch into the plan's micro-batch.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { distillSettings } from '../../src/cli/distill';
import { startBackend } from '../../src/core/backend';
import { planSettings, runShape } from '../../src/core/plan';
import { RUN_SETTING_KEYS } from '../../src/formats/run-settings';
import { layeredDefaults } from '../../src/ui/settings';
import { planFor } from '../../src/ui/store';
import { StudioController } from '../../src/worker/controller';
import { type BackendInfo, type WorkerEvent, runSettingsOf } from '../../src/worker/protocol';
import { edmStateDictBytes, tinySongUnet } from '../helpers/edm-teacher';

const WASM: BackendInfo = { asked: 'wasm', got: 'wasm', adapter: null };

describe('the plan of a dropped EDM teacher', () => {
  beforeAll(async () => { await startBackend('wasm'); });

  it('is the same in the page, the CLI and the worker run', async () => {
    const events: WorkerEvent[] = [];
    const controller = new StudioController({
      emit: (e) => events.push(e),
      startBackend: async () => WASM,
      fetchBytes: async () => new Uint8Array(),
      yieldToEvents: () => new Promise((r) => setTimeout(r, 0)),
      now: () => performance.now(),
    });
    await controller.handle({ type: 'init', backend: 'wasm' });
    await controller.handle({ type: 'load-teacher', source: { kind: 'files', files: [{ name: 'teacher.pt', bytes: edmStateDictBytes(tinySongUnet({ label_dim: 3 })) }] } });
    expect(events.filter((e) => e.type === 'error')).toEqual([]);
    const reported = events.find((e) => e.type === 'plan-cost');
    if (reported?.type !== 'plan-cost' || !reported.cost || !reported.limit) throw new Error('the worker reported no plan cost');
    const planCost = { cost: reported.cost, limit: reported.limit };
    expect(planCost.cost.backend).toBe('wasm');

    const page = layeredDefaults({ preset: 'quick', backend: WASM, plan: planFor({ planCost, backend: WASM }) });
    const cli = distillSettings({}, planSettings({ ...planCost, image: true }));
    for (const key of RUN_SETTING_KEYS) expect([key, page[key]]).toEqual([key, cli[key]]);
    expect(page.batch).toBe(32); // the plan's, not the 2D default of 256

    // the worker runs the micro-batch the plan gives these settings (this small batch fits whole)
    const settings = runSettingsOf({ ...page, batch: 12, steps: 2, evalEvery: 2 });
    const micro = runShape(planCost.cost, planCost.limit, settings).microBatch;
    expect(micro).toBe(12);
    await controller.handle({ type: 'start', settings, view: { heunSteps: 4 } });
    const run = controller.engine.pidRun!;
    expect(run.microBatch).toBe(micro);
    controller.engine.dispose();
  }, 120_000);
});
