/** The part of torchlet.data that runs anywhere (no files, no worker threads): IDX from bytes, in-memory datasets, the DataLoader, transforms. */
export {
  IDX_MAGIC_IMAGES_U8, IDX_MAGIC_LABELS_U8, IdxFormatError, encodeIdx, isGzip, parseIdxAsync,
  type IdxArray, type IdxDtype, type IdxExpect, type IdxHeader, type IdxTypedArray,
} from './idx-bytes.js';
export { ArrayImageDataset, validateImageDataset, type ImageDataset } from './dataset.js';
export { FASHION_MNIST_LABELS, getFashionMNISTLabels } from './labels.js';
export * from './transforms.js';
export { pad, crop, hflip, resizedCrop, resizedCropParams, sampleGenerator, type AugmentStep } from './augment.js';
export * as transforms from './vision-transforms.js';
export { Compose, RandomCrop, RandomHorizontalFlip, RandomResizedCrop, Resize, ToTensor, Normalize, type VisionTransform } from './vision-transforms.js';
export { DataLoader, toBatch, FASHION_MNIST_MEAN, FASHION_MNIST_STD, type Batch, type BatchX, type BatchY, type DataLoaderOptions } from './dataloader.js';
export { fashionMNISTFromBytes } from './fashion-mnist-bytes.js';
