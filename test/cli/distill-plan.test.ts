/**
 * `pid-studio distill` on a user's EDM .pt with no run settings: it times the teacher, prints the plan (batch,
 * micro-batch, steps, time, memory) before the first step, runs to its end and writes a student that opens; and
 * --micro-batch splits the batch as asked.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readModelFile } from '../../src/formats/model-file';
import { edmStateDictBytes, tinySongUnet } from '../helpers/edm-teacher';
import { runInProcess } from './in-process';

describe('distill sized to the teacher', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pid-plan-'));
  writeFileSync(join(dir, 'teacher.pt'), edmStateDictBytes(tinySongUnet()));

  it('plans an EDM .pt run with no settings and runs it to its end', async () => {
    const r = await runInProcess(['distill', '--teacher', 'teacher.pt', '--out', 's.safetensors', '--minutes', '0.1'], dir);
    expect(r.err).toEqual([]);
    expect(r.code).toBe(0);
    const text = r.out.join('\n');
    expect(text).toMatch(/^sizing the run to this teacher and machine \(about 6\.0 s of training on wasm\)\n {2}timing a PID step of 1 sample\n {2}timing a PID step of 2 samples$/m);
    const plan = text.match(/^ {2}plan: batch 32(?: as \d+ x \d+)?, (\d+) steps, about .+ here, [\d.]+ (?:kB|MB|GB) \(memory limit: .+\)$/m);
    expect(plan).not.toBeNull();
    const steps = Number(plan![1]);
    expect(text).toContain(`  ${steps} steps, batch 32,`);
    expect(text).toMatch(new RegExp(`^ {2}step ${steps}/${steps} `, 'm'));
    const student = await readModelFile([{ name: 's.safetensors', bytes: new Uint8Array(readFileSync(join(dir, 's.safetensors'))) }]);
    expect(student.config.student?.pid).toMatchObject({ batch: 32, steps });
  }, 300_000);

  it('splits the batch into the micro-batches asked for', async () => {
    const r = await runInProcess(['distill', '--teacher', 'teacher.pt', '--out', 's2.safetensors', '--batch', '6', '--steps', '2', '--micro-batch', '4'], dir);
    expect(r.code).toBe(0);
    expect(r.out.join('\n')).toMatch(/^ {2}plan: batch 6 as 2 x 4, 2 steps, /m);
    const bad = await runInProcess(['distill', '--teacher', 'teacher.pt', '--out', 's3.safetensors', '--micro-batch', '0'], dir);
    expect(bad.code).toBe(2);
    expect(bad.err.join('\n')).toContain('--micro-batch must be at least 1');
  }, 300_000);
});
