/**
 * In-memory datasets of uint8 images with integer class labels.
 */

/** N uint8 images of equal size, stored contiguously (row-major [N, H, W, C]), with one label each. */
export interface ImageDataset {
  /** Pixels, [length, height, width, channels] row-major (channels-last, like PIL/numpy). */
  readonly images: Uint8Array;
  /** Class label of each image. */
  readonly labels: ArrayLike<number>;
  /** Number of samples. */
  readonly length: number;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
}

/** Check the internal consistency of a dataset; throws with a specific message. */
export function validateImageDataset(ds: ImageDataset, name = 'dataset'): void {
  const { length, height, width, channels } = ds;
  for (const [k, v] of Object.entries({ length, height, width, channels })) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`${name}: ${k} must be a non-negative integer, got ${v}`);
  }
  const need = length * height * width * channels;
  if (ds.images.length !== need) {
    throw new Error(`${name}: images has ${ds.images.length} bytes, expected ${length}x${height}x${width}x${channels} = ${need}`);
  }
  if (ds.labels.length !== length) {
    throw new Error(`${name}: ${ds.labels.length} labels for ${length} images`);
  }
}

/** A plain dataset over caller-supplied arrays (handy for tests and custom data). */
export class ArrayImageDataset implements ImageDataset {
  readonly images: Uint8Array;
  readonly labels: ArrayLike<number>;
  readonly length: number;
  readonly height: number;
  readonly width: number;
  readonly channels: number;

  constructor(images: Uint8Array, labels: ArrayLike<number>, height: number, width: number, channels = 1) {
    this.images = images;
    this.labels = labels;
    this.height = height;
    this.width = width;
    this.channels = channels;
    this.length = labels.length;
    validateImageDataset(this, 'ArrayImageDataset');
  }

  /** Image `i` (a view, HWC) and its label. */
  get(i: number): { image: Uint8Array; label: number } {
    if (!Number.isInteger(i) || i < 0 || i >= this.length) throw new RangeError(`index ${i} out of range [0, ${this.length})`);
    const n = this.height * this.width * this.channels;
    return { image: this.images.subarray(i * n, (i + 1) * n), label: this.labels[i] };
  }
}
