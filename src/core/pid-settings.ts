/**
 * PID's settings as the trainer sees them, and the paper's reference values (pid-method.md §3), free of tfjs so the
 * page thread can import them without loading it. The full run settings (with the schedule) are in
 * formats/run-settings.ts, the one settings table.
 */
import { LOSS_NAMES, type LossName, OPTIMIZER_NAMES, type OptimizerName, PRESETS, type RunSettings } from '../formats/run-settings';

export { LOSS_NAMES, OPTIMIZER_NAMES, type LossName, type OptimizerName };

/** What one optimisation step depends on: the grid, the loss, the optimiser and its lr, the batch, the EMA, the seed. */
export type PidSettings = Pick<RunSettings, 'N' | 'loss' | 'optimizer' | 'lr' | 'batch' | 'ema' | 'seed'> & {
  /**
   * Samples per forward and backward pass (absent or >= batch: the whole batch at once). A batch larger than this
   * runs as micro-batches whose gradients are accumulated: the same loss and gradient as the whole batch, less memory.
   */
  microBatch?: number;
};

/** The paper's reference settings (the Paper preset), with a batch that suits a CPU. */
export const PID_DEFAULTS: PidSettings = {
  N: PRESETS.paper.values.N!, loss: PRESETS.paper.values.loss!, optimizer: PRESETS.paper.values.optimizer!,
  lr: PRESETS.paper.values.lr!, batch: 64, ema: PRESETS.paper.values.ema!, seed: 0,
};

export const pidSettingsOf = (s: RunSettings): PidSettings => ({ N: s.N, loss: s.loss, optimizer: s.optimizer, lr: s.lr, batch: s.batch, ema: s.ema, seed: s.seed });
