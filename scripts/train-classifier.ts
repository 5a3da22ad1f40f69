/**
 * Trains the MNIST feature extractor of `pid-studio eval` (src/core/classifier.ts) on the training split of the
 * `mnist` package and writes public/classifier/mnist-mlp.safetensors. Reproducible from --seed.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import '../src/core/gradients';
import { startBackend } from '../src/core/backend';
import { CLASSIFIER_FORMAT, classifierBytes, classifierLogits, initClassifier } from '../src/core/classifier';
import { fromParams, toParams } from '../src/core/nets/params';
import { MomentOptimizer } from '../src/core/optim';
import { Rng } from '../src/core/rng';
import { parseOptions } from '../src/cli/args';
import { loadMnist } from '../src/cli/mnist';

const o = parseOptions(process.argv.slice(2), { steps: 'integer', batch: 'integer', lr: 'number', seed: 'integer', out: 'string' }, 'train-classifier');
const steps = (o.steps as number) ?? 3000;
const batch = (o.batch as number) ?? 128;
const lr = (o.lr as number) ?? 1e-3;
const out = (o.out as string) ?? 'public/classifier/mnist-mlp.safetensors';
const rng = new Rng((o.seed as number) ?? 0);

await startBackend('wasm');
tf.enableProdMode();
const train = loadMnist('train');
const heldout = loadMnist('heldout');
const params = toParams(initClassifier(rng), true);
const variables = new Map([...params].map(([k, v]) => [k, v as tf.Variable]));
const optimizer = new MomentOptimizer('adam', variables, { lr });

const start = performance.now();
for (let step = 1; step <= steps; step++) {
  optimizer.lr = lr * 0.5 * (1 + Math.cos((Math.PI * step) / steps));
  const idx = Array.from({ length: batch }, () => rng.int(train.n));
  const x = new Float32Array(batch * 784);
  idx.forEach((j, b) => x.set(train.images.subarray(j * 784, (j + 1) * 784), b * 784));
  const loss = tf.tidy(() => {
    const images = tf.tensor(x, [batch, 28, 28, 1]);
    const labels = tf.oneHot(tf.tensor1d(idx.map((j) => train.labels[j]), 'int32'), 10);
    const { value, grads } = tf.variableGrads(() => tf.neg(tf.mean(tf.sum(tf.mul(labels, tf.logSoftmax(classifierLogits(params, images))), 1))) as tf.Scalar, [...variables.values()]);
    optimizer.apply(new Map([...variables].map(([k, v]) => [k, grads[v.name]])));
    return value;
  });
  if (step % 500 === 0 || step === steps) console.log(`step ${step}/${steps}  loss ${(await loss.data())[0].toFixed(4)}  ${((performance.now() - start) / 1000).toFixed(0)} s`);
  loss.dispose();
}

const predictions = tf.tidy(() => tf.argMax(classifierLogits(params, tf.tensor(heldout.images, [heldout.n, 28, 28, 1])), 1).dataSync());
const accuracy = Array.from(predictions).reduce((s, p, i) => s + (p === heldout.labels[i] ? 1 : 0), 0) / heldout.n;
console.log(`held-out accuracy ${(100 * accuracy).toFixed(2)} % on ${heldout.n} digits`);
mkdirSync('public/classifier', { recursive: true });
writeFileSync(out, classifierBytes(await fromParams(params), { format: CLASSIFIER_FORMAT, heldoutAccuracy: accuracy, trainedSteps: steps }));
console.log(`wrote ${out}`);
