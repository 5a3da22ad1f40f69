/** Class labels of class-conditional models: one-hot rows [n, label_dim], as EDM's class_labels. */
import * as tf from '@tensorflow/tfjs-core';

/** One-hot rows for the given classes. */
export function oneHotLabels(classes: ArrayLike<number>, labelDim: number): tf.Tensor2D {
  return tf.tidy(() => tf.oneHot(tf.tensor1d(Array.from(classes), 'int32'), labelDim).toFloat() as tf.Tensor2D);
}

/**
 * Labels for n fixed noise draws (validation, sample grids): every class in turn (row i has class i mod label_dim),
 * or one class for all rows; none for an unconditional model.
 */
export function fixedLabels(labelDim: number, n: number, onlyClass?: number): tf.Tensor2D | undefined {
  if (labelDim <= 0) return undefined;
  if (onlyClass !== undefined && !(Number.isInteger(onlyClass) && onlyClass >= 0 && onlyClass < labelDim)) {
    throw new Error(`class ${onlyClass} is not one of 0 .. ${labelDim - 1}`);
  }
  return oneHotLabels(Array.from({ length: n }, (_, i) => onlyClass ?? i % labelDim), labelDim);
}
