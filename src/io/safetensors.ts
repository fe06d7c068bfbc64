/**
 * The safetensors format (https://github.com/huggingface/safetensors), read
 * and written without dependencies:
 *
 *   [8 bytes: N, u64 little-endian]
 *   [N bytes: UTF-8 JSON header, padded with spaces to a multiple of 8]
 *   [data: every tensor's bytes, little-endian, contiguous, no holes]
 *
 * The header maps each tensor name to {dtype, shape, data_offsets: [begin, end]}
 * (offsets relative to the start of the data) and may carry a
 * `__metadata__` map of string to string.
 *
 * Writing follows the reference implementation byte for byte: tensors are laid
 * out by dtype (widest first, so every tensor stays aligned without padding),
 * then by name; the header is compact JSON with `__metadata__` first.
 * torchlet float32 tensors are written as F32 and int32 tensors (BatchNorm's
 * num_batches_tracked) as I64, PyTorch's dtype for them, so a checkpoint loads
 * into PyTorch with load_state_dict(strict=True) unchanged.
 *
 * Reading accepts F32, F64, F16, BF16 (converted to float32 tensors) and I64,
 * I32, U8 (int32 tensors; torchlet stores them in float32, exact below 2^24).
 * The tensors come back in file order (by data offset).
 */
import { Tensor, type DType } from '../tensor.js';

export type SafetensorsDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'U8';
export type Metadata = Record<string, string>;

export interface SafetensorsContent {
  /** Tensors in file order (by data offset). */
  tensors: Map<string, Tensor>;
  /** The header's `__metadata__`; empty when the file has none. */
  metadata: Metadata;
}

export interface TensorInfo {
  dtype: string;
  shape: number[];
  dataOffsets: [number, number];
}

/** The reference implementation refuses headers over 100 MB; so do we. */
export const MAX_HEADER_SIZE = 100_000_000;

const DTYPE_SIZE: Record<SafetensorsDType, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, U8: 1 };

/**
 * The reference's dtype order (its Rust enum): files are laid out by this,
 * descending, then by name. Includes dtypes we only recognise, for sorting.
 */
const DTYPE_RANK: Record<string, number> = {
  BOOL: 0, U8: 1, I8: 2, F8_E5M2: 3, F8_E4M3: 4, I16: 5, U16: 6, F16: 7, BF16: 8, I32: 9, U32: 10, F32: 11, F64: 12, I64: 13, U64: 14,
};

/** Raised for any malformed, truncated or unsupported safetensors input. */
export class SafetensorsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SafetensorsError';
  }
}

/** Tensor bytes are written as the host lays them out, so the host must be little-endian as the format is. */
export function checkHost(): void {
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new SafetensorsError('safetensors: only little-endian hosts are supported');
}

// ---------------------------------------------------------------- writing

export interface PlannedTensor {
  name: string;
  tensor: Tensor;
  dtype: 'F32' | 'I64';
  begin: number;
  end: number;
}

export function plan(tensors: ReadonlyMap<string, Tensor>, metadata: Metadata | undefined, where: string): { header: Uint8Array; entries: PlannedTensor[]; dataSize: number } {
  const entries: PlannedTensor[] = [];
  for (const [name, tensor] of tensors) {
    if (typeof name !== 'string' || name.length === 0) throw new SafetensorsError(`${where}: tensor names must be non-empty strings`);
    if (name === '__metadata__') throw new SafetensorsError(`${where}: '__metadata__' is reserved and cannot name a tensor`);
    if (!(tensor instanceof Tensor)) throw new SafetensorsError(`${where}: '${name}' is not a Tensor`);
    const dtype = tensor.dtype === 'int32' ? 'I64' : 'F32';
    entries.push({ name, tensor, dtype, begin: 0, end: 0 });
  }
  // The reference's layout: widest dtype first, then by name (byte order).
  entries.sort((a, b) => DTYPE_RANK[b.dtype] - DTYPE_RANK[a.dtype] || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  let offset = 0;
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new SafetensorsError(`${where}: metadata value for '${k}' must be a string, got ${typeof v}`);
    }
    header.__metadata__ = metadata;
  }
  for (const e of entries) {
    e.begin = offset;
    e.end = offset + e.tensor.numel() * DTYPE_SIZE[e.dtype];
    offset = e.end;
    header[e.name] = { dtype: e.dtype, shape: [...e.tensor.shape], data_offsets: [e.begin, e.end] };
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  // Pad with spaces so the data starts 8-byte aligned, as the reference does.
  const padded = new Uint8Array(json.length + ((8 - (json.length % 8)) % 8)).fill(0x20);
  padded.set(json);
  return { header: padded, entries, dataSize: offset };
}

/** The bytes of one tensor as stored (F32 shares the tensor's memory; I64 is converted). */
export function tensorBytes(e: PlannedTensor, where: string): Uint8Array {
  const src = e.tensor.hostView(`saving ${e.name}`);
  if (e.dtype === 'F32') return new Uint8Array(src.buffer, src.byteOffset, src.byteLength);
  const out = new BigInt64Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const v = src[i];
    if (!Number.isInteger(v)) throw new SafetensorsError(`${where}: int32 tensor '${e.name}' holds a non-integer value ${v} at ${i}`);
    out[i] = BigInt(v);
  }
  return new Uint8Array(out.buffer);
}

export function lengthPrefix(n: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n), true);
  return b;
}

/** The whole file in memory. */
export function serialize(tensors: ReadonlyMap<string, Tensor>, metadata?: Metadata): Uint8Array {
  checkHost();
  const where = 'safetensors.serialize';
  const { header, entries, dataSize } = plan(tensors, metadata, where);
  const out = new Uint8Array(8 + header.length + dataSize);
  out.set(lengthPrefix(header.length), 0);
  out.set(header, 8);
  const base = 8 + header.length;
  for (const e of entries) out.set(tensorBytes(e, where), base + e.begin);
  return out;
}

// ---------------------------------------------------------------- reading

/** Something bytes can be read from: a file or an in-memory buffer. */
export interface Source {
  label: string;
  size: number;
  /** Fill `into` with bytes [pos, pos + into.length). */
  read(pos: number, into: Uint8Array): void;
}

function memorySource(bytes: Uint8Array, label: string): Source {
  return {
    label,
    size: bytes.length,
    read(pos, into) {
      into.set(bytes.subarray(pos, pos + into.length));
    },
  };
}

export interface ParsedHeader {
  metadata: Metadata;
  /** Sorted by begin offset. */
  infos: Array<[string, TensorInfo]>;
  dataStart: number;
}

/** How deep a header may nest: a valid one needs 3 (object, tensor entry, shape array). */
export const MAX_HEADER_DEPTH = 64;
/** Longest message a parse error gives, so a hostile header cannot make a megabyte of error text. */
const MAX_MESSAGE = 300;

/** A value for an error message, cut to a readable length. */
function preview(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  const cut = text.length > 60 ? `${text.slice(0, 60)}… (${text.length} characters)` : text;
  return typeof value === 'string' ? `'${cut.slice(1, cut.endsWith('"') ? -1 : undefined)}'` : cut;
}

/** The deepest nesting of objects and arrays in JSON text, found without recursion (strings skipped). */
function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) {
      depth++;
      if (depth > max) max = depth;
    } else if (c === 125 || c === 93) depth--;
  }
  return max;
}

export function parseHeader(src: Source): ParsedHeader {
  const where = src.label;
  const fail = (msg: string): never => {
    const text = `${where}: ${msg}`;
    throw new SafetensorsError(text.length > MAX_MESSAGE ? `${text.slice(0, MAX_MESSAGE)}…` : text);
  };
  if (src.size < 8) fail(`truncated: ${src.size} bytes, too short for the 8-byte header length (not a safetensors file?)`);
  const prefix = new Uint8Array(8);
  src.read(0, prefix);
  const n64 = new DataView(prefix.buffer).getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER_SIZE)) fail(`corrupt: header length ${n64} exceeds the ${MAX_HEADER_SIZE}-byte limit (not a safetensors file?)`);
  const n = Number(n64);
  if (n < 2) fail(`corrupt: header length ${n} is too small for a JSON object`);
  if (8 + n > src.size) fail(`truncated: the header needs ${n} bytes but only ${src.size - 8} follow the length prefix`);
  const headerBytes = new Uint8Array(n);
  src.read(8, headerBytes);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    return fail('corrupt: the header is not valid UTF-8');
  }
  if (!text.startsWith('{')) fail(`corrupt: the header does not start with '{' (starts with ${JSON.stringify(text.slice(0, 16))})`);
  const depth = jsonDepth(text);
  if (depth > MAX_HEADER_DEPTH) fail(`corrupt: the header nests ${depth} levels deep (a safetensors header needs 3; the limit is ${MAX_HEADER_DEPTH})`);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return fail(`corrupt: the header is not valid JSON (${(err as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return fail('corrupt: the header is not a JSON object');
  const metadata: Metadata = {};
  const infos: Array<[string, TensorInfo]> = [];
  for (const [name, value] of Object.entries(raw as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('corrupt: __metadata__ is not an object');
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`corrupt: __metadata__ value for ${preview(k)} is not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    const info = value as Record<string, unknown> | null;
    if (typeof info !== 'object' || info === null) return fail(`corrupt: entry for tensor ${preview(name)} is not an object`);
    const { dtype, shape, data_offsets: offs } = info;
    if (typeof dtype !== 'string') fail(`corrupt: tensor ${preview(name)} has no dtype`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(`corrupt: tensor ${preview(name)} has an invalid shape ${preview(shape)}`);
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((d) => Number.isSafeInteger(d) && d >= 0) || offs[0] > offs[1]) {
      fail(`corrupt: tensor ${preview(name)} has invalid data_offsets ${preview(offs)}`);
    }
    infos.push([name, { dtype: dtype as string, shape: [...(shape as number[])], dataOffsets: [(offs as number[])[0], (offs as number[])[1]] }]);
  }
  infos.sort((a, b) => a[1].dataOffsets[0] - b[1].dataOffsets[0] || a[1].dataOffsets[1] - b[1].dataOffsets[1]);
  let expected = 0;
  for (const [name, info] of infos) {
    const [begin, end] = info.dataOffsets;
    if (begin !== expected) {
      fail(`corrupt: tensor '${name}' data_offsets [${begin}, ${end}] ${begin < expected ? 'overlap the previous tensor' : 'leave a gap after the previous tensor'} (expected it to start at ${expected})`);
    }
    const size = DTYPE_SIZE[info.dtype as SafetensorsDType];
    if (size === undefined) fail(`tensor '${name}' has unsupported dtype '${info.dtype}' (supported: ${Object.keys(DTYPE_SIZE).join(', ')})`);
    const count = info.shape.reduce((p, d) => p * d, 1);
    if (end - begin !== count * size) {
      fail(`corrupt: tensor '${name}' (${info.dtype} [${info.shape.join(',')}]) needs ${count * size} bytes but its data_offsets [${begin}, ${end}] span ${end - begin}`);
    }
    expected = end;
  }
  const dataStart = 8 + n;
  const have = src.size - dataStart;
  if (have < expected) fail(`truncated: the tensors need ${expected} data bytes but only ${have} follow the header`);
  if (have > expected) fail(`corrupt: ${have - expected} unexpected bytes after the last tensor (the header accounts for ${expected} of ${have} data bytes)`);
  return { metadata, infos, dataStart };
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** Decode one tensor's bytes (`raw` owns an aligned buffer of exactly its bytes). */
function decode(name: string, info: TensorInfo, raw: Uint8Array, where: string): Tensor {
  const count = info.shape.reduce((p, d) => p * d, 1);
  const buf = raw.buffer as ArrayBuffer;
  let data: Float32Array;
  let dtype: DType = 'float32';
  switch (info.dtype as SafetensorsDType) {
    case 'F32':
      data = new Float32Array(buf, raw.byteOffset, count);
      break;
    case 'F64':
      data = Float32Array.from(new Float64Array(buf, raw.byteOffset, count));
      break;
    case 'F16': {
      const h = new Uint16Array(buf, raw.byteOffset, count);
      data = new Float32Array(count);
      for (let i = 0; i < count; i++) data[i] = halfToFloat(h[i]);
      break;
    }
    case 'BF16': {
      const h = new Uint16Array(buf, raw.byteOffset, count);
      const bits = new Uint32Array(count);
      for (let i = 0; i < count; i++) bits[i] = h[i] << 16;
      data = new Float32Array(bits.buffer);
      break;
    }
    case 'I64': {
      const v = new BigInt64Array(buf, raw.byteOffset, count);
      data = new Float32Array(count);
      for (let i = 0; i < count; i++) {
        const x = v[i];
        if (x > 2147483647n || x < -2147483648n) throw new SafetensorsError(`${where}: I64 tensor '${name}' holds ${x} at ${i}, outside the int32 range of torchlet's integer tensors`);
        data[i] = Number(x);
      }
      dtype = 'int32';
      break;
    }
    case 'I32':
      data = Float32Array.from(new Int32Array(buf, raw.byteOffset, count));
      dtype = 'int32';
      break;
    case 'U8':
      data = Float32Array.from(raw.subarray(0, count));
      dtype = 'int32';
      break;
    default:
      throw new SafetensorsError(`${where}: tensor '${name}' has unsupported dtype '${info.dtype}'`);
  }
  return new Tensor(data, info.shape, { dtype });
}

export function readAll(src: Source): SafetensorsContent {
  checkHost();
  const { metadata, infos, dataStart } = parseHeader(src);
  const tensors = new Map<string, Tensor>();
  for (const [name, info] of infos) {
    const [begin, end] = info.dataOffsets;
    // A fresh buffer per tensor: aligned for typed-array views, and owned by the tensor alone.
    const raw = new Uint8Array(end - begin);
    src.read(dataStart + begin, raw);
    tensors.set(name, decode(name, info, raw, src.label));
  }
  return { tensors, metadata };
}

/** Parse a whole safetensors file held in memory. */
export function deserialize(bytes: Uint8Array, label = 'safetensors.deserialize'): SafetensorsContent {
  return readAll(memorySource(bytes, label));
}

