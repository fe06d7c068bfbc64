/**
 * torchlet: deep learning for TypeScript with a PyTorch-style API.
 *
 *   import * as torch from 'torchlet';
 *   const { nn } = torch;
 */
export { Tensor, type DType, type TensorLike } from './tensor.js';
export { tensor, zeros, ones, full, rand, randn, randint, arange, zerosLike, onesLike, type CreateOptions } from './creation.js';
export { noGrad, isGradEnabled, setGradEnabled, enableGrad } from './autograd/grad-mode.js';
export { manualSeed, Generator } from './random.js';
export { cat, stack } from './ops/movement.js';
export { where } from './ops/elementwise.js';
export { matmul } from './ops/matmul.js';
export { setBackend, activeBackend, listBackends, withBackend } from './backend/registry.js';
export * as nn from './nn/index.js';
export * as optim from './optim/index.js';
export * from './functions.js';
export * as models from './models/index.js';
export { createModel, listModels, getModelSpec, MODEL_NAMES, type ModelSpec } from './models/index.js';
export { summarize, formatSummary, type LayerSummary } from './models/summary.js';
export { useDevice, tryGpu, deviceLabel } from './device.js';
export * as data from './data/index.js';
export * as train from './train/index.js';
export { fit, trainCh6, evaluateAccuracy, Accumulator, Timer, accuracy } from './train/index.js';
export * as io from './io/index.js';
