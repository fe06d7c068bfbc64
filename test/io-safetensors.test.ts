/** torchlet.io safetensors: format, dtypes, metadata, errors, atomic writes, module checkpoints. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Tensor } from '../src/tensor.js';
import { manualSeed, noGrad, rand } from '../src/index.js';
import { createModel } from '../src/models/index.js';
import {
  deserialize, loadModel, loadSafetensors, readSafetensorsHeader, saveModel, saveSafetensors, serialize, SafetensorsError,
} from '../src/io/index.js';

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(path.join(tmpdir(), 'torchlet-io-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function t(values: number[], shape: number[], dtype: 'float32' | 'int32' = 'float32'): Tensor {
  return new Tensor(Float32Array.from(values), shape, { dtype });
}

/** A file from a header object and raw data bytes, padded as the reference pads. */
function craft(header: unknown, data: Uint8Array = new Uint8Array(0), pad = true): Uint8Array {
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  if (pad) json = Buffer.concat([json, Buffer.alloc((8 - (json.length % 8)) % 8, 0x20)]);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function headerOf(bytes: Uint8Array): { n: number; text: string } {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return { n, text: Buffer.from(bytes.subarray(8, 8 + n)).toString('utf8') };
}

test('round trip in memory: shapes, values, dtypes, order by data offset', () => {
  const tensors = new Map<string, Tensor>([
    ['w', t([1.5, -2, 3.25, Number.NaN, Infinity, -0], [2, 3])],
    ['scalar', t([7], [])],
    ['empty', t([], [0, 4])],
    ['bn.num_batches_tracked', t([42], [], 'int32')],
  ]);
  const { tensors: back, metadata } = deserialize(serialize(tensors));
  assert.deepEqual(metadata, {});
  assert.deepEqual(new Set(back.keys()), new Set(tensors.keys()));
  for (const [k, v] of tensors) {
    const b = back.get(k) as Tensor;
    assert.deepEqual([...b.shape], [...v.shape], k);
    assert.equal(b.dtype, v.dtype, k);
    assert.deepEqual([...b.hostView()], [...v.hostView()], k);
  }
  assert.ok(Object.is(back.get('w')?.hostView()[5], -0), 'negative zero survives');
  // The reference layout: widest dtype first (I64 before F32), then names in byte order.
  assert.deepEqual([...back.keys()], ['bn.num_batches_tracked', 'empty', 'scalar', 'w']);
});

test('byte layout matches the reference implementation: compact JSON, __metadata__ first, space padding to 8', () => {
  const bytes = serialize(new Map([['b', t([1, 2], [2])], ['a', t([3], [1, 1])]]), { format: 'pt' });
  const { n, text } = headerOf(bytes);
  const expectedJson = '{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[1,1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}';
  assert.equal(n % 8, 0, 'header length is a multiple of 8');
  assert.equal(text.trimEnd(), expectedJson);
  assert.equal(text, expectedJson + ' '.repeat(n - expectedJson.length), 'padded with spaces');
  assert.equal(bytes.length, 8 + n + 12);
  const data = new Float32Array(bytes.slice(8 + n).buffer);
  assert.deepEqual([...data], [3, 1, 2]);
});

test('tensors stay aligned: every data offset is a multiple of its dtype size', () => {
  const tensors = new Map<string, Tensor>([
    ['a', t([1, 2, 3], [3])],
    ['x.num_batches_tracked', t([5], [], 'int32')],
    ['y.num_batches_tracked', t([6], [], 'int32')],
    ['z', t([4], [1])],
  ]);
  const bytes = serialize(tensors);
  const { n, text } = headerOf(bytes);
  const header = JSON.parse(text) as Record<string, { dtype: string; data_offsets: [number, number] }>;
  assert.equal((8 + n) % 8, 0, 'data starts 8-byte aligned');
  for (const [k, info] of Object.entries(header)) {
    const size = info.dtype === 'I64' ? 8 : 4;
    assert.equal(info.data_offsets[0] % size, 0, `${k} aligned`);
  }
  assert.equal(header['x.num_batches_tracked'].dtype, 'I64');
});

test('int32 tensors are written as I64 little-endian (num_batches_tracked, as PyTorch stores it)', () => {
  const bytes = serialize(new Map([['bn.num_batches_tracked', t([3], [], 'int32')], ['labels', t([-1, 16777216], [2], 'int32')]]));
  const { n, text } = headerOf(bytes);
  const header = JSON.parse(text) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  assert.deepEqual(header['bn.num_batches_tracked'], { dtype: 'I64', shape: [], data_offsets: [0, 8] });
  assert.deepEqual(header.labels, { dtype: 'I64', shape: [2], data_offsets: [8, 24] });
  const ints = new BigInt64Array(bytes.slice(8 + n).buffer);
  assert.deepEqual([...ints], [3n, -1n, 16777216n]);
  assert.throws(() => serialize(new Map([['bad', t([1.5], [1], 'int32')]])), /non-integer value 1.5/);
});

test('reading F64, F16, BF16 as float32 and I64, I32, U8 as int32 tensors', () => {
  const f64 = new Float64Array([0.1, -2.5]);
  const f16 = new Uint16Array([0x3c00, 0xc000, 0x3555, 0x0001, 0x7c00, 0xfc00, 0x7e00]); // 1, -2, 0.333, 2^-24, inf, -inf, nan
  const bf16 = new Uint16Array([0x3f80, 0xc0a0]); // 1, -5
  const i64 = new BigInt64Array([-3n, 1n << 20n]);
  const i32 = new Int32Array([-7, 9]);
  const u8 = new Uint8Array([0, 255, 1]);
  const parts: Array<[string, string, number[], ArrayBufferView]> = [
    ['f64', 'F64', [2], f64], ['i64', 'I64', [2], i64], ['i32', 'I32', [2], i32],
    ['f16', 'F16', [7], f16], ['bf16', 'BF16', [2], bf16], ['u8', 'U8', [3], u8],
  ];
  const header: Record<string, unknown> = {};
  const chunks: Uint8Array[] = [];
  let off = 0;
  for (const [name, dtype, shape, arr] of parts) {
    header[name] = { dtype, shape, data_offsets: [off, off + arr.byteLength] };
    chunks.push(new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength));
    off += arr.byteLength;
  }
  const { tensors } = deserialize(craft(header, Buffer.concat(chunks)));
  const get = (k: string) => tensors.get(k) as Tensor;
  assert.deepEqual([...get('f64').hostView()], [Math.fround(0.1), -2.5]);
  assert.equal(get('f64').dtype, 'float32');
  const h = [...get('f16').hostView()];
  assert.deepEqual(h.slice(0, 2), [1, -2]);
  assert.ok(Math.abs(h[2] - 0.333251953125) < 1e-9);
  assert.equal(h[3], 2 ** -24);
  assert.deepEqual(h.slice(4, 6), [Infinity, -Infinity]);
  assert.ok(Number.isNaN(h[6]));
  assert.deepEqual([...get('bf16').hostView()], [1, -5]);
  for (const [k, v] of [['i64', [-3, 1 << 20]], ['i32', [-7, 9]], ['u8', [0, 255, 1]]] as const) {
    assert.equal(get(k).dtype, 'int32', k);
    assert.deepEqual([...get(k).hostView()], v, k);
  }
});

test('I64 values outside the int32 range are refused', () => {
  const data = new BigInt64Array([1n << 40n]);
  const bytes = craft({ big: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, new Uint8Array(data.buffer));
  assert.throws(() => deserialize(bytes, 'big.safetensors'), /big\.safetensors: I64 tensor 'big' holds 1099511627776 at 0, outside the int32 range/);
});

test('metadata: round trip, absent means {}, values must be strings, name __metadata__ is reserved', () => {
  const meta = { format: 'pt', note: 'ünïcödé ✓', empty: '' };
  assert.deepEqual(deserialize(serialize(new Map([['a', t([1], [1])]]), meta)).metadata, meta);
  assert.deepEqual(deserialize(serialize(new Map(), meta)).metadata, meta, 'metadata-only file');
  assert.deepEqual(deserialize(serialize(new Map())).tensors.size, 0);
  assert.throws(() => serialize(new Map(), { n: 1 as unknown as string }), /metadata value for 'n' must be a string/);
  assert.throws(() => serialize(new Map([['__metadata__', t([1], [1])]])), /reserved/);
  assert.throws(() => deserialize(craft({ __metadata__: { a: 1 } })), /__metadata__ value for 'a' is not a string/);
});

test('files without header padding (other writers) still load', () => {
  const data = new Float32Array([1, 2, 3]);
  const bytes = craft({ x: { dtype: 'F32', shape: [3], data_offsets: [0, 12] } }, new Uint8Array(data.buffer), false);
  assert.notEqual((bytes.length - 12) % 4, 0, 'data deliberately misaligned');
  assert.deepEqual([...(deserialize(bytes).tensors.get('x') as Tensor).hostView()], [1, 2, 3]);
});

test('corrupt and truncated files fail with the file name and the problem', () => {
  withDir((dir) => {
    const good = serialize(new Map([['a', t([1, 2, 3, 4], [2, 2])], ['b', t([5], [1])]]), { format: 'pt' });
    const f32 = (n: number) => new Uint8Array(new Float32Array(n).buffer);
    const cases: Array<[string, Uint8Array, RegExp]> = [
      ['tiny', good.slice(0, 5), /truncated: 5 bytes, too short for the 8-byte header length/],
      ['cut-header', good.slice(0, 20), /truncated: the header needs \d+ bytes but only 12 follow/],
      ['cut-data', good.slice(0, good.length - 3), /truncated: the tensors need 20 data bytes but only 17 follow the header/],
      ['trailing', Buffer.concat([good, Buffer.from([0, 0, 0, 0])]), /corrupt: 4 unexpected bytes after the last tensor/],
      ['huge-n', (() => { const b = good.slice(); new DataView(b.buffer).setBigUint64(0, 1n << 40n, true); return b; })(), /corrupt: header length 1099511627776 exceeds/],
      ['not-json', craft('x') .fill(0x7b, 8, 9), /corrupt: the header is not valid JSON/],
      ['not-object', craft([1, 2]), /the header does not start with '\{'/],
      ['no-dtype', craft({ a: { shape: [1], data_offsets: [0, 4] } }, f32(1)), /tensor 'a' has no dtype/],
      ['bad-shape', craft({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, f32(1)), /tensor 'a' has an invalid shape \[-1\]/],
      ['bad-offsets', craft({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 0] } }, f32(1)), /tensor 'a' has invalid data_offsets \[4,0\]/],
      ['dtype', craft({ a: { dtype: 'C64', shape: [1], data_offsets: [0, 8] } }, f32(2)), /tensor 'a' has unsupported dtype 'C64'/],
      ['size', craft({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 4] } }, f32(1)), /tensor 'a' \(F32 \[2\]\) needs 8 bytes but its data_offsets \[0, 4\] span 4/],
      ['gap', craft({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, f32(2)), /tensor 'a' data_offsets \[4, 8\] leave a gap/],
      ['overlap', craft({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, f32(2)), /overlap the previous tensor/],
      ['utf8', (() => { const b = craft({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, f32(1)); b[10] = 0xff; return b; })(), /not valid UTF-8/],
    ];
    for (const [name, bytes, re] of cases) {
      const file = path.join(dir, `${name}.safetensors`);
      writeFileSync(file, bytes);
      assert.throws(() => loadSafetensors(file), (err: Error) => {
        assert.ok(err instanceof SafetensorsError, `${name}: ${err}`);
        assert.ok(err.message.includes(file), `${name}: message names the file: ${err.message}`);
        assert.match(err.message, re, name);
        return true;
      }, name);
      assert.throws(() => deserialize(bytes), re, `${name} (in memory)`);
    }
    assert.throws(() => loadSafetensors(path.join(dir, 'missing.safetensors')), /cannot open .*missing\.safetensors/);
  });
});

test('saveSafetensors / loadSafetensors / readSafetensorsHeader on disk', () => {
  withDir((dir) => {
    const file = path.join(dir, 'm.safetensors');
    const w = rand([3, 5]);
    saveSafetensors(file, new Map([['w', w], ['n', t([2], [], 'int32')]]), { epoch: '3' });
    assert.deepEqual(readFileSync(file), Buffer.from(serialize(new Map([['w', w], ['n', t([2], [], 'int32')]]), { epoch: '3' })), 'same bytes as serialize');
    const { tensors, metadata } = loadSafetensors(file);
    assert.deepEqual(metadata, { epoch: '3' });
    assert.deepEqual([...(tensors.get('w') as Tensor).hostView()], [...w.hostView()]);
    const head = readSafetensorsHeader(file);
    assert.deepEqual([...head.tensors.keys()], ['n', 'w']);
    assert.deepEqual(head.tensors.get('w'), { dtype: 'F32', shape: [3, 5], dataOffsets: [8, 68] });
    assert.deepEqual(readdirSync(dir), ['m.safetensors'], 'no temporary files left behind');
  });
});

/** A tensor whose data cannot be read: writing it fails half-way through the file. */
class Unreadable extends Tensor {
  override hostView(): Float32Array {
    throw new Error('simulated I/O failure');
  }
}

test('atomic write: a failure half-way leaves the old file intact and no temporary file', () => {
  withDir((dir) => {
    const file = path.join(dir, 'ckpt.safetensors');
    saveSafetensors(file, new Map([['a', t([1, 2], [2])]]), { version: 'old' });
    const before = readFileSync(file);
    const big = rand([1000, 100]);
    const failing = new Map<string, Tensor>([['a', big], ['b', big], ['z', new Unreadable(new Float32Array(4), [4])]]);
    assert.throws(() => saveSafetensors(file, failing, { version: 'new' }), /simulated I\/O failure/);
    assert.deepEqual(readFileSync(file), before, 'target unchanged');
    assert.deepEqual(readdirSync(dir), ['ckpt.safetensors'], 'temporary file removed');
    assert.deepEqual(loadSafetensors(file).metadata, { version: 'old' });
    // A successful save replaces it whole.
    saveSafetensors(file, new Map([['a', big]]), { version: 'new' });
    assert.deepEqual(loadSafetensors(file).metadata, { version: 'new' });
    assert.deepEqual(readdirSync(dir), ['ckpt.safetensors']);
  });
});

test('atomic write: an unwritable directory is a clear error and leaves nothing', () => {
  withDir((dir) => {
    const file = path.join(dir, 'no', 'such', 'dir', 'x.safetensors');
    assert.throws(() => saveSafetensors(file, new Map([['a', t([1], [1])]])), (err: Error) => err instanceof SafetensorsError && /cannot create a temporary file in .*no\/such\/dir/.test(err.message));
    assert.deepEqual(readdirSync(dir), []);
  });
});

test('saveModel / loadModel: a BatchNorm network round-trips, running stats and num_batches_tracked included', () => {
  withDir((dir) => {
    const file = path.join(dir, 'lenet-bn.safetensors');
    manualSeed(7);
    const a = createModel('lenet-bn');
    a.train();
    a.forward(rand([4, 1, 28, 28]));
    a.forward(rand([4, 1, 28, 28]));
    saveModel(a, file, { model: 'lenet-bn' });
    const header = readSafetensorsHeader(file);
    assert.deepEqual([...header.tensors.keys()].sort(), [...a.stateDict().keys()].sort());
    assert.equal(header.tensors.get('1.num_batches_tracked')?.dtype, 'I64');
    const b = createModel('lenet-bn');
    const res = loadModel(b, file);
    assert.deepEqual(res, { missingKeys: [], unexpectedKeys: [], metadata: { model: 'lenet-bn' } });
    for (const [k, v] of a.stateDict()) {
      const w = b.stateDict().get(k) as Tensor;
      assert.equal(w.dtype, v.dtype, k);
      assert.deepEqual([...w.hostView()], [...v.hostView()], k);
    }
    assert.equal(b.stateDict().get('1.num_batches_tracked')?.itemSync(), 2);
    const x = rand([2, 1, 28, 28]);
    a.eval();
    b.eval();
    // Same function (not bit-equal: the native backend may round a first call differently).
    const ya = noGrad(() => a.forward(x)).hostView();
    const yb = noGrad(() => b.forward(x)).hostView();
    ya.forEach((v, i) => assert.ok(Math.abs(v - yb[i]) <= 1e-6 * (1 + Math.abs(v)), `logit ${i}: ${yb[i]} vs ${v}`));
  });
});

test('loadModel into the wrong architecture names the file and the keys', () => {
  withDir((dir) => {
    const file = path.join(dir, 'lenet.safetensors');
    saveModel(createModel('lenet'), file);
    assert.throws(() => loadModel(createModel('lenet-bn'), file), (err: Error) => {
      assert.match(err.message, /loadModel\(.*lenet\.safetensors\)/);
      assert.match(err.message, /missing keys: .*1\.running_mean/);
      assert.match(err.message, /unexpected keys: .*8\.weight/);
      return true;
    });
  });
});

/** A safetensors file whose header is the given text (and no data). */
function withHeader(header: string): Uint8Array {
  const json = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + json.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

test('hostile headers: deep nesting and huge values give short errors that name the source', () => {
  const deep = `{"w":{"dtype":"F32","shape":${'['.repeat(5000)}${']'.repeat(5000)},"data_offsets":[0,0]}}`;
  assert.throws(() => deserialize(withHeader(deep), 'deep.safetensors'), (err: Error) => {
    assert.ok(err instanceof SafetensorsError, `a SafetensorsError, not ${err.name}`);
    assert.match(err.message, /^deep\.safetensors: corrupt: the header nests 5002 levels deep \(a safetensors header needs 3; the limit is 64\)$/);
    return true;
  });
  const wide = `{"w":{"dtype":"F32","shape":[${new Array(200000).fill('-1').join(',')}],"data_offsets":[0,0]}}`;
  assert.throws(() => deserialize(withHeader(wide), 'wide.safetensors'), (err: Error) => {
    assert.match(err.message, /^wide\.safetensors: corrupt: tensor 'w' has an invalid shape \[-1,-1,.*… \(600001 characters\)$/);
    assert.ok(err.message.length < 200, `message of ${err.message.length} characters`);
    return true;
  });
  const longName = `{"${'n'.repeat(1_000_000)}":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`;
  assert.throws(() => deserialize(withHeader(longName), 'name.safetensors'), (err: Error) => {
    assert.match(err.message, /^name\.safetensors: truncated: the tensors need 4 data bytes/);
    assert.ok(err.message.length <= 301, `message of ${err.message.length} characters`);
    return true;
  });
  assert.throws(() => deserialize(withHeader('{"a":"[[[[\\"]]"}'), 'str.safetensors'), /str\.safetensors: corrupt: entry for tensor 'a' is not an object/, 'brackets inside strings do not count as nesting');
});
