/**
 * A seeded fuzzer for torchlet's two parsers of untrusted files, safetensors
 * and IDX (raw or gzip). Each case mutates a valid file (bit flips, special
 * bytes, truncation, extension, spliced chunks, rewritten length prefixes,
 * hostile JSON headers: huge or negative offsets and shapes, deep nesting,
 * forged gzip trailers) and runs the parser on it. Every outcome is one of:
 *   ok     the parser accepted it (a mutation can leave a valid file);
 *   clean  it threw the parser's own error, under 300 characters, naming the file;
 *   crash  anything else (a RangeError, a TypeError, a stack overflow, a long message).
 * The suite in npm test runs a few hundred cases per parser; `npm run fuzz`
 * runs many more and prints the figures.
 */
import { gzipSync } from 'node:zlib';
import { deserialize, SafetensorsError } from '../../src/io/safetensors.js';
import { encodeIdx, IdxFormatError, parseIdx } from '../../src/data/idx.js';
import { rng } from '../helpers/seeded.js';

export { rng };


type Rand = () => number;
const int = (r: Rand, n: number): number => Math.floor(r() * n);
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[int(r, xs.length)];

const DTYPES = [['F32', 4], ['F64', 8], ['I32', 4], ['I64', 8], ['U8', 1], ['F16', 2], ['BF16', 2]] as const;
const HOSTILE_NUMBERS = [-1, 0, 1, 2 ** 31, 2 ** 32 + 1, 2 ** 53, 1e300, -1e300, 0.5, Number.MAX_SAFE_INTEGER];

/** Deep nesting is spliced in as text: JSON.stringify itself recurses and would overflow the stack. */
const NESTED = '"__nested__"';
let nestDepth = 0;

function safetensorsFile(header: unknown, data: Uint8Array): Uint8Array {
  const text = JSON.stringify(header).replace(NESTED, `${'['.repeat(nestDepth)}1${']'.repeat(nestDepth)}`);
  const h = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

/** A valid safetensors file of a few small tensors, and its header object. */
function validSafetensors(r: Rand): { header: Record<string, unknown>; data: Uint8Array } {
  const header: Record<string, unknown> = {};
  let off = 0;
  const n = 1 + int(r, 4);
  for (let i = 0; i < n; i++) {
    const [dtype, size] = pick(r, DTYPES);
    const shape = Array.from({ length: int(r, 4) }, () => 1 + int(r, 5));
    const bytes = shape.reduce((a, b) => a * b, 1) * size;
    header[`t${i}`] = { dtype, shape, data_offsets: [off, off + bytes] };
    off += bytes;
  }
  if (r() < 0.5) header.__metadata__ = { format: 'pt', note: 'x'.repeat(int(r, 40)) };
  const data = new Uint8Array(off);
  for (let i = 0; i < off; i++) data[i] = int(r, 256);
  return { header, data };
}

function nested(depth: number): unknown {
  nestDepth = depth;
  return JSON.parse(NESTED);
}

function mutateBytes(r: Rand, input: Uint8Array): Uint8Array {
  let b: Uint8Array = Uint8Array.from(input);
  const rounds = 1 + int(r, 4);
  for (let k = 0; k < rounds; k++) {
    const m = int(r, 7);
    if (b.length === 0) b = new Uint8Array(int(r, 16));
    if (m === 0) b[int(r, b.length)] ^= 1 << int(r, 8);
    else if (m === 1) b[int(r, b.length)] = pick(r, [0, 0xff, 0x7f, 0x80, 0x22, 0x5b, 0x7b]);
    else if (m === 2) b = b.subarray(0, int(r, b.length));
    else if (m === 3) {
      const extra = new Uint8Array(1 + int(r, 64));
      for (let i = 0; i < extra.length; i++) extra[i] = int(r, 256);
      const c = new Uint8Array(b.length + extra.length);
      c.set(b);
      c.set(extra, b.length);
      b = c;
    } else if (m === 4 && b.length > 8) {
      // copy a chunk over another place
      const from = int(r, b.length);
      const len = Math.min(1 + int(r, 32), b.length - from);
      b.copyWithin(int(r, b.length), from, from + len);
    } else if (m === 5 && b.length >= 8) {
      new DataView(b.buffer, b.byteOffset).setUint32(int(r, 2) * 4, pick(r, [0, 1, 0xffffffff, 0x7fffffff, b.length, 2051, 2049]), r() < 0.5);
    } else b = b.subarray(int(r, Math.min(8, b.length)));
  }
  return b;
}

/** One hostile safetensors input. */
export function safetensorsCase(r: Rand): Uint8Array {
  const { header, data } = validSafetensors(r);
  const kind = int(r, 6);
  if (kind === 0) return mutateBytes(r, safetensorsFile(header, data));
  const h = JSON.parse(JSON.stringify(header)) as Record<string, Record<string, unknown>>;
  const key = pick(r, Object.keys(h).filter((k) => k !== '__metadata__'));
  const t = h[key];
  if (kind === 1) t.data_offsets = [pick(r, HOSTILE_NUMBERS), pick(r, HOSTILE_NUMBERS)];
  else if (kind === 2) t.shape = r() < 0.3 ? nested(1 + int(r, 5000)) : Array.from({ length: 1 + int(r, 8) }, () => pick(r, HOSTILE_NUMBERS));
  else if (kind === 3) t.dtype = pick(r, ['F32 ', 'f32', 'Q8', '', 7, null, ['F32']]);
  else if (kind === 4) h[`k${int(r, 9)}`] = r() < 0.5 ? (nested(int(r, 3000)) as Record<string, unknown>) : ({ dtype: 'F32', shape: [2], data_offsets: [0, 8], extra: 'x'.repeat(int(r, 5000)) } as Record<string, unknown>);
  else {
    const f = safetensorsFile(h, data);
    // a length prefix that lies
    new DataView(f.buffer).setBigUint64(0, BigInt(pick(r, [0, 1, f.length, f.length * 1000, 2 ** 40, 100_000_001])), true);
    return f;
  }
  return safetensorsFile(h, data);
}

/** One hostile IDX input, raw or gzip-compressed (mutated before or after compression). */
export function idxCase(r: Rand): Uint8Array {
  const dims = Array.from({ length: 1 + int(r, 3) }, () => 1 + int(r, 12));
  const n = dims.reduce((a, b) => a * b, 1);
  const data = new Uint8Array(n);
  for (let i = 0; i < n; i++) data[i] = int(r, 256);
  const raw = encodeIdx(data, dims);
  const kind = int(r, 5);
  if (kind === 0) return mutateBytes(r, raw);
  if (kind === 1) return Uint8Array.from(gzipSync(mutateBytes(r, raw)));
  if (kind === 2) return mutateBytes(r, Uint8Array.from(gzipSync(raw)));
  if (kind === 3) {
    // a bomb: a header declaring little, then much more data
    const head = raw.subarray(0, 4 + 4 * dims.length);
    const body = new Uint8Array(int(r, 4) * 2 ** 20 + int(r, 1000));
    const gz = Uint8Array.from(gzipSync(new Uint8Array([...head, ...body.subarray(0, 0)]).length ? Buffer.concat([head, body]) : head));
    if (r() < 0.5) new DataView(gz.buffer).setUint32(gz.length - 4, raw.length, true); // forge the trailer to match
    return gz;
  }
  // a header declaring a huge shape
  const h = Uint8Array.from(raw);
  new DataView(h.buffer).setUint32(4, pick(r, [0xffffffff, 2 ** 31, 60000, 0]), false);
  return r() < 0.5 ? Uint8Array.from(gzipSync(h)) : h;
}

export type Outcome = 'ok' | 'clean' | 'crash';

export interface CaseResult {
  outcome: Outcome;
  message?: string;
}

/** Run one parser on one input and classify the result. */
export function runCase(parser: 'safetensors' | 'idx', bytes: Uint8Array, name: string): CaseResult {
  try {
    if (parser === 'safetensors') deserialize(bytes, name);
    else parseIdx(bytes, name);
    return { outcome: 'ok' };
  } catch (err) {
    const e = err as Error;
    const own = parser === 'safetensors' ? e instanceof SafetensorsError : e instanceof IdxFormatError;
    const message = String(e?.message ?? e);
    if (own && message.length <= 300 && message.includes(name)) return { outcome: 'clean', message };
    return { outcome: 'crash', message: `${e?.name}: ${message.slice(0, 400)}` };
  }
}

export interface FuzzSummary {
  parser: string;
  cases: number;
  ok: number;
  clean: number;
  crashes: { seed: number; case: number; message: string }[];
  /** The largest RSS growth seen over one case, and that case's input size. */
  worstRssGrowth: number;
  worstInputBytes: number;
  largestInput: number;
}

export function fuzz(parser: 'safetensors' | 'idx', seed: number, cases: number): FuzzSummary {
  const r = rng(seed);
  const out: FuzzSummary = { parser, cases, ok: 0, clean: 0, crashes: [], worstRssGrowth: 0, worstInputBytes: 0, largestInput: 0 };
  for (let i = 0; i < cases; i++) {
    const bytes = parser === 'safetensors' ? safetensorsCase(r) : idxCase(r);
    out.largestInput = Math.max(out.largestInput, bytes.length);
    const before = process.memoryUsage().rss;
    const res = runCase(parser, bytes, `case-${i}.${parser === 'idx' ? 'idx' : 'safetensors'}`);
    const grew = process.memoryUsage().rss - before;
    if (grew > out.worstRssGrowth) {
      out.worstRssGrowth = grew;
      out.worstInputBytes = bytes.length;
    }
    if (res.outcome === 'ok') out.ok++;
    else if (res.outcome === 'clean') out.clean++;
    else out.crashes.push({ seed, case: i, message: res.message ?? '' });
  }
  return out;
}
