/** VEPrecond (Karras et al. 2022, Table 1, "VE"; Song et al. 2021's NCSN++): c_skip = 1, c_out = sigma, c_in = 1, c_noise = ln(sigma / 2). */
import * as tf from '@tensorflow/tfjs-core';
import type { PrecondSpec } from '../../formats/config';
import type { Precond } from './types';

/** The noise levels the network was trained on (EDM's defaults 0.02 .. 100, in config.ts PRECOND_DEFAULTS). */
export type VeParams = Omit<Extract<PrecondSpec, { type: 've' }>, 'type'>;

export function vePreconditioning(p: VeParams): Precond {
  return {
    type: 've',
    at: (sigma) => ({ cSkip: 1, cOut: sigma, cIn: 1, cNoise: Math.log(0.5 * sigma) }),
    tensors: (sigma) => ({
      cSkip: tf.onesLike(sigma),
      cOut: tf.clone(sigma),
      cIn: tf.onesLike(sigma),
      cNoise: tf.log(tf.mul(sigma, 0.5)),
    }) as ReturnType<Precond['tensors']>,
    cNoise: (sigma) => tf.log(tf.mul(sigma, 0.5)),
    trainedRange: [p.sigma_min, p.sigma_max],
  };
}
