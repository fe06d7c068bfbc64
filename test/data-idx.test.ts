import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import {
  IDX_MAGIC_IMAGES_U8,
  IDX_MAGIC_LABELS_U8,
  IdxFormatError,
  encodeIdx,
  isGzip,
  parseIdx,
  parseIdxAsync,
  readIdxFile,
  readIdxImages,
  readIdxLabels,
  writeIdxFile,
} from '../src/data/idx.js';

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'torchlet-idx-'));
}

function pixels(n: number): Uint8Array {
  const a = new Uint8Array(n);
  for (let i = 0; i < n; i++) a[i] = (i * 37 + 11) & 0xff;
  return a;
}

test('idx: uint8 images and labels round trip, raw and gzip', () => {
  const dir = tmp();
  try {
    const img = pixels(3 * 28 * 28);
    const lab = new Uint8Array([3, 0, 9]);
    for (const gz of [false, true]) {
      const ip = join(dir, `images${gz ? '.gz' : ''}`);
      const lp = join(dir, `labels${gz ? '.gz' : ''}`);
      writeIdxFile(ip, img, [3, 28, 28]);
      writeIdxFile(lp, lab, [3]);
      assert.equal(isGzip(readFileSync(ip)), gz);
      const r = readIdxImages(ip, 28, 28);
      assert.deepEqual([r.count, r.rows, r.cols], [3, 28, 28]);
      assert.deepEqual(r.data, img);
      assert.deepEqual(readIdxLabels(lp), lab);
    }
    // gzip is detected by content, not by name
    const odd = join(dir, 'compressed-but-no-suffix');
    writeIdxFile(odd, lab, [3], { gzip: true });
    assert.deepEqual(readIdxLabels(odd), lab);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('idx: header layout is big-endian with the standard magic numbers', () => {
  const bytes = encodeIdx(new Uint8Array(2 * 3 * 4), [2, 3, 4]);
  assert.deepEqual([...bytes.subarray(0, 16)], [0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4]);
  assert.equal(new DataView(bytes.buffer).getUint32(0), IDX_MAGIC_IMAGES_U8);
  assert.equal(IDX_MAGIC_IMAGES_U8, 2051);
  assert.equal(IDX_MAGIC_LABELS_U8, 2049);
  assert.equal(bytes.length, 16 + 24);
});

test('idx: other element types round trip', () => {
  const cases = [
    new Int8Array([-128, -1, 0, 127]),
    new Int16Array([-32768, -2, 5, 32767]),
    new Int32Array([-2147483648, -7, 8, 2147483647]),
    new Float32Array([-1.5, 0, 3.25, 1e-8]),
    new Float64Array([-1e300, 0.1, Math.PI, 42]),
  ];
  for (const data of cases) {
    const arr = parseIdx(gzipSync(encodeIdx(data, [2, 2])), 'mem');
    assert.deepEqual(arr.shape, [2, 2]);
    assert.equal(arr.data.constructor, data.constructor);
    assert.deepEqual(Array.from(arr.data), Array.from(data));
  }
});

test('idx: wrong magic names the file and both numbers', () => {
  const dir = tmp();
  try {
    const p = join(dir, 'train-images-idx3-ubyte.gz');
    writeIdxFile(p, new Uint8Array([1, 2]), [2]); // a label file where images are expected
    assert.throws(
      () => readIdxImages(p),
      (err: unknown) => {
        assert.ok(err instanceof IdxFormatError);
        assert.equal(err.file, p);
        assert.match(err.message, /train-images-idx3-ubyte\.gz: expected magic 2051 .*got 2049/);
        return true;
      },
    );
    const junk = join(dir, 'junk');
    writeFileSync(junk, Buffer.from([0x00, 0x00, 0x04, 0xd2, 1, 2, 3, 4]));
    assert.throws(() => readIdxLabels(junk), /junk: expected magic 2049 .*got 1234/);
    assert.throws(() => readIdxFile(junk), /unknown IDX data type code 0x4/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('idx: truncated, trailing and corrupted files are rejected with the reason', () => {
  const good = encodeIdx(pixels(2 * 28 * 28), [2, 28, 28]);
  assert.throws(() => parseIdx(good.subarray(0, good.length - 5), 'f.idx'), /f\.idx: truncated: header shape \[2, 28, 28\] of uint8 needs 1568 data bytes/);
  const longer = new Uint8Array(good.length + 3);
  longer.set(good);
  assert.throws(() => parseIdx(longer, 'g.idx'), /g\.idx: trailing bytes/);
  assert.throws(() => parseIdx(good.subarray(0, 10), 'h.idx'), /h\.idx: truncated header/);
  assert.throws(() => parseIdx(new Uint8Array([0, 0]), 'e.idx'), /e\.idx: file too short/);
  const gz = gzipSync(good);
  assert.throws(() => parseIdx(gz.subarray(0, gz.length - 20), 'x.gz'), /x\.gz: the IDX header declares \[2, 28, 28\] of uint8 \(1584 bytes\) but the gzip trailer records \d+ bytes/);
  const flipped = Uint8Array.from(gz);
  flipped[flipped.length - 6] ^= 0xff; // break the CRC / length trailer
  assert.throws(() => parseIdx(flipped, 'y.gz'), /y\.gz: gzip decompression failed/);
  // dimension checks
  assert.throws(() => parseIdx(good, 'd.idx', { dims: [null, 32, 32] }), /d\.idx: dimension 1 is 28, expected 32/);
  assert.throws(() => parseIdx(good, 'n.idx', { dims: [null] }), /n\.idx: expected 1 dimensions, header says 3/);
  assert.throws(() => readIdxFile('/nonexistent/dir/t10k-labels-idx1-ubyte'), /t10k-labels-idx1-ubyte: cannot read file/);
});

test('idx: a gzip bomb is refused from its header and trailer, before its body is inflated', () => {
  // A labels header declaring 100 labels, then 256 MiB of zeros: 250 KB compressed.
  const head = Buffer.alloc(8);
  head.writeUInt32BE(2049, 0);
  head.writeUInt32BE(100, 4);
  const body = Buffer.alloc(256 * 2 ** 20);
  const bomb = gzipSync(Buffer.concat([head, body]), { level: 9 });
  const rss0 = process.memoryUsage().rss;
  assert.throws(() => parseIdx(bomb, 'bomb.gz'), /bomb\.gz: the IDX header declares \[100\] of uint8 \(108 bytes\) but the gzip trailer records \d+ bytes uncompressed/);
  // The trailer forged to match the header: inflation stops at the declared size.
  const forged = Uint8Array.from(bomb);
  new DataView(forged.buffer).setUint32(forged.length - 4, 108, true);
  assert.throws(() => parseIdx(forged, 'forged.gz'), /forged\.gz: the \.gz file decompresses to more than the 108 bytes its IDX header declares/);
  // A header claiming more than the compressed bytes could ever expand to.
  const huge = Buffer.alloc(8);
  huge.writeUInt32BE(2049, 0);
  huge.writeUInt32BE(4_000_000_000, 4);
  const noise = randomBytes(20000); // incompressible, so the header peek ends before the trailer
  const small = Uint8Array.from(gzipSync(Buffer.concat([huge, noise])));
  new DataView(small.buffer).setUint32(small.length - 4, (4_000_000_008) % 2 ** 32, true);
  assert.throws(() => parseIdx(small, 'claims.gz'), /claims\.gz: the IDX header declares \[4000000000\] of uint8 \(4000000008 bytes\), more than \d+ compressed bytes can hold/);
  assert.ok(process.memoryUsage().rss - rss0 < 64 * 2 ** 20, 'nothing near the bomb\'s size was allocated');
});

test('idx: encode validates shape against data', () => {
  assert.throws(() => encodeIdx(new Uint8Array(5), [2, 3]), /shape \[2, 3\] has 6 elements, data has 5/);
});

test('idx: parseIdxAsync (the core\'s, for browsers: DecompressionStream) reads what parseIdx reads, raw and gzip', async () => {
  const cases: Array<[Uint8Array | Int16Array | Float32Array, number[]]> = [
    [Uint8Array.from({ length: 6 * 28 * 28 }, (_, i) => (i * 7) % 256), [6, 28, 28]],
    [Int16Array.from([1, -2, 300, -32768]), [2, 2]],
    [Float32Array.from([0.5, -1.25, 3e8]), [3]],
  ];
  for (const [data, shape] of cases) {
    const raw = encodeIdx(data, shape);
    for (const bytes of [raw, Uint8Array.from(gzipSync(raw))]) {
      const want = parseIdx(bytes, 'x');
      const got = await parseIdxAsync(bytes, 'x');
      assert.deepEqual(got.shape, want.shape);
      assert.equal(got.dtype, want.dtype);
      assert.deepEqual([...got.data], [...want.data]);
    }
  }
  await assert.rejects(parseIdxAsync(encodeIdx(new Uint8Array(4), [4]), 'labels', { magic: IDX_MAGIC_IMAGES_U8 }), /labels: expected magic 2051/);
  await assert.rejects(parseIdxAsync(Uint8Array.from(gzipSync(Buffer.from('not idx at all, just text'))).subarray(0, 12), 'cut.gz'), /cut\.gz: /);
});

test('idx: parseIdxAsync refuses the gzip bombs parseIdx refuses, before inflating their bodies', async () => {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(2049, 0);
  head.writeUInt32BE(100, 4);
  const bomb = gzipSync(Buffer.concat([head, Buffer.alloc(64 * 2 ** 20)]), { level: 9 });
  await assert.rejects(parseIdxAsync(bomb, 'bomb.gz'), /bomb\.gz: the IDX header declares \[100\] of uint8 \(108 bytes\) but the gzip trailer records/);
  const forged = Uint8Array.from(bomb);
  new DataView(forged.buffer).setUint32(forged.length - 4, 108, true);
  const rss0 = process.memoryUsage().rss;
  await assert.rejects(parseIdxAsync(forged, 'forged.gz'), /forged\.gz: the \.gz file decompresses to more than the 108 bytes its IDX header declares/);
  assert.ok(process.memoryUsage().rss - rss0 < 48 * 2 ** 20, 'the bomb\'s body was not inflated');
});
