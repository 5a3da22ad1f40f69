/**
 * The paper's settings as the page offers them. The page thread must not load tfjs, and src/core/pid.ts (which holds
 * PID_DEFAULTS and LOSS_NAMES) imports it, so these values are repeated here; test/ui/pid-defaults.test.ts checks
 * that they equal the core's, so they cannot drift apart.
 */
import type { OptimizerName } from '../core/optim';
import type { LossName, PidSettings } from '../core/pid';

export const UI_PID_DEFAULTS: PidSettings = { N: 250, loss: 'l2', optimizer: 'radam', lr: 2e-4, batch: 64, ema: 0.999, seed: 0 };
export const UI_LOSS_NAMES: LossName[] = ['l2', 'l1', 'pseudo-huber'];
export const UI_OPTIMIZER_NAMES: OptimizerName[] = ['radam', 'adam'];
