/** EDMPrecond (Karras et al. 2022, Table 1, "Ours"): c_noise = ln(sigma) / 4, unit-variance input and target. */
import * as tf from '@tensorflow/tfjs-core';
import type { Precond } from './types';

export function edmPreconditioning(sigmaData: number): Precond {
  const sd2 = sigmaData * sigmaData;
  return {
    type: 'edm',
    at(sigma) {
      const s2 = sigma * sigma + sd2;
      return { cSkip: sd2 / s2, cOut: (sigma * sigmaData) / Math.sqrt(s2), cIn: 1 / Math.sqrt(s2), cNoise: Math.log(sigma) / 4 };
    },
    tensors(sigma) {
      const s2 = tf.add(tf.square(sigma), sd2);
      const root = tf.sqrt(s2);
      return {
        cSkip: tf.div(sd2, s2),
        cOut: tf.div(tf.mul(sigma, sigmaData), root),
        cIn: tf.div(1, root),
        cNoise: tf.div(tf.log(sigma), 4),
      } as ReturnType<Precond['tensors']>;
    },
    cNoise: (sigma) => tf.div(tf.log(sigma), 4),
    trainedRange: [0, Infinity],
  };
}
