/**
 * IDX (the MNIST / Fashion-MNIST container) from bytes, anywhere: the header
 * and body checks, decoding, encoding, and gzip inflation through the
 * platform's DecompressionStream (parseIdxAsync). The Node reader (idx.ts)
 * adds files and synchronous zlib on top of these.
 *
 * Layout (all integers big-endian):
 *   magic: 0x00 0x00 <dtype> <ndim>
 *   ndim x uint32 dimension sizes
 *   payload: prod(dims) elements of <dtype>, big-endian, row-major
 */
export type IdxDtype = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';

export type IdxTypedArray = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

export interface IdxArray {
  dtype: IdxDtype;
  shape: number[];
  data: IdxTypedArray;
}

/** Magic number of an IDX file of uint8 images: [N, rows, cols] (0x00000803). */
export const IDX_MAGIC_IMAGES_U8 = 0x00000803; // 2051
/** Magic number of an IDX file of uint8 labels: [N] (0x00000801). */
export const IDX_MAGIC_LABELS_U8 = 0x00000801; // 2049

const DTYPE_CODES: Record<number, { dtype: IdxDtype; size: number }> = {
  0x08: { dtype: 'uint8', size: 1 },
  0x09: { dtype: 'int8', size: 1 },
  0x0b: { dtype: 'int16', size: 2 },
  0x0c: { dtype: 'int32', size: 4 },
  0x0d: { dtype: 'float32', size: 4 },
  0x0e: { dtype: 'float64', size: 8 },
};

const DTYPE_TO_CODE: Record<IdxDtype, number> = {
  uint8: 0x08,
  int8: 0x09,
  int16: 0x0b,
  int32: 0x0c,
  float32: 0x0d,
  float64: 0x0e,
};

/** Error raised for a malformed IDX file; `file` is the path (or label) of the offending input. */
export class IdxFormatError extends Error {
  readonly file: string;
  constructor(file: string, problem: string) {
    // Capped: a hostile header must not turn into a megabyte of message (the file name always stays).
    const max = Math.max(120, 300 - file.length - 2);
    super(`${file}: ${problem.length > max ? `${problem.slice(0, max - 1)}…` : problem}`);
    this.name = 'IdxFormatError';
    this.file = file;
  }
}

/** What the caller expects of the file; every field is optional. */
export interface IdxExpect {
  /** Exact magic number, e.g. IDX_MAGIC_IMAGES_U8. */
  magic?: number;
  /** Expected dimension sizes; `null` entries are not checked. Also fixes ndim. */
  dims?: (number | null)[];
}

/** A shape for messages: whole when short, the first dims and a count when a hostile header has many. */
export function shapeText(shape: readonly number[]): string {
  return shape.length <= 6 ? `[${shape.join(', ')}]` : `[${shape.slice(0, 4).join(', ')}, … ${shape.length} dims]`;
}

const hex8 = (n: number): string => '0x' + (n >>> 0).toString(16).padStart(8, '0');

function describeMagic(magic: number): string {
  if (magic === IDX_MAGIC_IMAGES_U8) return 'uint8 images, 3 dims';
  if (magic === IDX_MAGIC_LABELS_U8) return 'uint8 labels, 1 dim';
  const code = DTYPE_CODES[(magic >>> 8) & 0xff];
  if ((magic >>> 16) === 0 && code) return `${code.dtype}, ${magic & 0xff} dims`;
  return 'not an IDX magic number';
}

/** True when the bytes start with the gzip magic 1f 8b. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Deflate's largest expansion: 258 bytes from 2 bits. */
export const MAX_DEFLATE_RATIO = 1032;
/** Compressed bytes inflated to find the header (at most 16 + 4·255 bytes of output). */
export const HEADER_PEEK = 4096;

/** The uncompressed size recorded in a gzip file's last 4 bytes (modulo 2^32). */
export function gzipTrailerSize(bytes: Uint8Array): number {
  const n = bytes.length;
  return (bytes[n - 4] | (bytes[n - 3] << 8) | (bytes[n - 2] << 16) | (bytes[n - 1] << 24)) >>> 0;
}

export interface IdxHeader {
  magic: number;
  dtype: IdxDtype;
  shape: number[];
  headerLen: number;
  /** Header plus payload, in bytes, as the header declares. */
  totalBytes: number;
}

/** Parse and check the header at the start of `bytes` (already inflated). */
export function headerOf(bytes: Uint8Array, name: string, expect: IdxExpect): IdxHeader {
  if (bytes.length < 4) {
    throw new IdxFormatError(name, `file too short for an IDX header (${bytes.length} bytes, need at least 4)`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, false);
  if (expect.magic !== undefined && magic !== expect.magic) {
    throw new IdxFormatError(
      name,
      `expected magic ${expect.magic} (${hex8(expect.magic)}, ${describeMagic(expect.magic)}), ` +
        `got ${magic} (${hex8(magic)}, ${describeMagic(magic)})`,
    );
  }
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw new IdxFormatError(name, `bad magic ${magic} (${hex8(magic)}): first two bytes must be zero`);
  }
  const code = DTYPE_CODES[bytes[2]];
  if (!code) {
    throw new IdxFormatError(name, `bad magic ${hex8(magic)}: unknown IDX data type code 0x${bytes[2].toString(16)}`);
  }
  const ndim = bytes[3];
  if (expect.dims && expect.dims.length !== ndim) {
    throw new IdxFormatError(name, `expected ${expect.dims.length} dimensions, header says ${ndim}`);
  }
  const headerLen = 4 + 4 * ndim;
  if (bytes.length < headerLen) {
    throw new IdxFormatError(name, `truncated header: ${ndim} dimensions need ${headerLen} bytes, file has ${bytes.length}`);
  }
  const shape: number[] = [];
  for (let i = 0; i < ndim; i++) shape.push(view.getUint32(4 + 4 * i, false));
  if (expect.dims) {
    for (let i = 0; i < ndim; i++) {
      const want = expect.dims[i];
      if (want !== null && want !== undefined && shape[i] !== want) {
        throw new IdxFormatError(name, `dimension ${i} is ${shape[i]}, expected ${want} (shape ${shapeText(shape)})`);
      }
    }
  }
  let count = 1;
  for (const d of shape) count *= d;
  return { magic, dtype: code.dtype, shape, headerLen, totalBytes: headerLen + count * code.size };
}

/**
 * The header of a .gz IDX input, read from its inflated first bytes (`prefix`), checked against
 * the real compressed size before any body is inflated: against the gzip trailer's uncompressed
 * size, and against what deflate can expand that many compressed bytes to at most.
 */
export function checkedGzipHeader(input: Uint8Array, prefix: Uint8Array, name: string, expect: IdxExpect): IdxHeader {
  const h = headerOf(prefix, name, expect);
  const shape = `${shapeText(h.shape)} of ${h.dtype}`;
  if (input.length < 18) throw new IdxFormatError(name, 'truncated .gz file (no gzip trailer)');
  const trailer = gzipTrailerSize(input);
  if (trailer !== h.totalBytes % 2 ** 32) {
    throw new IdxFormatError(name, `the IDX header declares ${shape} (${h.totalBytes} bytes) but the gzip trailer records ${trailer} bytes uncompressed; the file is truncated, corrupted or not one IDX file`);
  }
  if (h.totalBytes > input.length * MAX_DEFLATE_RATIO) {
    throw new IdxFormatError(name, `the IDX header declares ${shape} (${h.totalBytes} bytes), more than ${input.length} compressed bytes can hold; the file is corrupted`);
  }
  return h;
}

/** Decode the body of inflated IDX bytes whose header `h` was already checked. */
export function idxFromBytes(bytes: Uint8Array, h: IdxHeader, name: string): IdxArray {
  const payload = h.totalBytes - h.headerLen;
  const actual = bytes.length - h.headerLen;
  if (actual !== payload) {
    const kind = actual < payload ? 'truncated' : 'trailing bytes';
    throw new IdxFormatError(
      name,
      `${kind}: header shape ${shapeText(h.shape)} of ${h.dtype} needs ${payload} data bytes ` +
        `(${h.totalBytes} total), file has ${actual} (${bytes.length} total)`,
    );
  }
  const count = h.shape.reduce((a, b) => a * b, 1);
  return { dtype: h.dtype, shape: h.shape, data: decodePayload(bytes, h.headerLen, count, h.dtype) };
}

/**
 * Parse IDX bytes anywhere (browsers too): raw, or gzip inflated with the platform's
 * DecompressionStream, bounded as the Node reader is (header first, checked against the
 * compressed size; the body never inflated past what the header declares).
 */
export async function parseIdxAsync(input: Uint8Array, name = '<buffer>', expect: IdxExpect = {}): Promise<IdxArray> {
  if (!isGzip(input)) return idxFromBytes(input, headerOf(input, name, expect), name);
  if (typeof DecompressionStream === 'undefined') throw new IdxFormatError(name, 'gzip input, and this platform has no DecompressionStream to inflate it; decompress it first');
  const reader = new Blob([input as BlobPart]).stream().pipeThrough(new DecompressionStream('gzip')).getReader();
  const chunks: Uint8Array[] = [];
  let have = 0;
  let h: IdxHeader | null = null;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      have += value.length;
      if (!h && have >= Math.min(HEADER_PEEK, 4 + 4 * 255)) h = checkedGzipHeader(input, concat(chunks, have), name, expect);
      if (h && have > h.totalBytes) throw new IdxFormatError(name, `the .gz file decompresses to more than the ${h.totalBytes} bytes its IDX header declares; it is corrupted or not an IDX file`);
    }
  } catch (err) {
    if (err instanceof IdxFormatError) throw err;
    throw new IdxFormatError(name, `gzip decompression failed (truncated or corrupted .gz file): ${String((err as Error).message ?? err).slice(0, 200)}`);
  } finally {
    void reader.cancel().catch(() => undefined);
  }
  const bytes = concat(chunks, have);
  return idxFromBytes(bytes, h ?? checkedGzipHeader(input, bytes, name, expect), name);
}

function concat(chunks: readonly Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

export function decodePayload(bytes: Uint8Array, offset: number, count: number, dtype: IdxDtype): IdxTypedArray {
  if (dtype === 'uint8') return bytes.subarray(offset, offset + count);
  if (dtype === 'int8') return new Int8Array(bytes.buffer, bytes.byteOffset + offset, count);
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, bytes.byteLength - offset);
  switch (dtype) {
    case 'int16': {
      const out = new Int16Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt16(2 * i, false);
      return out;
    }
    case 'int32': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt32(4 * i, false);
      return out;
    }
    case 'float32': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, false);
      return out;
    }
    case 'float64': {
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(8 * i, false);
      return out;
    }
  }
}

function dtypeOf(data: IdxTypedArray): IdxDtype {
  if (data instanceof Uint8Array) return 'uint8';
  if (data instanceof Int8Array) return 'int8';
  if (data instanceof Int16Array) return 'int16';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Float32Array) return 'float32';
  return 'float64';
}

/** Encode an array as IDX bytes (uncompressed). The dtype follows the typed array's type. */
export function encodeIdx(data: IdxTypedArray, shape: number[]): Uint8Array {
  if (shape.length > 255) throw new Error(`encodeIdx: too many dimensions (${shape.length})`);
  let count = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0 || d > 0xffffffff) throw new Error(`encodeIdx: bad dimension ${d}`);
    count *= d;
  }
  if (count !== data.length) {
    throw new Error(`encodeIdx: shape [${shape.join(', ')}] has ${count} elements, data has ${data.length}`);
  }
  const dtype = dtypeOf(data);
  const size = DTYPE_CODES[DTYPE_TO_CODE[dtype]].size;
  const headerLen = 4 + 4 * shape.length;
  const out = new Uint8Array(headerLen + count * size);
  const view = new DataView(out.buffer);
  out[2] = DTYPE_TO_CODE[dtype];
  out[3] = shape.length;
  shape.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  switch (dtype) {
    case 'uint8':
      out.set(data as Uint8Array, headerLen);
      break;
    case 'int8':
      out.set(new Uint8Array(data.buffer, data.byteOffset, data.length), headerLen);
      break;
    case 'int16':
      for (let i = 0; i < count; i++) view.setInt16(headerLen + 2 * i, data[i], false);
      break;
    case 'int32':
      for (let i = 0; i < count; i++) view.setInt32(headerLen + 4 * i, data[i], false);
      break;
    case 'float32':
      for (let i = 0; i < count; i++) view.setFloat32(headerLen + 4 * i, data[i], false);
      break;
    case 'float64':
      for (let i = 0; i < count; i++) view.setFloat64(headerLen + 8 * i, data[i], false);
      break;
  }
  return out;
}

