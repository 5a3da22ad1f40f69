/**
 * EDM network snapshots (.pkl) and PID-reference students in the studio (no GPU: wasm, tiny runs). A class-conditional
 * VP snapshot dropped on the page is the teacher: the card names its architecture and the preconditioning the snapshot
 * records (no selector, nothing assumed), and a run trains. A bare PID-reference student (the fp16-training .pt, every
 * tensor a view into one shared storage on "cuda:0") opened with "Open a student" next to the matching EDM snapshot
 * teacher says how it is sampled and is sampled in one step, with its error against the teacher.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { REPO, dropFiles, stepOf, watchPage } from './helpers';

const SNAPSHOTS = join(REPO, 'test/fixtures/edm-snapshots');
const STUDENTS = join(REPO, 'test/fixtures/pid-students');

test('a dropped EDM snapshot (.pkl) is the teacher: architecture and preconditioning from the snapshot, and it trains', async ({ page, baseURL }) => {
  const seen = watchPage(page, baseURL!);
  await page.goto('?backend=wasm&batch=2&steps=3&evalEvery=3&heunSteps=2');
  await expect(page.getByTestId('backend-badge')).toHaveAttribute('data-backend', 'wasm', { timeout: 60_000 });
  const started = Date.now();
  await dropFiles(page, 'teacher-dropzone', [{ name: 'vp-ddpmpp-cond.pkl', bytes: [...readFileSync(join(SNAPSHOTS, 'vp-ddpmpp-cond.pkl'))] }]);
  await expect(page.getByTestId('teacher-architecture')).toHaveText('EDM SongUNet (DDPM++)', { timeout: 120_000 });
  console.log(`vp-ddpmpp-cond.pkl loaded as the teacher in ${Date.now() - started} ms`);
  const card = page.getByTestId('teacher-card');
  await expect(card).toContainText('vp-ddpmpp-cond.pkl');
  await expect(card).toContainText('VP (VPPrecond, DDPM++)');
  await expect(page.getByTestId('teacher-precond-from')).toHaveText("read from the snapshot's VPPrecond");
  await expect(card).toContainText("the snapshot's 'ema' network (EMA weights)");
  await expect(page.getByTestId('teacher-classes')).toContainText('4 (class-conditional');
  await expect(card).toContainText('[8, 8, 3]');
  // the snapshot says its preconditioning: nothing to choose, nothing assumed
  await expect(page.getByLabel('Preconditioning of the dropped state dict')).toHaveCount(0);
  await expect(card).not.toContainText('assumed');
  await expect(page.getByTestId('teacher-error')).toHaveCount(0);

  const start = page.getByRole('button', { name: 'Start', exact: true });
  await expect(start).toBeEnabled({ timeout: 120_000 });
  const trainStart = Date.now();
  await start.click();
  await expect(page.getByTestId('run-phase')).toHaveAttribute('data-phase', /done|failed/, { timeout: 240_000 });
  if (await page.getByTestId('run-phase').getAttribute('data-phase') === 'failed') throw new Error(await page.getByTestId('training-error').innerText());
  expect(await stepOf(page)).toBe(3);
  console.log(`3 steps of batch 2 on the snapshot teacher in ${Date.now() - trainStart} ms`);
  await expect(page.getByTestId('training-error')).toHaveCount(0);
  expect(seen.errors).toEqual([]);
  expect(seen.foreign).toEqual([]);
});

test('"Open a student" with a bare PID-reference student (.pt) next to its EDM snapshot teacher: how it is sampled, one step', async ({ page, baseURL }) => {
  const seen = watchPage(page, baseURL!);
  await page.goto('?backend=wasm&batch=2&steps=2&evalEvery=2&heunSteps=2');
  await expect(page.getByTestId('backend-badge')).toHaveAttribute('data-backend', 'wasm', { timeout: 60_000 });
  // the teacher chosen with the drop zone's button this time
  const teacherChooser = page.waitForEvent('filechooser');
  await page.getByRole('button', { name: 'Choose teacher files' }).click();
  await (await teacherChooser).setFiles(join(SNAPSHOTS, 'edm-ddpmpp.pkl'));
  await expect(page.getByTestId('teacher-architecture')).toHaveText('EDM SongUNet (DDPM++)', { timeout: 120_000 });
  await expect(page.getByTestId('teacher-card')).toContainText('EDM (EDMPrecond, σ_data 0.5)');

  const open = page.getByRole('button', { name: 'Open a student' });
  await expect(open).toBeEnabled({ timeout: 120_000 });
  const started = Date.now();
  const chooser = page.waitForEvent('filechooser');
  await open.click();
  await (await chooser).setFiles(join(STUDENTS, 'ddpmpp-fp16.pt'));
  const opened = page.getByTestId('opened-student');
  await expect(opened).toContainText('ddpmpp-fp16.pt', { timeout: 120_000 });
  await expect(page.getByTestId('opened-status')).toContainText(/Sampled \d+ images? in one step \(1 NFE\)/, { timeout: 120_000 });
  console.log(`ddpmpp-fp16.pt opened and sampled in ${Date.now() - started} ms`);
  const bare = page.getByTestId('opened-bare');
  await expect(bare).toContainText('a bare network (pytorch state dict) read as a PID student');
  await expect(bare).toContainText('x = (σ_min/T) z + (1 − σ_min/T) F(c_in(T) z, c_noise(σ_min))');
  await expect(bare).toContainText("precond edm (the loaded teacher's)");
  await expect(bare).toContainText('the file records no teacher or training settings');
  await expect(opened).toContainText('[8, 8, 3]');
  // the same data shape and σ_max as the teacher: its one-step samples are measured against the teacher's ODE
  await expect(page.getByTestId('opened-error')).toContainText(/path RMSE [\d.e+-]+, one-step RMSE [\d.e+-]+ against the loaded teacher/);
  await expect(page.getByTestId('sample-canvas')).toHaveAttribute('data-student-source', 'opened');
  await expect(page.getByTestId('student-error')).toHaveCount(0);
  // a bare network has no settings to continue training from
  await expect(page.getByRole('button', { name: 'Continue training from this student' })).toHaveCount(0);
  expect(seen.errors).toEqual([]);
  expect(seen.foreign).toEqual([]);
});
