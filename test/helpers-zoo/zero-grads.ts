/**
 * Parameters whose gradient is zero in exact arithmetic: the bias of a Conv2d
 * or Linear whose output goes straight into a training-mode BatchNorm (the
 * normalisation subtracts the batch mean, so a constant shift per channel
 * cannot change the loss). Both frameworks return float32 rounding noise for
 * them (~1e-7, while PyTorch in float64 gives ~1e-15), so comparing the noise
 * elementwise is meaningless; the parity test instead checks that both are
 * zero to within 1e-4 of the same layer's weight gradient.
 *
 * Found structurally: consecutive children of a Sequential, and the
 * conv1→bn1, conv2→bn2 pairs of ResNet's Residual.
 */
import type { Module } from '../../src/nn/module.js';
import { Sequential } from '../../src/nn/layers/container.js';
import { Conv2d } from '../../src/nn/layers/conv.js';
import { Linear } from '../../src/nn/layers/linear.js';
import { BatchNorm1d, BatchNorm2d } from '../../src/nn/layers/batchnorm.js';
import { BatchNorm } from '../../src/models/lenet-bn.js';
import { Residual } from '../../src/models/resnet.js';

function isAffine(m: Module | undefined): m is Conv2d | Linear {
  return (m instanceof Conv2d || m instanceof Linear) && m.bias !== null;
}

function isBatchNorm(m: Module | undefined): boolean {
  return m instanceof BatchNorm1d || m instanceof BatchNorm2d || m instanceof BatchNorm;
}

/** bias key → the weight key of the same layer. */
export function biasesBeforeBatchNorm(model: Module): Map<string, string> {
  const out = new Map<string, string>();
  for (const [path, mod] of model.namedModules()) {
    const pre = path ? `${path}.` : '';
    const pairs: Array<[string, string]> = [];
    if (mod instanceof Sequential) {
      const kids = mod.namedChildren();
      for (let i = 0; i + 1 < kids.length; i++) pairs.push([kids[i][0], kids[i + 1][0]]);
    } else if (mod instanceof Residual) {
      pairs.push(['conv1', 'bn1'], ['conv2', 'bn2']);
    }
    const byName = new Map(mod.namedChildren());
    for (const [a, b] of pairs) {
      if (isAffine(byName.get(a)) && isBatchNorm(byName.get(b))) out.set(`${pre}${a}.bias`, `${pre}${a}.weight`);
    }
  }
  return out;
}
