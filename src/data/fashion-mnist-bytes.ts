/**
 * A Fashion-MNIST split from the bytes of its two IDX files (gzipped or raw),
 * as a page or a worker gets them from fetch(): the same checks as the Node
 * reader (magic, 28x28 images, one label per image, labels 0..9).
 */
import { ArrayImageDataset } from './dataset.js';
import { IDX_MAGIC_IMAGES_U8, IDX_MAGIC_LABELS_U8, parseIdxAsync } from './idx-bytes.js';
import { FASHION_MNIST_LABELS } from './labels.js';

export async function fashionMNISTFromBytes(images: Uint8Array, labels: Uint8Array, names: { images?: string; labels?: string } = {}): Promise<ArrayImageDataset> {
  const imagesName = names.images ?? 'images';
  const labelsName = names.labels ?? 'labels';
  const img = await parseIdxAsync(images, imagesName, { magic: IDX_MAGIC_IMAGES_U8, dims: [null, 28, 28] });
  const lab = await parseIdxAsync(labels, labelsName, { magic: IDX_MAGIC_LABELS_U8, dims: [null] });
  if (img.shape[0] !== lab.shape[0]) {
    throw new Error(`${imagesName} holds ${img.shape[0]} images but ${labelsName} holds ${lab.shape[0]} labels; the files do not belong together`);
  }
  const y = lab.data as Uint8Array;
  for (let i = 0; i < y.length; i++) {
    if (y[i] >= FASHION_MNIST_LABELS.length) throw new Error(`${labelsName}: label ${y[i]} at index ${i} is not a Fashion-MNIST class (0..${FASHION_MNIST_LABELS.length - 1})`);
  }
  return new ArrayImageDataset(img.data as Uint8Array, y, 28, 28, 1);
}
