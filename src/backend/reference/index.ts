/**
 * The `reference` backend: every kernel in plain TypeScript. It is the oracle
 * that faster backends are tested against, and it runs anywhere (browsers too).
 */
import type { RowMajorKernels } from '../kernels.js';
import { CPU } from '../../device.js';
import { adaptRowMajor, hostMemory, hostTransfers, type HostBackend } from '../host.js';
import { elementwiseKernels } from './elementwise.js';
import { reduceKernels } from './reduce.js';
import { movementKernels } from './movement.js';
import { matmulKernels } from './matmul.js';
import { convKernels } from './conv.js';
import { poolKernels } from './pool.js';
import { batchNormKernels } from './batchnorm.js';
import { softmaxKernels } from './softmax.js';
import { optimKernels } from './optim.js';
import { valueKernels } from './values.js';

/** The kernels on plain row-major arrays; faster host backends call these for what they do not speed up. */
export const referenceKernels: RowMajorKernels = {
  ...elementwiseKernels,
  ...reduceKernels,
  ...movementKernels,
  ...matmulKernels,
  ...convKernels,
  ...poolKernels,
  ...batchNormKernels,
  ...softmaxKernels,
  ...optimKernels,
  ...valueKernels,
};

export const referenceBackend: HostBackend = {
  name: 'reference',
  device: CPU,
  describe: () => 'cpu (reference TypeScript kernels, 1 thread)',
  hostMemory: true,
  memory: hostMemory,
  kernels: adaptRowMajor(referenceKernels, () => referenceBackend),
  ...hostTransfers(() => referenceBackend),
};
