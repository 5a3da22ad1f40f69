/**
 * PID's settings and the paper's reference values (pid-method.md §3), free of tfjs so the page thread can import
 * them without loading it.
 */
export type LossName = 'l2' | 'l1' | 'pseudo-huber';
export const LOSS_NAMES: LossName[] = ['l2', 'l1', 'pseudo-huber'];

export type OptimizerName = 'radam' | 'adam';
export const OPTIMIZER_NAMES: OptimizerName[] = ['radam', 'adam'];

export interface PidSettings {
  /** Points of the Karras grid the residual is taken on (N). */
  N: number;
  loss: LossName;
  optimizer: OptimizerName;
  lr: number;
  batch: number;
  /** EMA rate of the student weights; 0 keeps no average. */
  ema: number;
  seed: number;
}

/** The paper's reference settings (pid-method.md §3), with a batch that suits a CPU. */
export const PID_DEFAULTS: PidSettings = { N: 250, loss: 'l2', optimizer: 'radam', lr: 2e-4, batch: 64, ema: 0.999, seed: 0 };

