/**
 * EDM's network snapshots (.pkl) read as teachers without running anything in them. The fixtures in
 * test/fixtures/edm-snapshots/ were written by EDM's own code (test/torch/make_edm_snapshots.py), their module_src
 * replaced by a placeholder; expected.json holds D(x, sigma) computed by EDM's networks in float64.
 */
import * as tf from '@tensorflow/tfjs-core';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAnyModel } from '../../src/core/model-import';
import { loadTeacher } from '../../src/core/models';
import { ModelFileError } from '../../src/formats/errors';
import { useBackend } from '../helpers/backend';

const DIR = fileURLToPath(new URL('../fixtures/edm-snapshots', import.meta.url));
interface Case { precond: string; x: number[]; sigma: number[]; labels: number[][] | null; D: number[]; shape: number[] }
const expected: Record<string, Case> = JSON.parse(readFileSync(join(DIR, 'expected.json'), 'utf8'));
const fixture = (name: string) => new Uint8Array(readFileSync(join(DIR, `${name}.pkl`)));
/** max |ours - EDM float64| must stay under this times max |D| (float32 round-off through a network). */
const TOLERANCE = 2e-5;
const latin1 = (bytes: Uint8Array) => Buffer.from(bytes).toString('latin1');
const fromLatin1 = (text: string) => new Uint8Array(Buffer.from(text, 'latin1'));

async function refusal(bytes: Uint8Array, name: string): Promise<string> {
  try {
    await readAnyModel([{ name, bytes }]);
  } catch (e) {
    if (!(e instanceof ModelFileError)) throw e;
    expect(e.message).not.toMatch(/\n/);
    return e.message;
  }
  throw new Error(`${name} was read`);
}

beforeAll(() => useBackend('cpu'));

describe('EDM network snapshots', () => {
  const wanted: Record<string, { precond: string; network: string; labelDim: number }> = {
    'edm-ddpmpp': { precond: 'edm', network: 'EDM SongUNet (DDPM++)', labelDim: 0 },
    'vp-ddpmpp-cond': { precond: 'vp', network: 'EDM SongUNet (DDPM++)', labelDim: 4 },
    've-ncsnpp': { precond: 've', network: 'EDM SongUNet (NCSN++)', labelDim: 0 },
    'edm-adm-cond': { precond: 'edm', network: 'EDM DhariwalUNet (ADM)', labelDim: 3 },
  };
  for (const [name, want] of Object.entries(wanted)) {
    it(`${name}: ${want.network}, ${want.precond} from its ${expected[name].precond}; D equals EDM's to float32 round-off`, async () => {
      const model = await readAnyModel([{ name: `${name}.pkl`, bytes: fixture(name) }]);
      expect(model.origin).toMatchObject({ format: 'edm-snapshot', taken: 'ema', prefix: 'model.', precondGiven: true, precondFrom: expected[name].precond });
      expect(model.config.precond?.type ?? 'edm').toBe(want.precond);
      expect(model.config.data.label_dim ?? 0).toBe(want.labelDim);
      const { describeNetwork } = await import('../../src/core/nets/infer');
      expect(describeNetwork(model.config.network as Parameters<typeof describeNetwork>[0])).toBe(want.network);

      const c = expected[name];
      const teacher = loadTeacher(model);
      const d = tf.tidy(() => teacher.denoiser.denoise(
        tf.tensor(c.x, c.shape), tf.tensor1d(c.sigma), c.labels ? tf.tensor2d(c.labels) : undefined,
      ));
      const ours = await d.data();
      d.dispose();
      teacher.dispose();
      let diff = 0;
      let scale = 0;
      ours.forEach((v, i) => { diff = Math.max(diff, Math.abs(v - c.D[i])); scale = Math.max(scale, Math.abs(c.D[i])); });
      console.log(`${name}: max |D - D_EDM(float64)| = ${diff.toExponential(2)}, max |D| = ${scale.toFixed(2)}`);
      expect(diff).toBeLessThan(TOLERANCE * scale);
    });
  }

  it('the same network with one weight changed is told apart (the comparison can fail)', async () => {
    const model = await readAnyModel([{ name: 'edm-ddpmpp.pkl', bytes: fixture('edm-ddpmpp') }]);
    model.tensors.get('dec.8x8_aux_conv.bias')!.data[0] += 1e-3;
    const c = expected['edm-ddpmpp'];
    const teacher = loadTeacher(model);
    const d = tf.tidy(() => teacher.denoiser.denoise(tf.tensor(c.x, c.shape), tf.tensor1d(c.sigma)));
    const ours = await d.data();
    d.dispose();
    teacher.dispose();
    const worst = Math.max(...Array.from(ours, (v, i) => Math.abs(v - c.D[i])));
    expect(worst).toBeGreaterThan(TOLERANCE * 7);
  });

  it('--precond must agree with the snapshot', async () => {
    await expect(readAnyModel([{ name: 'v.pkl', bytes: fixture('vp-ddpmpp-cond') }], { precond: 've' }))
      .rejects.toThrow(/^v\.pkl: its network is an VPPrecond, so its preconditioning is "vp", not "ve".*Fix: leave out --precond/);
    const same = await readAnyModel([{ name: 'v.pkl', bytes: fixture('vp-ddpmpp-cond') }], { precond: 'vp' });
    expect(same.config.precond?.type).toBe('vp');
  });
});

describe('hostile snapshots', () => {
  let dir = '';
  beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'pid-pkl-')); });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a module_src that would write a marker file if run is never run', async () => {
    const marker = join(dir, 'MARKER');
    const original = latin1(fixture('edm-ddpmpp'));
    const placeholder = /module_src: [^\x00-\x1f]*?\.{10,}/.exec(original)![0];
    const program = `import pathlib; pathlib.Path(${JSON.stringify(marker)}).write_text('ran') #`;
    expect(program.length).toBeLessThan(placeholder.length);
    const hostile = fromLatin1(original.split(placeholder).join(program.padEnd(placeholder.length, ' ')));
    expect(latin1(hostile)).toContain(program);

    const model = await readAnyModel([{ name: 'hostile.pkl', bytes: hostile }]);
    expect(model.config.network.type).toBe('edm-songunet');
    expect(existsSync(marker)).toBe(false);
    // the text is a working program: Python, running it as pickle.load would, writes the marker
    const python = spawnSync('/usr/bin/python3', ['-c', program], { encoding: 'utf8' });
    if (python.error === undefined && python.status === 0) {
      expect(existsSync(marker)).toBe(true);
    }
  });

  it('any other global is refused in one line naming it', async () => {
    const swapped = fromLatin1(latin1(fixture('edm-ddpmpp')).replace('ModuleDict', 'ModuleList'));
    expect(await refusal(swapped, 's.pkl')).toMatch(/^s\.pkl: the pickle needs the global 'torch\.nn\.modules\.container\.ModuleList', which an EDM network snapshot never holds/);
    // PROTO 4, GLOBAL os system, SHORT_BINUNICODE 'touch x', TUPLE1, REDUCE, STOP
    const system = new Uint8Array([0x80, 4, 0x63, ...Buffer.from('os\nsystem\n'), 0x8c, 7, ...Buffer.from('touch x'), 0x85, 0x52, 0x2e]);
    expect(await refusal(system, 'evil.pkl')).toMatch(/^evil\.pkl: .*the global 'os\.system'/);
  });

  it('a snapshot cut short is refused with a fix for a snapshot, not for a torch.save file', async () => {
    const whole = fixture('edm-ddpmpp');
    for (const end of [5000, whole.length - 10]) {
      const message = await refusal(whole.slice(0, end), 'cut.pkl');
      expect(message).toMatch(/^cut\.pkl: /);
      expect(message).toMatch(/Fix: give a network-snapshot-\*\.pkl as EDM's training writes it/);
      expect(message).not.toMatch(/torch\.save$/);
    }
  });

  it('iDDPMPrecond, or any class other than EDMPrecond, VPPrecond, VEPrecond, in one line naming it', async () => {
    const text = latin1(fixture('edm-ddpmpp'));
    const rename = (to: string) => fromLatin1(text.replace('\x8c\x0aEDMPrecond', `\x8c${String.fromCharCode(to.length)}${to}`));
    expect(await refusal(rename('iDDPMPrecond'), 'i.pkl')).toMatch(/^i\.pkl: its 'ema' network is an 'iDDPMPrecond', which is not read \(only EDMPrecond, VPPrecond, VEPrecond\).*Fix: iDDPMPrecond/);
    expect(await refusal(rename('MyPrecond'), 'm.pkl')).toMatch(/^m\.pkl: its 'ema' network is an 'MyPrecond', which is not read/);
  });

  it('init kwargs that disagree with the tensors are refused', async () => {
    // model_channels 8 -> 16 in the SongUNet's recorded kwargs: BININT1 8 after 'model_channels'
    const text = latin1(fixture('edm-ddpmpp'));
    const at = text.indexOf('model_channels\x94K\x08');
    expect(at).toBeGreaterThan(0);
    const bytes = fromLatin1(text.slice(0, at) + 'model_channels\x94K\x10' + text.slice(at + 'model_channels\x94K\x08'.length));
    expect(await refusal(bytes, 'k.pkl')).toMatch(/^k\.pkl: its SongUNet's init kwargs describe an EDM SongUNet \(DDPM\+\+\) whose tensors differ from the file's: /);
  });
});
