/** Adapts whatever a data iterator yields into [X, y] tensors. */
import { Tensor } from '../tensor.js';
import { markTransient } from '../memory.js';

export { releaseTransient as releaseBatchTensor } from '../memory.js';

export interface RawBatchPart {
  data: Float32Array | Int32Array | Uint8Array;
  shape: readonly number[];
}

export type BatchLike = readonly [Tensor | RawBatchPart, Tensor | RawBatchPart];

export type BatchIterable = AsyncIterable<BatchLike> | Iterable<BatchLike>;

function toTensor(part: Tensor | RawBatchPart, dtype: 'float32' | 'int32'): Tensor {
  if (part instanceof Tensor) return part;
  const buf = part.data instanceof Float32Array ? part.data : Float32Array.from(part.data);
  return markTransient(new Tensor(buf, part.shape, { dtype }));
}

export function toTensorBatch(b: BatchLike): [Tensor, Tensor] {
  return [toTensor(b[0], 'float32'), toTensor(b[1], 'int32')];
}

/** Iterate sync or async iterables uniformly. */
export async function* batchesOf(it: BatchIterable): AsyncGenerator<[Tensor, Tensor]> {
  if (Symbol.asyncIterator in it) {
    for await (const b of it as AsyncIterable<BatchLike>) yield toTensorBatch(b);
  } else {
    for (const b of it as Iterable<BatchLike>) yield toTensorBatch(b);
  }
}

/** len(train_iter): batches per epoch, when the iterable knows it. */
export function lengthOf(it: BatchIterable): number | undefined {
  const n = (it as { length?: unknown }).length;
  if (typeof n === 'number') return n;
  return Array.isArray(it) ? it.length : undefined;
}
