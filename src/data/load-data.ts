/**
 * d2l's `load_data_fashion_mnist`, over the Fashion-MNIST files (Node):
 *
 *   const [trainIter, testIter] = await loadDataFashionMNIST(256, { resize: 224 });
 *   for await (const [X, y] of trainIter) { ... }   // X: [B, 1, 224, 224] float32, y: [B] int32
 */
import { availableParallelism } from 'node:os';
import './worker-pool.js';
import { DataLoader, FASHION_MNIST_MEAN, FASHION_MNIST_STD } from './dataloader.js';
import { FashionMNIST, type FashionMNISTLoadOptions } from './fashion-mnist.js';
import type { TransformSpec } from './transforms.js';
import { Compose } from './vision-transforms.js';
import type { AugmentStep } from './augment.js';

export interface LoadDataFashionMNISTOptions extends Omit<FashionMNISTLoadOptions, 'train'> {
  /** Resize images to size x size (torchvision Resize(size) on the PIL image, as d2l does). */
  resize?: number;
  /** Shuffle seed of the training iterator (default 0). */
  seed?: number;
  /** Worker threads per iterator (default: with resize, min(4, cores - 1) but at least 1; without, 0). */
  workers?: number;
  /** Batches in flight per iterator (default max(2, 2 * workers)). */
  prefetch?: number;
  /** Normalize after ToTensor: true uses FASHION_MNIST_MEAN/STD (d2l itself does not normalize). */
  normalize?: boolean | { mean: readonly number[]; std: readonly number[] };
  /** Drop the last incomplete training batch (default false, like d2l). */
  dropLast?: boolean;
  /** Batch size of the test iterator (default: batchSize, as d2l). Accuracy does not depend on it. */
  testBatchSize?: number;
  /**
   * Random augmentation of the training images (never the test ones), after the resize:
   * new Compose([new RandomCrop(28, { padding: 4 }), new RandomHorizontalFlip()]) or its steps.
   */
  augment?: Compose | readonly AugmentStep[];
}

/** Default worker count for an image size: none for 28x28, some for upscaled images. */
export function defaultLoaderWorkers(resize?: number): number {
  if (!resize || resize === 28) return 0;
  return Math.max(1, Math.min(4, availableParallelism() - 1));
}

/**
 * d2l's `load_data_fashion_mnist(batch_size, resize)`: `[trainIter, testIter]`, the
 * training iterator shuffled (reproducibly, by `seed` and epoch), the test one in order.
 */
export async function loadDataFashionMNIST(batchSize: number, options: LoadDataFashionMNISTOptions = {}): Promise<[DataLoader, DataLoader]> {
  // Sequential: the first call downloads all four files when needed, the second then finds them.
  const train = await FashionMNIST.load({ ...options, train: true });
  const test = await FashionMNIST.load({ ...options, train: false });
  const transform: TransformSpec = {};
  if (options.resize !== undefined) transform.resize = [options.resize, options.resize];
  if (options.normalize === true) transform.normalize = { mean: [FASHION_MNIST_MEAN], std: [FASHION_MNIST_STD] };
  else if (options.normalize) transform.normalize = options.normalize;
  const workers = options.workers ?? defaultLoaderWorkers(options.resize);
  const common = { batchSize, workers, prefetch: options.prefetch, transform };
  const steps = options.augment instanceof Compose ? options.augment.spec.augment ?? [] : options.augment ?? [];
  if (options.augment instanceof Compose && (options.augment.spec.resize !== undefined || options.augment.spec.normalize)) {
    throw new Error('loadDataFashionMNIST: augment holds only the random transforms; give resize and normalize as their own options');
  }
  const trainTransform: TransformSpec = steps.length ? { ...transform, augment: [...steps] } : transform;
  const trainIter = new DataLoader(train, { ...common, transform: trainTransform, shuffle: true, seed: options.seed ?? 0, dropLast: options.dropLast ?? false });
  const testIter = new DataLoader(test, { ...common, batchSize: options.testBatchSize ?? batchSize, shuffle: false });
  return [trainIter, testIter];
}
