/**
 * IDX files in Node: reading (raw or gzip-compressed) and writing, with zlib.
 * The format's checks, decoding and encoding are in idx-bytes.ts (core).
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
import {
  HEADER_PEEK, IDX_MAGIC_IMAGES_U8, IDX_MAGIC_LABELS_U8, IdxFormatError, MAX_DEFLATE_RATIO, checkedGzipHeader, encodeIdx, headerOf,
  idxFromBytes, isGzip, type IdxArray, type IdxExpect, type IdxHeader, type IdxTypedArray,
} from './idx-bytes.js';

export {
  IDX_MAGIC_IMAGES_U8, IDX_MAGIC_LABELS_U8, IdxFormatError, encodeIdx, isGzip, parseIdxAsync,
  type IdxArray, type IdxDtype, type IdxExpect, type IdxHeader, type IdxTypedArray,
} from './idx-bytes.js';

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

/**
 * The header of an IDX buffer (raw or gzip), checked against the real size of the input before
 * any body is inflated: what a hostile file claims cannot make the reader allocate more than the
 * file could really hold.
 */
export function readIdxHeader(input: Uint8Array, name = '<buffer>', expect: IdxExpect = {}): IdxHeader {
  if (!isGzip(input)) return headerOf(input, name, expect);
  return checkedGzipHeader(input, gunzipPrefix(input, name), name, expect);
}

/**
 * Parse an IDX buffer (raw or gzip). `name` is used in error messages.
 * For uint8 data the returned array is a view over the (decompressed) buffer.
 */
export function parseIdx(input: Uint8Array, name = '<buffer>', expect: IdxExpect = {}): IdxArray {
  // The header first, checked against the real input; then the body, never inflated past what it declares.
  const declared = readIdxHeader(input, name, expect);
  return idxFromBytes(maybeGunzip(input, name, declared.totalBytes), declared, name);
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

/** Write an IDX file; gzip-compressed when `gzip` is true (default: when the path ends in .gz). */
export function writeIdxFile(path: string, data: IdxTypedArray, shape: number[], options: { gzip?: boolean } = {}): void {
  const raw = encodeIdx(data, shape);
  const gz = options.gzip ?? path.endsWith('.gz');
  writeFileSync(path, gz ? gzipSync(raw) : raw);
}
