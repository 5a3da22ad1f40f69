import { describe, it, expect } from 'vitest';
import { ModelFileError } from '../../src/formats/errors.ts';
import { configToJson, DEFAULT_EDM, parseConfig, type PidStudioConfig } from '../../src/formats/config.ts';
import { MLP_DEFAULTS } from '../../src/formats/mlp-network.ts';
import { NETWORK_TYPES } from '../../src/formats/network-types.ts';
import { UNET_DEFAULTS, type UnetNetwork } from '../../src/formats/unet-network.ts';

const teacher = () => ({
  format: 'pid-studio/1',
  role: 'teacher',
  name: 'two moons',
  data: { shape: [2], range: [-1, 1] },
  edm: { sigma_data: 0.5, sigma_min: 0.002, sigma_max: 80, rho: 7 },
  network: { type: 'gaussian-mixture', weights: [1, 3], means: [[0, 0], [1, -1]], stds: [0.1, 0.2] },
}) as Record<string, any>;

const student = () => ({
  ...teacher(),
  role: 'student',
  name: 'moons student',
  network: { type: 'mlp', hidden: 64, blocks: 2, emb_dim: 16, emb_max_freq: 4 },
  student: {
    parametrization: 'pid',
    teacher: { name: 'two moons', sha256: 'AB'.repeat(32) },
    pid: { N: 250, loss: 'l2', optimizer: 'radam', lr: 2e-4, batch: 64, steps: 1234, ema: 0.999, seed: 0 },
  },
}) as Record<string, any>;

function rejects(config: unknown, re: RegExp) {
  let err: unknown;
  try { parseConfig(config, 'cfg.json'); } catch (e) { err = e; }
  expect(err, String(re)).toBeInstanceOf(ModelFileError);
  const msg = (err as Error).message;
  expect(msg).toMatch(re);
  expect(msg.startsWith('cfg.json: ')).toBe(true);
  expect(msg).not.toContain('\n');
}

/** Applies `edit` to a fresh config and expects the parse to fail with `re`. */
const reject = (base: () => Record<string, any>, edit: (c: Record<string, any>) => void, re: RegExp) => {
  const c = base();
  edit(c);
  rejects(c, re);
};

describe('parseConfig accepts', () => {
  it('a gaussian-mixture teacher, normalising its weights', () => {
    const c = parseConfig(teacher(), 'cfg.json');
    expect(c.network).toEqual({ type: 'gaussian-mixture', weights: [0.25, 0.75], means: [[0, 0], [1, -1]], stds: [0.1, 0.2] });
    expect(c.student).toBeUndefined();
    expect(c.data).toEqual({ shape: [2], range: [-1, 1] });
  });

  it('a student, lower-casing the teacher hash', () => {
    const c = parseConfig(student(), 'cfg.json');
    expect(c.role).toBe('student');
    expect(c.student!.teacher.sha256).toBe('ab'.repeat(32));
    expect(c.student!.pid).toEqual(student().student.pid);
    expect(c.network).toEqual(student().network);
  });

  it('fills defaults: the whole edm block, and missing mlp hyper-parameters', () => {
    const c = teacher();
    delete c.edm;
    c.network = { type: 'mlp', hidden: 256 };
    c.data.shape = [28, 28, 1];
    const parsed = parseConfig(c, 'cfg.json');
    expect(parsed.edm).toEqual(DEFAULT_EDM);
    expect(parsed.edm).not.toBe(DEFAULT_EDM);
    expect(parsed.network).toEqual({ ...MLP_DEFAULTS, type: 'mlp', hidden: 256 });
  });

  it('does not modify its input', () => {
    const c = teacher();
    parseConfig(c, 'cfg.json');
    expect(c).toEqual(teacher());
  });

  it('round-trips through configToJson, in the documented key order', () => {
    const c = parseConfig(student(), 'cfg.json');
    const json = configToJson(c);
    expect(parseConfig(JSON.parse(json), 'x')).toEqual(c);
    expect(Object.keys(JSON.parse(json))).toEqual(['format', 'role', 'name', 'data', 'edm', 'network', 'student']);
    const t = parseConfig(teacher(), 'cfg.json');
    expect(configToJson(parseConfig(JSON.parse(configToJson(t)), 'x'))).toBe(configToJson(t));
  });

  it('configToJson refuses an invalid config', () => {
    const c = parseConfig(teacher(), 'cfg.json');
    expect(() => configToJson({ ...c, name: '' } as PidStudioConfig)).toThrow(/config field "name"/);
  });
});

describe('parseConfig rejects, naming the field', () => {
  it('a value that is not an object', () => {
    rejects([1], /pid-studio config must be a JSON object \(got an array\)/);
    rejects('x', /must be a JSON object \(got string\)/);
    rejects(null, /got null/);
  });

  it.each<[string, (c: Record<string, any>) => void, RegExp]>([
    ['wrong format', (c) => { c.format = 'pid-studio/2'; }, /config field "format" must be "pid-studio\/1" \(got "pid-studio\/2"\)\. Fix: set "format"/],
    ['missing format', (c) => { delete c.format; }, /config field "format" is missing; it must be "pid-studio\/1"/],
    ['unknown top-level key', (c) => { c.nmae = 'x'; }, /config field "nmae" is not a known field \(known: format, role, name, data, edm, network, precond, pytorch, student\)/],
    ['bad role', (c) => { c.role = 'critic'; }, /config field "role" must be "teacher" or "student" \(got "critic"\)/],
    ['empty name', (c) => { c.name = '  '; }, /config field "name" must be a non-empty string/],
    ['missing data', (c) => { delete c.data; }, /config field "data" is missing; it must be an object/],
    ['empty shape', (c) => { c.data.shape = []; }, /config field "data.shape" must be a non-empty array of positive integers/],
    ['zero in shape', (c) => { c.data.shape = [28, 0, 1]; }, /"data.shape" must be .* \(got \[28,0,1\]\)/],
    ['fractional shape', (c) => { c.data.shape = [2.5]; }, /"data.shape"/],
    ['range lo >= hi', (c) => { c.data.range = [1, -1]; }, /config field "data.range" must be two finite numbers \[lo, hi\] with lo < hi \(got \[1,-1\]\)/],
    ['range of three', (c) => { c.data.range = [0, 1, 2]; }, /"data.range"/],
    ['negative sigma_min', (c) => { c.edm.sigma_min = -1; }, /config field "edm.sigma_min" must be a positive number smaller than edm.sigma_max \(got -1\)/],
    ['sigma_min above sigma_max', (c) => { c.edm.sigma_min = 100; }, /"edm.sigma_min" must be a positive number smaller than edm.sigma_max \(got 100\)/],
    ['infinite sigma_max', (c) => { c.edm.sigma_max = Infinity; }, /"edm.sigma_max" must be a positive finite number \(got Infinity\)/],
    ['zero sigma_data', (c) => { c.edm.sigma_data = 0; }, /"edm.sigma_data" must be a positive finite number \(got 0\)/],
    ['missing rho in a present edm block', (c) => { delete c.edm.rho; }, /"edm.rho" is missing/],
    ['string rho', (c) => { c.edm.rho = '7'; }, /"edm.rho" must be a positive finite number \(got "7"\)/],
    ['misspelt edm field', (c) => { c.edm.sigma_mn = 1; }, /"edm.sigma_mn" is not a known field/],
    ['missing network', (c) => { delete c.network; }, new RegExp(`"network" is missing; it must be an object \\{"type": \\.\\.\\.\\} \\(types: ${NETWORK_TYPES.join(', ')}\\)`)],
    ['unknown network type', (c) => { c.network = { type: 'transformer' }; }, new RegExp(`config field "network.type" is "transformer", not a known network type \\(known: ${NETWORK_TYPES.join(', ')}\\)`)],
    ['missing network type', (c) => { delete c.network.type; }, /"network.type" is missing or not a string; it must be one of: gaussian-mixture, mlp, unet/],
    ['gm: empty weights', (c) => { c.network.weights = []; }, /"network.weights" must be a non-empty array/],
    ['gm: stds of another length', (c) => { c.network.stds = [1]; }, /"network.stds" must be an array of 2 entries, one per component/],
    ['gm: means of another length', (c) => { c.network.means = [[0, 0]]; }, /"network.means" must be an array of 2 entries/],
    ['gm: negative weight', (c) => { c.network.weights = [1, -1]; }, /"network.weights\[1\]" must be a non-negative finite number \(got -1\)/],
    ['gm: NaN weight', (c) => { c.network.weights = [NaN, 1]; }, /"network.weights\[0\]" must be a non-negative finite number \(got NaN\)/],
    ['gm: zero weights', (c) => { c.network.weights = [0, 0]; }, /"network.weights" must be non-negative numbers with a positive finite sum/],
    ['gm: mean of wrong length', (c) => { c.network.means[1] = [1, 2, 3]; }, /"network.means\[1\]" must be an array of 2 finite numbers \(the product of data.shape \[2\]\) \(got \[1,2,3\]\)/],
    ['gm: non-numeric mean', (c) => { c.network.means[0] = [0, null]; }, /"network.means\[0\]" must be an array of 2 finite numbers/],
    ['gm: negative std', (c) => { c.network.stds = [0.1, -0.2]; }, /"network.stds\[1\]" must be a positive finite number \(got -0.2\)/],
    ['gm: unknown key', (c) => { c.network.hidden = 3; }, /"network.hidden" is not a known field \(known: type, weights, means, stds\)/],
    ['student section on a teacher', (c) => { c.student = student().student; }, /config field "student" is only allowed when role is "student"/],
  ])('teacher: %s', (_, edit, re) => reject(teacher, edit, re));

  it.each<[string, (c: Record<string, any>) => void, RegExp]>([
    ['mlp: zero hidden', (c) => { c.network.hidden = 0; }, /"network.hidden" must be a positive integer \(got 0\)/],
    ['mlp: fractional blocks', (c) => { c.network.blocks = 1.5; }, /"network.blocks" must be a positive integer \(got 1.5\)/],
    ['mlp: odd emb_dim', (c) => { c.network.emb_dim = 15; }, /"network.emb_dim" must be a positive even integer \(got 15\)/],
    ['mlp: negative emb_max_freq', (c) => { c.network.emb_max_freq = -4; }, /"network.emb_max_freq" must be a positive finite number/],
    ['mlp: unknown key', (c) => { c.network.hiden = 3; }, /"network.hiden" is not a known field \(known: type, hidden, blocks, emb_dim, emb_max_freq\)/],
    ['missing student section', (c) => { delete c.student; }, /config field "student" is missing; a student model must record how it was distilled/],
    ['parametrization', (c) => { c.student.parametrization = 'x0'; }, /"student.parametrization" must be "pid" \(got "x0"\)/],
    ['short sha256', (c) => { c.student.teacher.sha256 = 'abc'; }, /"student.teacher.sha256" must be 64 hex digits/],
    ['non-hex sha256', (c) => { c.student.teacher.sha256 = 'g'.repeat(64); }, /"student.teacher.sha256"/],
    ['teacher name', (c) => { c.student.teacher.name = 3; }, /"student.teacher.name" must be a non-empty string \(got 3\)/],
    ['N = 1', (c) => { c.student.pid.N = 1; }, /"student.pid.N" must be an integer >= 2 \(got 1\)/],
    ['loss', (c) => { c.student.pid.loss = 'huber'; }, /"student.pid.loss" must be one of "l2", "l1", "pseudo-huber" \(got "huber"\)/],
    ['optimizer', (c) => { c.student.pid.optimizer = 'sgd'; }, /"student.pid.optimizer" must be one of "radam", "adam"/],
    ['lr = 0', (c) => { c.student.pid.lr = 0; }, /"student.pid.lr" must be a positive finite number \(got 0\)/],
    ['batch = 0', (c) => { c.student.pid.batch = 0; }, /"student.pid.batch" must be a positive integer \(got 0\)/],
    ['negative steps', (c) => { c.student.pid.steps = -1; }, /"student.pid.steps" must be a non-negative integer \(got -1\)/],
    ['ema = 1', (c) => { c.student.pid.ema = 1; }, /"student.pid.ema" must be a number in \[0, 1\) \(got 1\)/],
    ['fractional seed', (c) => { c.student.pid.seed = 0.5; }, /"student.pid.seed" must be a non-negative integer/],
    ['missing seed', (c) => { delete c.student.pid.seed; }, /"student.pid.seed" is missing/],
    ['unknown pid key', (c) => { c.student.pid.lr_decay = 1; }, /"student.pid.lr_decay" is not a known field/],
  ])('student: %s', (_, edit, re) => reject(student, edit, re));
});

describe('parseConfig: network type unet', () => {
  const unetTeacher = () => ({
    ...teacher(),
    name: 'mnist unet',
    data: { shape: [28, 28, 1], range: [-1, 1] },
    network: { type: 'unet', channels: 32, channel_mult: [1, 2, 2], blocks_per_level: 1, attn_resolutions: [7], emb_dim: 64, emb_max_freq: 4, groups: 8 },
  }) as Record<string, any>;

  it('accepts a full spec and round-trips it through configToJson', () => {
    const c = parseConfig(unetTeacher(), 'cfg.json');
    expect(c.network).toEqual(unetTeacher().network);
    expect(parseConfig(JSON.parse(configToJson(c)), 'x')).toEqual(c);
  });

  it('fills missing hyper-parameters from UNET_DEFAULTS, with arrays copied', () => {
    const c = unetTeacher();
    c.network = { type: 'unet', channels: 8 };
    const parsed = parseConfig(c, 'cfg.json');
    expect(parsed.network).toEqual({ ...UNET_DEFAULTS, type: 'unet', channels: 8 });
    expect((parsed.network as UnetNetwork).channel_mult).not.toBe(UNET_DEFAULTS.channel_mult);
    expect(parseConfig({ ...unetTeacher(), network: { type: 'unet' } }, 'cfg.json').network).toEqual({ ...UNET_DEFAULTS, type: 'unet' });
  });

  it('accepts non-square images, attention by feature-map height', () => {
    const c = unetTeacher();
    c.data.shape = [16, 8, 3];
    c.network.attn_resolutions = [4, 16];
    expect((parseConfig(c, 'cfg.json').network as UnetNetwork).attn_resolutions).toEqual([4, 16]);
  });

  it.each<[string, (c: Record<string, any>) => void, RegExp]>([
    ['2D data', (c) => { c.data.shape = [2]; }, /config field "data.shape" must be three positive integers \[H, W, C\] for network type "unet" \(images are HWC\) \(got \[2\]\)\. Fix: give the image shape/],
    ['HW without C', (c) => { c.data.shape = [28, 28]; }, /"data.shape" must be three positive integers \[H, W, C\]/],
    ['zero channels', (c) => { c.network.channels = 0; }, /config field "network.channels" must be a positive integer \(got 0\)/],
    ['empty channel_mult', (c) => { c.network.channel_mult = []; }, /"network.channel_mult" must be a non-empty array of positive integers \(got \[\]\)/],
    ['channel_mult not an array', (c) => { c.network.channel_mult = '12'; }, /"network.channel_mult" must be a non-empty array of positive integers \(got "12"\)/],
    ['zero multiplier', (c) => { c.network.channel_mult = [1, 0]; }, /config field "network.channel_mult\[1\]" must be a positive integer \(got 0\)/],
    ['too many levels for 14x14', (c) => { c.data.shape = [14, 14, 1]; }, /"network.channel_mult" must be a list of at most as many levels as data.shape \[14,14,1\] allows: with 3 levels, H and W must be divisible by 2\^2 = 4 \(got \[1,2,2\]\)\. Fix: use fewer levels/],
    ['width not divisible', (c) => { c.data.shape = [28, 30, 1]; }, /"network.channel_mult" .* divisible by 2\^2 = 4/],
    ['zero blocks_per_level', (c) => { c.network.blocks_per_level = 0; }, /"network.blocks_per_level" must be a positive integer \(got 0\)/],
    ['attn_resolutions not an array', (c) => { c.network.attn_resolutions = 7; }, /"network.attn_resolutions" must be an array of positive integers \(may be empty\) \(got 7\)/],
    ['attention at a missing resolution', (c) => { c.network.attn_resolutions = [5]; }, /config field "network.attn_resolutions\[0\]" must be one of the feature-map heights 28, 14, 7 \(got 5\)/],
    ['negative attention resolution', (c) => { c.network.attn_resolutions = [7, -1]; }, /"network.attn_resolutions\[1\]" must be a positive integer \(got -1\)/],
    ['odd emb_dim', (c) => { c.network.emb_dim = 33; }, /"network.emb_dim" must be a positive even integer \(got 33\)/],
    ['zero emb_max_freq', (c) => { c.network.emb_max_freq = 0; }, /"network.emb_max_freq" must be a positive finite number \(got 0\)/],
    ['groups not dividing the widths', (c) => { c.network.groups = 3; }, /"network.groups" must be a positive integer that divides every level's width channels \* channel_mult\[l\] \(32, 64, 64\) \(got 3\)/],
    ['unknown key', (c) => { c.network.dropout = 0.1; }, /"network.dropout" is not a known field \(known: type, channels, channel_mult, blocks_per_level, attn_resolutions, emb_dim, emb_max_freq, groups\)/],
  ])('rejects %s', (_, edit, re) => reject(unetTeacher, edit, re));
});
