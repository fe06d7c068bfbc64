/**
 * The seed's model zoo, by name. Each entry carries the seed's input size and
 * training hyperparameters, so `torchlet train <name>` reproduces the notes.
 */
import type { Module } from '../nn/module.js';
import { lenet } from './lenet.js';
import { alexnet } from './alexnet.js';
import { vgg, vgg11, vgg11Small } from './vgg.js';
import { nin } from './nin.js';
import { googlenet } from './googlenet.js';
import { lenetBN, lenetBNScratch } from './lenet-bn.js';
import { resnet18 } from './resnet.js';

export interface TrainDefaults {
  lr: number;
  batchSize: number;
  epochs: number;
  /** Resize Fashion-MNIST to this side length; undefined keeps 28. */
  resize?: number;
}

export interface ModelSpec {
  name: string;
  description: string;
  create: () => Module;
  /** [C, H, W] of one example, the seed's input for this model. */
  inputShape: [number, number, number];
  train: TrainDefaults;
}

const specs: ModelSpec[] = [
  { name: 'lenet', description: 'LeNet-5 with sigmoid and average pooling (d2l §LeNet)', create: lenet, inputShape: [1, 28, 28], train: { lr: 0.9, batchSize: 256, epochs: 10 } },
  { name: 'alexnet', description: 'AlexNet for 1×224×224 input (d2l §AlexNet)', create: alexnet, inputShape: [1, 224, 224], train: { lr: 0.01, batchSize: 128, epochs: 10, resize: 224 } },
  { name: 'vgg11', description: 'VGG-11, five blocks (d2l §VGG)', create: vgg11, inputShape: [1, 224, 224], train: { lr: 0.05, batchSize: 128, epochs: 10, resize: 224 } },
  { name: 'vgg11-small', description: 'VGG-11 with channels ÷ 4, as the book trains it', create: () => vgg11Small(4), inputShape: [1, 224, 224], train: { lr: 0.05, batchSize: 128, epochs: 10, resize: 224 } },
  { name: 'nin', description: 'Network in Network (d2l §NiN)', create: nin, inputShape: [1, 224, 224], train: { lr: 0.1, batchSize: 128, epochs: 10, resize: 224 } },
  { name: 'googlenet', description: 'GoogLeNet with nine Inception blocks (d2l §GoogLeNet)', create: googlenet, inputShape: [1, 96, 96], train: { lr: 0.1, batchSize: 128, epochs: 10, resize: 96 } },
  { name: 'lenet-bn', description: 'LeNet with built-in BatchNorm2d/1d (d2l §BatchNorm, torch API)', create: lenetBN, inputShape: [1, 28, 28], train: { lr: 1.0, batchSize: 256, epochs: 10 } },
  { name: 'lenet-bn-scratch', description: 'LeNet with the book\'s BatchNorm written from tensor ops', create: lenetBNScratch, inputShape: [1, 28, 28], train: { lr: 1.0, batchSize: 256, epochs: 10 } },
  { name: 'resnet18', description: 'ResNet-18 (d2l) for 1×96×96 input, beyond the chapter', create: resnet18, inputShape: [1, 96, 96], train: { lr: 0.05, batchSize: 256, epochs: 10, resize: 96 } },
];

export const MODEL_NAMES: readonly string[] = specs.map((s) => s.name);

export function getModelSpec(name: string): ModelSpec {
  const spec = specs.find((s) => s.name === name.toLowerCase());
  if (!spec) {
    const near = closestName(name, MODEL_NAMES);
    throw new Error(`unknown model '${name}'${near ? `; did you mean '${near}'?` : ''} Known models: ${MODEL_NAMES.join(', ')}`);
  }
  return spec;
}

export function listModels(): readonly ModelSpec[] {
  return specs;
}

/** Build a zoo network by name: createModel('googlenet'). */
export function createModel(name: string): Module {
  return getModelSpec(name).create();
}

export { lenet, Reshape } from './lenet.js';
export { alexnet } from './alexnet.js';
export { vgg, vgg11, vgg11Small, vggBlock, VGG11_ARCH, type ConvArch } from './vgg.js';
export { nin, ninBlock } from './nin.js';
export { googlenet, Inception } from './googlenet.js';
export { lenetBN, lenetBNScratch, BatchNorm, batchNorm } from './lenet-bn.js';
export { resnet18, Residual, resnetBlock } from './resnet.js';

/** The known name closest to `name` by edit distance, when it is close enough to be a typo. */
function closestName(name: string, names: readonly string[]): string | null {
  const dist = (a: string, b: string): number => {
    const d = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      let prev = d[0];
      d[0] = i;
      for (let j = 1; j <= b.length; j++) {
        const tmp = d[j];
        d[j] = Math.min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
        prev = tmp;
      }
    }
    return d[b.length];
  };
  let best: string | null = null;
  let bestD = Infinity;
  for (const n of names) {
    const k = dist(name.toLowerCase(), n);
    if (k < bestD) {
      bestD = k;
      best = n;
    }
  }
  return bestD <= Math.max(2, Math.floor(name.length / 3)) ? best : null;
}
