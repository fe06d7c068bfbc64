/**
 * Storage in a backend's own memory layout.
 *
 * A fast backend may hand back a buffer whose bytes are not row-major: the cpu
 * backend keeps convolution outputs in oneDNN's channel-blocked layout
 * (nChw16c), so the next convolution, pooling, activation or channel concat
 * reads them with no reorder. Such buffers are registered here with the way
 * back to row-major. `Tensor.storage` converts on first plain access (once per
 * buffer; every tensor sharing the buffer gets the same plain copy), so code
 * that is not layout-aware never sees foreign bytes. Layout-aware kernels read
 * `Tensor.rawStorage` and ask `layoutOf` what they were given.
 */

export interface ForeignLayout {
  /** For messages and debugging, e.g. 'nChw16c [256,16,10,10]'. */
  readonly name: string;
  /** Channel block size (16 for nChw16c). */
  readonly block: number;
  /** Logical NCHW dims. */
  readonly dims: readonly number[];
  /** A row-major copy of buf's contents. */
  toPlain(buf: Float32Array): Float32Array;
}

interface Entry {
  readonly layout: ForeignLayout;
  plain: Float32Array | null;
}

const entries = new WeakMap<Float32Array, Entry>();

/** Record that buf holds its values in `layout`. */
export function markLayout(buf: Float32Array, layout: ForeignLayout): void {
  entries.set(buf, { layout, plain: null });
}

/** The foreign layout buf is in, or null when it is row-major (or has been converted). */
export function layoutOf(buf: Float32Array): ForeignLayout | null {
  const e = entries.get(buf);
  return e && !e.plain ? e.layout : null;
}

/** buf itself when row-major, else its row-major copy (made once and shared). */
export function plainOf(buf: Float32Array): Float32Array {
  const e = entries.get(buf);
  if (!e) return buf;
  if (!e.plain) e.plain = e.layout.toPlain(buf);
  return e.plain;
}

/**
 * What a layout-aware reader should use: the plain copy when one was made (a
 * plain reader may have changed it in place since), else buf as it is.
 */
export function rawOf(buf: Float32Array): Float32Array {
  const e = entries.get(buf);
  return e?.plain ?? buf;
}

/** Whether two buffers are in the same foreign layout (same block and dims). */
export function sameLayout(a: ForeignLayout | null, b: ForeignLayout | null): boolean {
  if (!a || !b) return a === b;
  return a.block === b.block && a.dims.length === b.dims.length && a.dims.every((d, i) => d === b.dims[i]);
}
