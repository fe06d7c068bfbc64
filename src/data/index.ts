/** torchlet data package: IDX files, Fashion-MNIST, transforms, DataLoader. */
export * from './idx.js';
export * from './dataset.js';
export * from './fashion-mnist.js';
export * from './transforms.js';
export * from './random.js';
export * from './dataloader.js';
export { dataCommand, DATA_COMMAND_USAGE } from './cli.js';
