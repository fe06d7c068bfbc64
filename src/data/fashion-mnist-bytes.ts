/**
 * A Fashion-MNIST split from the bytes of its two IDX files (gzipped or raw),
 * as a page or a worker gets them from fetch(), and the checks every reader
 * of such a pair makes (the Node file reader, fashion-mnist.ts, uses them too):
 * magic, 28x28 images, one label per image, labels 0..9.
 */
import { ArrayImageDataset } from './dataset.js';
import { IDX_MAGIC_IMAGES_U8, IDX_MAGIC_LABELS_U8, parseIdxAsync, type IdxExpect } from './idx-bytes.js';
import { FASHION_MNIST_LABELS } from './labels.js';

export const FASHION_MNIST_IMAGES_EXPECT: IdxExpect = { magic: IDX_MAGIC_IMAGES_U8, dims: [null, 28, 28] };
export const FASHION_MNIST_LABELS_EXPECT: IdxExpect = { magic: IDX_MAGIC_LABELS_U8, dims: [null] };

/** Refuses an images file and a labels file whose counts differ (names as the user knows the files). */
export function checkFashionMNISTPair(images: number, labels: number, names: { images: string; labels: string }): void {
  if (images !== labels) {
    throw new Error(`${names.images} declares ${images} images but ${names.labels} declares ${labels} labels; the files do not belong together`);
  }
}

/** Refuses a label that is not one of the ten classes. */
export function checkFashionMNISTLabels(labels: Uint8Array, name: string): void {
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] >= FASHION_MNIST_LABELS.length) throw new Error(`${name}: label ${labels[i]} at index ${i} is out of range 0..${FASHION_MNIST_LABELS.length - 1}`);
  }
}

export async function fashionMNISTFromBytes(images: Uint8Array, labels: Uint8Array, names: { images?: string; labels?: string } = {}): Promise<ArrayImageDataset> {
  const named = { images: names.images ?? 'images', labels: names.labels ?? 'labels' };
  const img = await parseIdxAsync(images, named.images, FASHION_MNIST_IMAGES_EXPECT);
  const lab = await parseIdxAsync(labels, named.labels, FASHION_MNIST_LABELS_EXPECT);
  checkFashionMNISTPair(img.shape[0], lab.shape[0], named);
  const y = lab.data as Uint8Array;
  checkFashionMNISTLabels(y, named.labels);
  return new ArrayImageDataset(img.data as Uint8Array, y, 28, 28, 1);
}
