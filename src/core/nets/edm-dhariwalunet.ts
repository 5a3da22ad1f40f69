/**
 * The `edm-dhariwalunet` network type: NVlabs/edm's DhariwalUNet (training/networks.py), the ADM architecture of
 * Dhariwal and Nichol. F(x_in, c_noise, class_labels) is EDM's DhariwalUNet.forward(x, noise_labels, class_labels,
 * augment_labels=None) on NHWC tensors:
 *
 *   emb = map_noise(c_noise)                         positional [cos | sin], model_channels wide, no endpoint
 *   emb = map_layer1(silu(map_layer0(emb)))
 *   emb = silu(emb + map_label(labels))              label_dim > 0; map_label has no bias, labels are not scaled
 *   encoder: enc.RxR_conv, per level below the first a _down block, num_blocks blocks; every output is a skip
 *   decoder: in0 (attention) and in1 at the lowest level, _up blocks above, num_blocks + 1 blocks per level on the
 *     concatenated skips; F = out_conv(silu(out_norm(x)))
 *
 * Blocks: UNetBlock with adaptive_scale (scale and shift), skip_scale 1, GroupNorm eps 1e-5, channels // 64
 * attention heads (no attention where a level has fewer than 64 channels, as in EDM), [1, 1] resampling with a
 * weightless skip (resample_proj false: kernel 0, only the resample_filter buffer). No dropout; map_augment's weight
 * is in the tensors, its input is absent. Tensor names and layouts are DhariwalUNet's state dict.
 */
import * as tf from '@tensorflow/tfjs-core';
import { EDM_DHARIWALUNET_DEFAULTS, type EdmDhariwalUnetNetwork, dhariwalUnetPlan } from '../../formats/edm-networks';
import type { Rng } from '../rng';
import { checkData, EdmTensors, type EdmInitRule, edmInitValues, requireLabels } from './edm-songunet';
import { edmBlock, edmConv2d, edmGroupNormSilu, linear, linearNoBias, positionalEmbedding, silu } from './layers';
import type { HostTensor, ParamShapes, Params } from './params';

export type EdmDhariwalUnetSpec = EdmDhariwalUnetNetwork;

export const DEFAULT_EDM_DHARIWALUNET: EdmDhariwalUnetSpec = {
  type: 'edm-dhariwalunet', img_resolution: 64, in_channels: 3, out_channels: 3, ...EDM_DHARIWALUNET_DEFAULTS,
  channel_mult: [...EDM_DHARIWALUNET_DEFAULTS.channel_mult], attn_resolutions: [...EDM_DHARIWALUNET_DEFAULTS.attn_resolutions],
};

const FILTER = [1, 1];

/** EDM's ADM init: kaiming_uniform with gain sqrt(1/3) for weights and biases; init_zero layers at 0. */
const dhariwalInit: EdmInitRule = (role, fanIn, fanOut) => {
  const gain = role === 'zero' ? 0 : Math.sqrt(1 / 3);
  const init = { kind: 'kaiming_uniform' as const, fanIn, fanOut, gain };
  return { weight: init, bias: init };
};

function dhariwalTensors(spec: EdmDhariwalUnetSpec): EdmTensors {
  const plan = dhariwalUnetPlan(spec);
  const t = new EdmTensors(dhariwalInit, FILTER.length);
  if (spec.augment_dim) t.linear('map_augment', spec.model_channels, spec.augment_dim, 'zero', false);
  t.linear('map_layer0', plan.embChannels, spec.model_channels);
  t.linear('map_layer1', plan.embChannels, plan.embChannels);
  if (spec.label_dim) {
    t.list.push({ name: 'map_label.weight', shape: [plan.embChannels, spec.label_dim],
      init: { kind: 'kaiming_normal', fanIn: spec.label_dim, fanOut: plan.embChannels, gain: Math.sqrt(spec.label_dim) } });
  }
  return t.modules(plan);
}

export function edmDhariwalUnetParamShapes(spec: EdmDhariwalUnetSpec, dataShape: number[]): ParamShapes {
  checkData(spec, dataShape, 'edm-dhariwalunet');
  return dhariwalTensors(spec).shapes;
}

export function edmDhariwalUnetBuffers(spec: EdmDhariwalUnetSpec): string[] {
  return dhariwalTensors(spec).list.filter((t) => t.init.kind === 'filter').map((t) => t.name);
}

export function edmDhariwalUnetInit(spec: EdmDhariwalUnetSpec, dataShape: number[], rng: Rng): Map<string, HostTensor> {
  checkData(spec, dataShape, 'edm-dhariwalunet');
  return edmInitValues(dhariwalTensors(spec).list, rng, FILTER);
}

export function edmDhariwalUnetForward(spec: EdmDhariwalUnetSpec, params: Params, xIn: tf.Tensor, cNoise: tf.Tensor1D, labels?: tf.Tensor2D): tf.Tensor {
  return tf.tidy(() => {
    const plan = dhariwalUnetPlan(spec);
    let emb = positionalEmbedding(cNoise, spec.model_channels, 10000, false);
    emb = linear(params, 'map_layer1', silu(linear(params, 'map_layer0', emb)) as tf.Tensor2D);
    if (spec.label_dim) {
      const l = requireLabels(spec.label_dim, cNoise.shape[0], labels, 'this edm-dhariwalunet');
      emb = tf.add(emb, linearNoBias(params, 'map_label', l));
    }
    emb = silu(emb) as tf.Tensor2D;
    let x = xIn as tf.Tensor4D;
    const skips: tf.Tensor4D[] = [];
    for (const m of plan.enc) {
      if (m.role === 'conv') x = edmConv2d(params, m.name, x);
      else if (m.role === 'block') x = edmBlock(params, m.name, m.block, x, emb);
      skips.push(x);
    }
    for (const m of plan.dec) {
      if (m.role !== 'block') continue;
      if (x.shape[3] !== m.block.inC) x = tf.concat([x, skips.pop()!], 3);
      x = edmBlock(params, m.name, m.block, x, emb);
    }
    return edmConv2d(params, 'out_conv', edmGroupNormSilu(params, 'out_norm', x, 1e-5));
  });
}
