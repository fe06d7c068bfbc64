/** torchlet data package: IDX files, Fashion-MNIST, transforms, DataLoader. */
export * from './idx.js';
export * from './dataset.js';
export * from './fashion-mnist.js';
export * from './transforms.js';
export { pad, crop, hflip, resizedCrop, resizedCropParams, sampleGenerator, type AugmentStep } from './augment.js';
export * as transforms from './vision-transforms.js';
export { Compose, RandomCrop, RandomHorizontalFlip, RandomResizedCrop, Resize, ToTensor, Normalize, type VisionTransform } from './vision-transforms.js';
export * from './random.js';
export * from './dataloader.js';
export * from './load-data.js';
export { dataCommand, DATA_COMMAND_USAGE } from './cli.js';
export { fashionMNISTFromBytes } from './fashion-mnist-bytes.js';
