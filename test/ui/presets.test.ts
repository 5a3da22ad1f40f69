/** The settings' layers: what the user set, then the teacher's recommendation, the backend's size, the preset. */
import { describe, expect, it } from 'vitest';
import { PRESETS } from '../../src/formats/run-settings';
import { presetMatching } from '../../src/ui/settings';
import { createStudioStore } from '../../src/ui/store';
import type { BackendInfo, TeacherInfo } from '../../src/worker/protocol';

const wasm: BackendInfo = { asked: 'auto', got: 'wasm', adapter: null };
const index = {
  default: 'moons-mlp',
  teachers: [
    { id: 'moons-mlp', file: 'moons-mlp.safetensors', name: 'moons', description: '' },
    { id: 'mnist14-unet', file: 'mnist14-unet.safetensors', name: 'digits', description: '', recommended: { batch: 32, lr: 2e-3, lrFinal: 2e-5, steps: 600 } },
  ],
};
const teacherEvent = (id: string) => ({ type: 'teacher', teacher: { source: { kind: 'builtin', id }, sha256: id } as unknown as TeacherInfo }) as const;

describe('presets and layered settings', () => {
  it('Quick by default; Paper swaps the preset keys and keeps what the user set by hand', () => {
    const store = createStudioStore({ settings: { N: 40 } });
    store.getState().apply({ type: 'backend', backend: wasm });
    expect(store.getState().settings).toMatchObject({ ...PRESETS.quick.values, N: 40, batch: 256, steps: 3000 });
    store.getState().setSetting('ema', 0.5);
    store.getState().setPreset('paper');
    // N and ema were set by hand, but the preset fixes them: choosing it takes its values
    expect(store.getState().settings).toMatchObject({ ...PRESETS.paper.values, batch: 256, steps: 3000 });
    expect(presetMatching(store.getState().settings)).toBe('paper');
    store.getState().setSetting('batch', 64);
    store.getState().setPreset('quick');
    expect(store.getState().settings).toMatchObject({ ...PRESETS.quick.values, batch: 64 });
  });

  it("a built-in teacher's recommendation overrides the preset and the backend, not the user", () => {
    const store = createStudioStore({ settings: { steps: 50 } });
    store.getState().set({ builtins: index });
    store.getState().apply({ type: 'backend', backend: wasm });
    store.getState().apply(teacherEvent('mnist14-unet'));
    expect(store.getState().settings).toMatchObject({ batch: 32, lr: 2e-3, lrFinal: 2e-5, steps: 50, N: 250 });
    store.getState().apply(teacherEvent('moons-mlp'));
    expect(store.getState().settings).toMatchObject({ batch: 256, lr: 1e-2, lrFinal: 1e-3, steps: 50 });
  });
});
