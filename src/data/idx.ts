/**
 * IDX file format (the MNIST / Fashion-MNIST container), raw or gzip-compressed.
 *
 * Layout (all integers big-endian):
 *   magic: 0x00 0x00 <dtype> <ndim>
 *   ndim x uint32 dimension sizes
 *   payload: prod(dims) elements of <dtype>, big-endian, row-major
 *
 * The reader detects gzip by its magic bytes (1f 8b), not by the file name, and
 * checks magic, dimensions and payload length, naming the file in every error.
 *
 * Hostile input is bounded. A .gz file's header is inflated from the first
 * compressed bytes alone, and the size it declares is checked against the real
 * file: against the gzip trailer's uncompressed size, and against what deflate
 * can expand that many compressed bytes to at most (1032:1). Only then is the
 * body inflated, and never past the declared size. A gzip bomb is refused
 * before its body is inflated.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { constants as zlibConstants, gunzipSync, gzipSync } from 'node:zlib';

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
function shapeText(shape: readonly number[]): string {
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
const MAX_DEFLATE_RATIO = 1032;
/** Compressed bytes inflated to find the header (at most 16 + 4·255 bytes of output). */
const HEADER_PEEK = 4096;

/** The start of a gzip member's output, from its first compressed bytes only (never the whole body). */
function gunzipPrefix(bytes: Uint8Array, name: string): Uint8Array {
  try {
    const out = gunzipSync(bytes.subarray(0, Math.min(bytes.length, HEADER_PEEK)), {
      finishFlush: zlibConstants.Z_SYNC_FLUSH,
      maxOutputLength: HEADER_PEEK * MAX_DEFLATE_RATIO,
    });
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new IdxFormatError(name, `gzip decompression failed (truncated or corrupted .gz file): ${why.slice(0, 200)}`);
  }
}

/** The uncompressed size recorded in a gzip file's last 4 bytes (modulo 2^32). */
function gzipTrailerSize(bytes: Uint8Array): number {
  const n = bytes.length;
  return (bytes[n - 4] | (bytes[n - 3] << 8) | (bytes[n - 2] << 16) | (bytes[n - 1] << 24)) >>> 0;
}

/** Decompress if gzip (detected by magic), else return the input unchanged; never more than `maxBytes` of output. */
export function maybeGunzip(bytes: Uint8Array, name: string, maxBytes = 2 ** 31 - 1): Uint8Array {
  if (!isGzip(bytes)) return bytes;
  try {
    const out = gunzipSync(bytes, { maxOutputLength: Math.max(1, maxBytes) });
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    if (err instanceof RangeError || /larger than|maxOutputLength|buffer/i.test(why)) {
      throw new IdxFormatError(name, `the .gz file decompresses to more than the ${maxBytes} bytes its IDX header declares; it is corrupted or not an IDX file`);
    }
    throw new IdxFormatError(name, `gzip decompression failed (truncated or corrupted .gz file): ${why.slice(0, 200)}`);
  }
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
function headerOf(bytes: Uint8Array, name: string, expect: IdxExpect): IdxHeader {
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
 * The header of an IDX buffer (raw or gzip), checked against the real size of the input before
 * any body is inflated: what a hostile file claims cannot make the reader allocate more than the
 * file could really hold.
 */
export function readIdxHeader(input: Uint8Array, name = '<buffer>', expect: IdxExpect = {}): IdxHeader {
  if (!isGzip(input)) return headerOf(input, name, expect);
  const h = headerOf(gunzipPrefix(input, name), name, expect);
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

/**
 * Parse an IDX buffer (raw or gzip). `name` is used in error messages.
 * For uint8 data the returned array is a view over the (decompressed) buffer.
 */
export function parseIdx(input: Uint8Array, name = '<buffer>', expect: IdxExpect = {}): IdxArray {
  // The header first, checked against the real input; then the body, never inflated past what it declares.
  const declared = readIdxHeader(input, name, expect);
  const bytes = maybeGunzip(input, name, declared.totalBytes);
  // The header was read from these bytes' first part (inflated on its own for a .gz file).
  const h = declared;
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

function decodePayload(bytes: Uint8Array, offset: number, count: number, dtype: IdxDtype): IdxTypedArray {
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

/** A file's bytes, as the IDX readers take them; a read failure names the file. */
export function readIdxBytes(path: string): Uint8Array {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new IdxFormatError(path, `cannot read file: ${why}`);
  }
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** Read and parse an IDX file (raw or .gz; gzip detected by content). */
export function readIdxFile(path: string, expect: IdxExpect = {}): IdxArray {
  return parseIdx(readIdxBytes(path), path, expect);
}

export interface IdxImages {
  /** uint8 pixels, row-major [count, rows, cols]. */
  data: Uint8Array;
  count: number;
  rows: number;
  cols: number;
}

/** Read a uint8 image file (magic 2051). `rows`/`cols`, when given, are checked. */
export function readIdxImages(path: string, rows?: number, cols?: number): IdxImages {
  const arr = readIdxFile(path, { magic: IDX_MAGIC_IMAGES_U8, dims: [null, rows ?? null, cols ?? null] });
  return { data: arr.data as Uint8Array, count: arr.shape[0], rows: arr.shape[1], cols: arr.shape[2] };
}

/** Read a uint8 label file (magic 2049). */
export function readIdxLabels(path: string): Uint8Array {
  return readIdxFile(path, { magic: IDX_MAGIC_LABELS_U8, dims: [null] }).data as Uint8Array;
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

/** Write an IDX file; gzip-compressed when `gzip` is true (default: when the path ends in .gz). */
export function writeIdxFile(path: string, data: IdxTypedArray, shape: number[], options: { gzip?: boolean } = {}): void {
  const raw = encodeIdx(data, shape);
  const gz = options.gzip ?? path.endsWith('.gz');
  writeFileSync(path, gz ? gzipSync(raw) : raw);
}
