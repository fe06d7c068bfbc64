/**
 * Batch assembly shared by the main thread and the loader workers, so both
 * produce bit-identical batches.
 */
import { channelLuts, compilePipeline, pipelineOutputShape, type TransformSpec } from './transforms.js';
import { compileRandomPipeline, sampleGenerator } from './augment.js';

/** What a worker (or the main-thread path) needs to turn sample indices into a float32 batch. */
export interface BatchSource {
  /** uint8 pixels [N, H, W, C]; a view over a SharedArrayBuffer when used by workers. */
  images: Uint8Array;
  height: number;
  width: number;
  channels: number;
  transform: TransformSpec;
  /** The loader's seed: with the epoch and each sample's index it seeds the augmentation draws. */
  seed: number;
}

/** out's row b = lut[images[indices[b] * rowLen + i]] for each i (throws RangeError on a bad index). */
export type RowGather = (images: Uint8Array, indices: Int32Array, rowLen: number, lut: Float32Array, out: Float32Array) => void;

let rowGatherLoader: (() => RowGather | null) | null = null;
let rowGather: RowGather | null | undefined;

/**
 * Install a native row gather for batches that are whole single-channel images through one table
 * (no resize, no augmentation: Fashion-MNIST at 28x28). The Node entry installs the cpu addon's,
 * loaded on first use; it fills LeNet's 256-image batch in about a tenth of the JavaScript loop's
 * 0.5 ms. Both give the same values: the same table, read the same way.
 */
export function setRowGatherLoader(load: (() => RowGather | null) | null): void {
  rowGatherLoader = load;
  rowGather = undefined;
}

function nativeRowGather(): RowGather | null {
  if (rowGather === undefined) rowGather = rowGatherLoader?.() ?? null;
  return rowGather;
}

/** Returns `fill(indices, epoch) -> Float32Array [B, C, H', W']` for the source. */
export function makeBatchFiller(src: BatchSource): {
  sampleShape: [number, number, number];
  /** `alloc` gives the output buffer (contents undefined: every value is written); default a new Float32Array. */
  fill: (indices: ArrayLike<number>, epoch: number, alloc?: (n: number) => Float32Array) => Float32Array;
} {
  const { images, height, width, channels, transform, seed } = src;
  const sampleShape = pipelineOutputShape(transform, height, width, channels);
  const inSize = height * width * channels;
  const outSize = sampleShape[0] * sampleShape[1] * sampleShape[2];
  const count = Math.floor(images.length / inSize);
  const random = transform.augment?.length ? compileRandomPipeline(transform, height, width, channels) : null;
  const run = random ? null : compilePipeline(transform, height, width, channels);
  const wholeRows = !random && channels === 1 && sampleShape[1] === height && sampleShape[2] === width;
  const lut = wholeRows ? channelLuts(transform, 1)[0] : null;
  const fill = (indices: ArrayLike<number>, epoch: number, alloc?: (n: number) => Float32Array): Float32Array => {
    const out = alloc ? alloc(indices.length * outSize) : new Float32Array(indices.length * outSize);
    const gather = lut && indices instanceof Int32Array ? nativeRowGather() : null;
    if (gather && lut) {
      gather(images, indices as Int32Array, inSize, lut, out);
      return out;
    }
    for (let b = 0; b < indices.length; b++) {
      const i = indices[b];
      if (!(i >= 0 && i < count)) throw new RangeError(`sample index ${i} out of range [0, ${count})`);
      const image = images.subarray(i * inSize, (i + 1) * inSize);
      if (random) random(image, out, b * outSize, sampleGenerator(seed, epoch, i));
      else (run as NonNullable<typeof run>)(image, out, b * outSize);
    }
    return out;
  };
  return { sampleShape, fill };
}

/** Messages between DataLoader and its workers. */
export type WorkerRequest = { type: 'batch'; id: number; indices: Int32Array; epoch: number };
export type WorkerResponse =
  | { type: 'batch'; id: number; x: Float32Array }
  | { type: 'error'; id: number; message: string; stack?: string };
