/**
 * The `reference` backend: every kernel in plain TypeScript. It is the oracle
 * that faster backends are tested against, and it runs anywhere (browsers too).
 */
import type { Backend, Kernels } from '../kernels.js';
import { elementwiseKernels } from './elementwise.js';
import { reduceKernels } from './reduce.js';
import { movementKernels } from './movement.js';
import { matmulKernels } from './matmul.js';
import { convKernels } from './conv.js';
import { poolKernels } from './pool.js';
import { batchNormKernels } from './batchnorm.js';
import { softmaxKernels } from './softmax.js';
import { optimKernels } from './optim.js';

export const referenceKernels: Kernels = {
  ...elementwiseKernels,
  ...reduceKernels,
  ...movementKernels,
  ...matmulKernels,
  ...convKernels,
  ...poolKernels,
  ...batchNormKernels,
  ...softmaxKernels,
  ...optimKernels,
};

export const referenceBackend: Backend = {
  name: 'reference',
  describe: () => 'cpu (reference TypeScript kernels, 1 thread)',
  kernels: referenceKernels,
};
