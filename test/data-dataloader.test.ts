import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ArrayImageDataset } from '../src/data/dataset.js';
import { DataLoader, toBatch, type Batch } from '../src/data/dataloader.js';
import { loadDataFashionMNIST } from '../src/data/load-data.js';
import { writeIdxFile } from '../src/data/idx.js';
import { Rng, permutation } from '../src/data/random.js';
import { compilePipeline } from '../src/data/transforms.js';

/** n images of h x w; pixel values vary per image and position; label = i % 10. */
function tinyDataset(n: number, h = 28, w = 28): ArrayImageDataset {
  const images = new Uint8Array(n * h * w);
  for (let i = 0; i < images.length; i++) images[i] = (Math.imul(i, 2654435761) >>> 24) ^ ((i / (h * w)) | 0);
  const labels = Uint8Array.from({ length: n }, (_, i) => i % 10);
  return new ArrayImageDataset(images, labels, h, w, 1);
}

async function collect(it: AsyncIterable<Batch>): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of it) out.push(b);
  return out;
}

/** Recover each sample's index from its first pixel row (unique per image in tinyDataset). */
function sampleIds(ds: ArrayImageDataset, batches: Batch[]): number[] {
  const plane = ds.height * ds.width;
  const key = (a: ArrayLike<number>, o: number, scale: number): string => Array.from({ length: 16 }, (_, k) => Math.round(a[o + k] * scale)).join(',');
  const index = new Map<string, number>();
  for (let i = 0; i < ds.length; i++) index.set(key(ds.images, i * plane, 1), i);
  const ids: number[] = [];
  for (const [X] of batches) for (let b = 0; b < X.shape[0]; b++) ids.push(index.get(key(X.hostView(), b * plane, 255)) ?? -1);
  return ids;
}

test('toBatch is the single conversion point: X [B,C,H,W] float32, y [B] int32', () => {
  const [X, y] = toBatch(new Float32Array(2 * 3 * 4), [2, 1, 3, 4], new Int32Array([5, 6]));
  assert.deepEqual(X.shape, [2, 1, 3, 4]);
  assert.ok(X.hostView() instanceof Float32Array);
  assert.deepEqual(y.shape, [2]);
  assert.ok(y.dtype === "int32");
});

test('batch counts, shapes, labels and drop_last', async () => {
  const ds = tinyDataset(10);
  const keep = new DataLoader(ds, { batchSize: 3 });
  const drop = new DataLoader(ds, { batchSize: 3, dropLast: true });
  assert.equal(keep.length, 4);
  assert.equal(drop.length, 3);
  assert.equal(new DataLoader(ds, { batchSize: 5, dropLast: true }).length, 2);
  assert.equal(new DataLoader(ds, { batchSize: 20 }).length, 1);
  assert.equal(new DataLoader(ds, { batchSize: 20, dropLast: true }).length, 0);

  const kb = await collect(keep);
  assert.deepEqual(kb.map(([X]) => X.shape), [[3, 1, 28, 28], [3, 1, 28, 28], [3, 1, 28, 28], [1, 1, 28, 28]]);
  assert.deepEqual(kb.flatMap(([, y]) => [...y.hostView()]), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual(sampleIds(ds, kb), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  // values are ToTensor of the uint8 pixels
  assert.equal(kb[1][0].hostView()[784 + 10], Math.fround(ds.images[4 * 784 + 10] / 255));
  const db = await collect(drop);
  assert.equal(db.length, 3);
  assert.ok(db.every(([X, y]) => X.shape[0] === 3 && y.shape[0] === 3));
  assert.throws(() => new DataLoader(ds, { batchSize: 0 }), /batchSize must be a positive integer/);
  assert.throws(() => new DataLoader(ds, { transform: { normalize: { mean: [0, 0], std: [1] } } }), /normalize/);
});

test('seeded shuffle: deterministic per (seed, epoch), reshuffled every epoch, a permutation', async () => {
  const ds = tinyDataset(23);
  const a = new DataLoader(ds, { batchSize: 4, shuffle: true, seed: 7 });
  const b = new DataLoader(ds, { batchSize: 4, shuffle: true, seed: 7 });
  const c = new DataLoader(ds, { batchSize: 4, shuffle: true, seed: 8 });
  const a0 = sampleIds(ds, await collect(a));
  const a1 = sampleIds(ds, await collect(a));
  const b0 = sampleIds(ds, await collect(b));
  const b1 = sampleIds(ds, await collect(b));
  const c0 = sampleIds(ds, await collect(c));
  assert.deepEqual(a0, b0);
  assert.deepEqual(a1, b1);
  assert.notDeepEqual(a0, a1);
  assert.notDeepEqual(a0, c0);
  assert.deepEqual([...a0].sort((x, y) => x - y), Array.from({ length: 23 }, (_, i) => i));
  assert.equal(a.epoch, 2);
  // iterEpoch replays any epoch
  assert.deepEqual(sampleIds(ds, await collect(a.iterEpoch(1))), a1);
  // labels follow the samples
  for (const [X, y] of await collect(a.iterEpoch(0))) {
    const ids = sampleIds(ds, [[X, y]]);
    assert.deepEqual([...y.hostView()], ids.map((i) => i % 10));
  }
  // the generator itself
  assert.deepEqual(permutation(10, 3, 1), permutation(10, 3, 1));
  const r = new Rng(1);
  const counts = new Array(5).fill(0);
  for (let i = 0; i < 5000; i++) counts[r.int(5)]++;
  assert.ok(counts.every((k) => k > 850 && k < 1150), `skewed: ${counts}`);
});

test('workers produce exactly the main-thread batches (resize 96 + normalize, shuffled)', async () => {
  const ds = tinyDataset(14);
  const opts = { batchSize: 4, shuffle: true, seed: 3, transform: { resize: 96, normalize: { mean: [0.5], std: [0.25] } } } as const;
  const main = new DataLoader(ds, { ...opts, workers: 0 });
  const pooled = new DataLoader(ds, { ...opts, workers: 2, prefetch: 3 });
  try {
    for (let epoch = 0; epoch < 2; epoch++) {
      const m = await collect(main);
      const p = await collect(pooled);
      assert.equal(m.length, 4);
      assert.equal(p.length, 4);
      for (let i = 0; i < m.length; i++) {
        assert.deepEqual(p[i][0].shape, m[i][0].shape);
        assert.deepEqual(p[i][0].shape.slice(1), [1, 96, 96]);
        assert.deepEqual(p[i][0].hostView(), m[i][0].hostView());
        assert.deepEqual(p[i][1].hostView(), m[i][1].hostView());
      }
    }
    // and both equal the per-image pipeline
    const f = compilePipeline(opts.transform, 28, 28, 1);
    const [X, y] = (await collect(pooled.iterEpoch(5)))[0];
    const one = new Float32Array(96 * 96);
    const first = permutation(14, 3, 5)[0];
    f(ds.images.subarray(first * 784, (first + 1) * 784), one, 0);
    assert.deepEqual(X.hostView().subarray(0, 96 * 96), one);
    assert.equal(y.hostView()[0], first % 10);
  } finally {
    await pooled.close();
  }
});

test('workers: breaking out early and iterating again works; keeps prefetch batches in flight', async () => {
  const ds = tinyDataset(40);
  const loader = new DataLoader(ds, { batchSize: 4, workers: 1, transform: { resize: 56 } });
  assert.equal(loader.prefetch, 2);
  let n = 0;
  for await (const [X] of loader) {
    assert.deepEqual(X.shape, [4, 1, 56, 56]);
    if (++n === 2) break;
  }
  const all = await collect(loader);
  assert.equal(all.length, 10);
  assert.deepEqual(all.flatMap(([, y]) => [...y.hostView()]), Array.from({ length: 40 }, (_, i) => i % 10));
  // Deliberately not closed: idle workers are unref'd and must not keep the process alive.
});

test('loadDataFashionMNIST: d2l-style [trainIter, testIter] from a data dir', async () => {
  const root = mkdtempSync(join(tmpdir(), 'torchlet-load-'));
  try {
    const mk = (prefix: string, n: number): void => {
      const ds = tinyDataset(n);
      writeIdxFile(join(root, `${prefix}-images-idx3-ubyte.gz`), ds.images, [n, 28, 28]);
      writeIdxFile(join(root, `${prefix}-labels-idx1-ubyte.gz`), Uint8Array.from(ds.labels), [n]);
    };
    mk('train', 11);
    mk('t10k', 6);
    const iso = { env: {}, cacheDir: join(root, 'no-cache'), systemDirs: [join(root, 'no-system')], download: false };
    const [trainIter, testIter] = await loadDataFashionMNIST(4, { ...iso, dataDir: root, resize: 32, workers: 1, seed: 1 });
    try {
      assert.equal(trainIter.length, 3);
      assert.equal(testIter.length, 2);
      assert.equal(trainIter.shuffle, true);
      assert.equal(testIter.shuffle, false);
      const tr = await collect(trainIter);
      assert.deepEqual(tr.map(([X]) => X.shape), [[4, 1, 32, 32], [4, 1, 32, 32], [3, 1, 32, 32]]);
      const te = await collect(testIter);
      assert.deepEqual(te.flatMap(([, y]) => [...y.hostView()]), [0, 1, 2, 3, 4, 5]);
      // same seed -> same first epoch, default workers/no resize -> main thread, 28x28
      const [again] = await loadDataFashionMNIST(4, { ...iso, dataDir: root, resize: 32, workers: 0, seed: 1 });
      const tr2 = await collect(again);
      for (let i = 0; i < tr.length; i++) assert.deepEqual(tr2[i][0].hostView(), tr[i][0].hostView());
      const [plain] = await loadDataFashionMNIST(5, { ...iso, dataDir: root });
      assert.equal(plain.workers, 0);
      assert.deepEqual((await collect(plain))[0][0].shape, [5, 1, 28, 28]);
    } finally {
      await trainIter.close();
      await testIter.close();
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('the native row gather gives the JavaScript loop\'s batches bit for bit, and names a bad index', async () => {
  const { makeBatchFiller, setRowGatherLoader } = await import('../src/data/batch.js');
  const { loadNative } = await import('../src/backend/cpu/index.js');
  const nat = loadNative();
  if (!nat) return; // no addon: only the JavaScript path exists
  const images = new Uint8Array(50 * 28 * 28);
  const r = new Rng(7);
  for (let i = 0; i < images.length; i++) images[i] = Math.floor(r.next() * 256);
  const idx = Int32Array.from([49, 0, 17, 17, 3]);
  for (const transform of [{}, { normalize: { mean: [0.2860], std: [0.3530] } }]) {
    const src = { images, height: 28, width: 28, channels: 1, transform, seed: 0 };
    let calls = 0;
    setRowGatherLoader(() => (...a) => {
      calls++;
      nat.gatherRowsLut(...a);
    });
    const fast = makeBatchFiller(src).fill(idx, 0);
    assert.equal(calls, 1, 'the native gather ran');
    assert.throws(() => makeBatchFiller(src).fill(Int32Array.from([50]), 0), /sample index 50 out of range \[0, 50\)/);
    setRowGatherLoader(null);
    const js = makeBatchFiller(src).fill(idx, 0);
    assert.deepEqual(fast, js);
  }
  setRowGatherLoader(() => (images2, indices, rowLen, lut, out) => nat.gatherRowsLut(images2, indices, rowLen, lut, out));
});
