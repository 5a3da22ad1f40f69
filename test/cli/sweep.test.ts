/** `pid-studio sweep` through main(), in this process: its runs are distill's runs, its files what the help says. */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readModelFile } from '../../src/formats/model-file';
import { runInProcess } from './in-process';

const dir = mkdtempSync(join(tmpdir(), 'pid-sweep-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const jsonl = (path: string) => readFileSync(join(dir, path), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const SHARED = ['--teacher', 'builtin:ring8', '--steps', '24', '--batch', '32', '--seed', '3', '--ema', '0.9'];

describe('pid-studio sweep', () => {
  it("each run is the distill run of the same settings: the same loss at every step, the same student", async () => {
    mkdirSync(join(dir, 'students'));
    const s = await runInProcess(['sweep', ...SHARED, '--sweep', 'lr=0.01,0.003', '--out', 'results.json', '--log', 'sweep.jsonl', '--students', 'students', '--name', 'ring'], dir);
    expect(s.err).toEqual([]);
    expect(s.code).toBe(0);
    expect(s.out[0]).toMatch(/^sweeping lr over 0\.01, 0\.003 on "Ring of 8 Gaussians": 2 runs of 24 steps, batch 32, .* seed 3 \(lr replaced\), backend wasm$/);
    expect(s.out[1]).toMatch(/^ {2}1\/2 lr 0\.01: one-step [\d.]+ % \(rmse [\d.]+\), trajectory rmse [\d.]+, grid Euler [\d.]+ %; loss [\d.e+-]+, [\d.]+ s$/);
    expect(s.out[2]).toMatch(/^ {2}2\/2 lr 0\.003: /);
    const d = await runInProcess(['distill', ...SHARED, '--lr', '0.003', '--out', 'd.safetensors', '--log', 'distill.jsonl'], dir);
    expect(d.code).toBe(0);

    const swept = jsonl('sweep.jsonl').filter((r) => r.value === 0.003 && !r.final);
    const single = jsonl('distill.jsonl').filter((r) => 'loss' in r);
    expect(swept.map((r) => r.step)).toEqual(Array.from({ length: 24 }, (_, i) => i + 1));
    expect(swept.map((r) => r.loss)).toEqual(single.map((r) => r.loss));
    expect(swept.map((r) => r.lr)).toEqual(single.map((r) => r.lr));
    expect(jsonl('sweep.jsonl').filter((r) => r.value === 0.01 && !r.final).map((r) => r.loss)).not.toEqual(single.map((r) => r.loss));
    const fromSweep = await readModelFile([{ name: 'a.safetensors', bytes: new Uint8Array(readFileSync(join(dir, 'students', 'ring-lr-0.003.safetensors'))) }]);
    const fromDistill = await readModelFile([{ name: 'b.safetensors', bytes: new Uint8Array(readFileSync(join(dir, 'd.safetensors'))) }]);
    expect(fromSweep.config.student?.pid).toEqual(fromDistill.config.student?.pid);
    for (const [name, t] of fromDistill.tensors) expect(Array.from(fromSweep.tensors.get(name)!.data), name).toEqual(Array.from(t.data));

    const results = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'));
    expect(Object.keys(results)).toEqual(['teacher', 'sweep', 'runs']);
    expect(results.teacher).toBe('Ring of 8 Gaussians');
    expect(results.sweep).toBe('lr');
    expect(results.runs.map((r: Record<string, number>) => r.lr)).toEqual([0.01, 0.003]);
    for (const r of results.runs) {
      expect(Object.keys(r)).toEqual(['lr', 'oneStepRelative', 'oneStepRmse', 'trajectoryRmse', 'seconds', 'gridEulerRelative']);
      expect(r.oneStepRelative).toBeGreaterThan(0);
      expect(r.seconds).toBeGreaterThan(0);
    }
    // the same N (250) in both runs: the same grid, the same Euler error
    expect(results.runs[0].gridEulerRelative).toBe(results.runs[1].gridEulerRelative);
    const finals = jsonl('sweep.jsonl').filter((r) => r.final);
    expect(finals.map((r) => r.oneStepRelative)).toEqual(results.runs.map((r: Record<string, number>) => r.oneStepRelative));
  }, 240_000);

  it('a learned teacher records no grid Euler error; a swept choice keeps its name', async () => {
    const s = await runInProcess(['sweep', '--teacher', 'builtin:moons-mlp', '--steps', '2', '--batch', '8', '--sweep', 'optimizer=adam,radam', '--out', 'learned.json'], dir);
    expect(s.code).toBe(0);
    const results = JSON.parse(readFileSync(join(dir, 'learned.json'), 'utf8'));
    expect(results.runs.map((r: Record<string, unknown>) => r.optimizer)).toEqual(['adam', 'radam']);
    for (const r of results.runs) expect(Object.keys(r)).toEqual(['optimizer', 'oneStepRelative', 'oneStepRmse', 'trajectoryRmse', 'seconds']);
  }, 120_000);

  it('bad values and outputs are refused before the first run: one line, exit 2, nothing written', async () => {
    const cases: [string[], string][] = [
      [['--sweep', 'N=10,abc'], "pid-studio sweep: --sweep N: 'abc' is refused: N must be a number"],
      [['--sweep', 'batch=0,16'], "pid-studio sweep: --sweep batch: '0' is refused: batch must be between 1 and 65536"],
      [['--sweep', 'depth=1,2'], "pid-studio sweep: --sweep: 'depth' is not a run setting (settings: N, loss, optimizer, lr, lrFinal, ema, batch, steps, seed, evalEvery)"],
      [['--sweep', 'N=10,20', '--N', '30'], 'pid-studio sweep: --N and --sweep N=... both set N; give its values in --sweep only'],
      [['--sweep', 'N=10,20', '--lr', '-1'], "pid-studio sweep: --lr must be greater than 0 and at most 1 (got '-1')"],
      [['--sweep', 'N=10,20', '--resume'], 'pid-studio sweep: --resume is for one distill run; every run of a sweep starts afresh'],
      [['--sweep', 'N=10,20', '--students', 'no-such-folder'], `pid-studio sweep: --students ${join('no-such-folder', 'student-N-10.safetensors')} cannot be written: the folder no-such-folder does not exist`],
    ];
    for (const [args, line] of cases) {
      const r = await runInProcess(['sweep', '--teacher', 'builtin:ring8', '--out', 'bad.json', ...args], dir);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err).toEqual([line]);
      expect(r.out).toEqual([]);
    }
    const noFolder = await runInProcess(['sweep', '--teacher', 'builtin:ring8', '--sweep', 'N=10', '--out', 'missing/r.json'], dir);
    expect(noFolder.err).toEqual(['pid-studio sweep: --out missing/r.json cannot be written: the folder missing does not exist']);
    expect(existsSync(join(dir, 'bad.json'))).toBe(false);
  });
});
