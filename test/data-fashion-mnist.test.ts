import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { encodeIdx, writeIdxFile } from '../src/data/idx.js';
import {
  FASHION_MNIST_FILES,
  FASHION_MNIST_LABELS,
  FASHION_MNIST_RAW_SHA256,
  FASHION_MNIST_SHA256,
  FashionMNIST,
  FashionMNISTNotFoundError,
  downloadFashionMNIST,
  fashionMNISTCacheDir,
  fashionMNISTMirror,
  getFashionMNISTLabels,
  locateFashionMNIST,
} from '../src/data/fashion-mnist.js';
import { dataCommand } from '../src/data/cli.js';

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'torchlet-fmnist-'));
}

/** Deterministic tiny split: image i is filled with value (i * 13 + tag) & 255, label i % 10. */
function tinySplit(n: number, tag: number): { images: Uint8Array; labels: Uint8Array } {
  const images = new Uint8Array(n * 784);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    images.fill((i * 13 + tag) & 255, i * 784, (i + 1) * 784);
    images[i * 784] = i & 255;
    labels[i] = i % 10;
  }
  return { images, labels };
}

/** Write the four files for a tiny dataset into dir (gzip or raw). */
function writeTiny(dir: string, opts: { gz?: boolean; nTrain?: number; nTest?: number; tag?: number } = {}): void {
  mkdirSync(dir, { recursive: true });
  const sfx = opts.gz === false ? '' : '.gz';
  const tag = opts.tag ?? 0;
  const tr = tinySplit(opts.nTrain ?? 12, tag);
  const te = tinySplit(opts.nTest ?? 5, tag + 100);
  writeIdxFile(join(dir, FASHION_MNIST_FILES.trainImages + sfx), tr.images, [tr.labels.length, 28, 28]);
  writeIdxFile(join(dir, FASHION_MNIST_FILES.trainLabels + sfx), tr.labels, [tr.labels.length]);
  writeIdxFile(join(dir, FASHION_MNIST_FILES.testImages + sfx), te.images, [te.labels.length, 28, 28]);
  writeIdxFile(join(dir, FASHION_MNIST_FILES.testLabels + sfx), te.labels, [te.labels.length]);
}

/** Options that keep locate away from the real machine's env, cache and /usr/share. */
function isolated(root: string, env: Record<string, string | undefined> = {}) {
  return { env, cacheDir: join(root, 'cache'), systemDirs: [join(root, 'system')] };
}

test('labels: d2l get_fashion_mnist_labels', () => {
  assert.deepEqual(FASHION_MNIST_LABELS, ['t-shirt', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag', 'ankle boot']);
  assert.deepEqual(getFashionMNISTLabels(new Uint8Array([9, 0, 2])), ['ankle boot', 't-shirt', 'pullover']);
  assert.throws(() => getFashionMNISTLabels([10]), /out of range/);
});

test('locate: search order dataDir > TORCHLET_DATA > cache > system, with tried list', () => {
  const root = tmp();
  try {
    const opts = isolated(root);
    const places = { data: join(root, 'explicit'), env: join(root, 'envdir'), cache: opts.cacheDir, system: opts.systemDirs[0] };
    for (const [i, d] of Object.values(places).entries()) writeTiny(d, { tag: i });

    let loc = locateFashionMNIST({ ...opts, dataDir: places.data, env: { TORCHLET_DATA: places.env } });
    assert.ok(loc.found);
    assert.equal(loc.source, 'dataDir');
    assert.equal(loc.dir, places.data);
    assert.equal(loc.files.trainImages, join(places.data, 'train-images-idx3-ubyte.gz'));
    assert.deepEqual(loc.tried, []);

    loc = locateFashionMNIST({ ...opts, env: { TORCHLET_DATA: places.env } });
    assert.ok(loc.found);
    assert.equal(loc.source, 'env');
    assert.deepEqual(loc.tried.map((t) => t.source), ['dataDir']);

    loc = locateFashionMNIST(opts);
    assert.ok(loc.found);
    assert.equal(loc.source, 'cache');
    assert.deepEqual(loc.tried.map((t) => [t.source, t.reason]), [['dataDir', 'not given'], ['env', 'not set']]);

    rmSync(places.cache, { recursive: true });
    // A named --data-dir is the one meant: without the files there, nothing else is searched.
    const named = locateFashionMNIST({ ...opts, dataDir: join(root, 'nope') });
    assert.equal(named.found, false);
    assert.deepEqual(named.tried.map((t) => [t.source, t.dir, t.reason]), [['dataDir', join(root, 'nope'), 'directory does not exist']]);
    loc = locateFashionMNIST(opts);
    assert.ok(loc.found);
    assert.equal(loc.source, 'system');
    assert.equal(loc.dir, places.system);
    assert.deepEqual(loc.tried.map((t) => [t.source, t.dir, t.reason]), [
      ['dataDir', '--data-dir', 'not given'],
      ['env', 'TORCHLET_DATA', 'not set'],
      ['cache', places.cache, 'directory does not exist'],
    ]);

    // an incomplete directory is reported with the missing files, and skipped
    rmSync(join(places.env, 't10k-labels-idx1-ubyte.gz'));
    loc = locateFashionMNIST({ ...opts, env: { TORCHLET_DATA: places.env } });
    assert.ok(loc.found);
    assert.equal(loc.source, 'system');
    const envTry = loc.tried.find((t) => t.source === 'env' && t.dir === places.env);
    assert.ok(envTry);
    assert.match(envTry.reason, /missing t10k-labels-idx1-ubyte\[\.gz\]/);

    rmSync(places.system, { recursive: true });
    loc = locateFashionMNIST(opts);
    assert.equal(loc.found, false);
    assert.equal(loc.tried.length, 4);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('locate: sub-layouts (<dir>/fashion-mnist, torchvision <dir>/FashionMNIST/raw) and raw files', () => {
  const root = tmp();
  try {
    const opts = isolated(root);
    writeTiny(join(root, 'a', 'fashion-mnist'));
    let loc = locateFashionMNIST({ ...opts, dataDir: join(root, 'a') });
    assert.ok(loc.found);
    assert.equal(loc.dir, join(root, 'a', 'fashion-mnist'));

    writeTiny(join(root, 'b', 'FashionMNIST', 'raw'), { gz: false });
    loc = locateFashionMNIST({ ...opts, env: { TORCHLET_DATA: join(root, 'b') } });
    assert.ok(loc.found);
    assert.equal(loc.dir, join(root, 'b', 'FashionMNIST', 'raw'));
    assert.equal(loc.files.testLabels, join(root, 'b', 'FashionMNIST', 'raw', 't10k-labels-idx1-ubyte'));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('cache dir and mirror defaults follow XDG_CACHE_HOME and TORCHLET_MIRROR', () => {
  assert.equal(fashionMNISTCacheDir({ XDG_CACHE_HOME: '/x/cache' }), '/x/cache/torchlet/fashion-mnist');
  assert.match(fashionMNISTCacheDir({}), /\.cache\/torchlet\/fashion-mnist$/);
  assert.equal(fashionMNISTMirror({ env: {} }), 'http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/');
  assert.equal(fashionMNISTMirror({ env: { TORCHLET_MIRROR: 'http://127.0.0.1:9/m' } }), 'http://127.0.0.1:9/m/');
  assert.equal(fashionMNISTMirror({ mirror: 'http://a/b/', env: { TORCHLET_MIRROR: 'http://c/' } }), 'http://a/b/');
});

test('FashionMNIST reads a split: images [N,28,28], labels, files', () => {
  const root = tmp();
  try {
    writeTiny(join(root, 'd'), { nTrain: 7, nTest: 3 });
    const opts = { ...isolated(root), dataDir: join(root, 'd') };
    const train = new FashionMNIST({ ...opts, train: true });
    const test_ = new FashionMNIST({ ...opts, train: false });
    assert.deepEqual(train.shape, [7, 28, 28]);
    assert.deepEqual(test_.shape, [3, 28, 28]);
    assert.equal(train.images.length, 7 * 784);
    assert.deepEqual([...train.labels], [0, 1, 2, 3, 4, 5, 6]);
    const s = train.get(4);
    assert.equal(s.label, 4);
    assert.equal(s.image[1], (4 * 13) & 255);
    assert.equal(test_.get(2).image[5], (2 * 13 + 100) & 255);
    assert.match(train.files.images, /train-images-idx3-ubyte\.gz$/);
    assert.equal([train.height, train.width, train.channels].join(), '28,28,1');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('FashionMNIST rejects inconsistent files with the file name', () => {
  const root = tmp();
  try {
    const d = join(root, 'd');
    writeTiny(d, { nTrain: 4 });
    writeIdxFile(join(d, 'train-labels-idx1-ubyte.gz'), new Uint8Array([1, 2, 3]), [3]);
    assert.throws(() => new FashionMNIST({ ...isolated(root), dataDir: d }), /declares 4 images but train-labels-idx1-ubyte\.gz declares 3 labels; the files do not belong together/);
    writeIdxFile(join(d, 'train-labels-idx1-ubyte.gz'), new Uint8Array([1, 2, 3, 12]), [4]);
    assert.throws(() => new FashionMNIST({ ...isolated(root), dataDir: d }), /label 12 at index 3 is out of range/);
    writeIdxFile(join(d, 'train-images-idx3-ubyte.gz'), new Uint8Array(4 * 30 * 30), [4, 30, 30]);
    assert.throws(() => new FashionMNIST({ ...isolated(root), dataDir: d }), /train-images-idx3-ubyte\.gz: dimension 1 is 30, expected 28/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------------------
// Download path, against a local HTTP server on 127.0.0.1
// ---------------------------------------------------------------------------

interface Mirror {
  url: string;
  hits: string[];
  close: () => Promise<void>;
}

async function serve(files: Record<string, Uint8Array>): Promise<Mirror> {
  const hits: string[] = [];
  const server: Server = createServer((req, res) => {
    const name = (req.url ?? '').replace(/^\/mirror\//, '');
    hits.push(name);
    const body = files[name];
    if (!body) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
    // two chunks, to exercise streaming
    const mid = body.length >> 1;
    res.write(body.subarray(0, mid));
    setTimeout(() => res.end(body.subarray(mid)), 5);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/mirror/`,
    hits,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function tinyGzFiles(): { files: Record<string, Uint8Array>; sha: Record<string, string> } {
  const tr = tinySplit(6, 1);
  const te = tinySplit(4, 2);
  const files: Record<string, Uint8Array> = {
    'train-images-idx3-ubyte.gz': gzipSync(encodeIdx(tr.images, [6, 28, 28])),
    'train-labels-idx1-ubyte.gz': gzipSync(encodeIdx(tr.labels, [6])),
    't10k-images-idx3-ubyte.gz': gzipSync(encodeIdx(te.images, [4, 28, 28])),
    't10k-labels-idx1-ubyte.gz': gzipSync(encodeIdx(te.labels, [4])),
  };
  const sha: Record<string, string> = {};
  for (const k of Object.keys(files)) files[k] = new Uint8Array(files[k]); // Buffer -> plain Uint8Array
  for (const [k, v] of Object.entries(files)) sha[k] = createHash('sha256').update(v).digest('hex');
  return { files, sha };
}

test('download: fetches all four files with SHA-256 check and atomic write', async () => {
  const root = tmp();
  const { files, sha } = tinyGzFiles();
  const mirror = await serve(files);
  try {
    const dir = join(root, 'cache');
    const got = await downloadFashionMNIST({ dir, mirror: mirror.url, sha256: sha });
    assert.equal(got.trainImages, join(dir, 'train-images-idx3-ubyte.gz'));
    for (const [name, body] of Object.entries(files)) assert.deepEqual(new Uint8Array(readFileSync(join(dir, name))), body);
    assert.deepEqual(readdirSync(dir).sort(), Object.keys(files).sort()); // no temp files left
    assert.equal(mirror.hits.length, 4);
    // a second run finds valid files and fetches nothing
    await downloadFashionMNIST({ dir, mirror: mirror.url, sha256: sha });
    assert.equal(mirror.hits.length, 4);
    // a corrupted cached file is re-fetched
    writeFileSync(join(dir, 't10k-labels-idx1-ubyte.gz'), 'garbage');
    await downloadFashionMNIST({ dir, mirror: mirror.url, sha256: sha });
    assert.deepEqual(mirror.hits.slice(4), ['t10k-labels-idx1-ubyte.gz']);
    assert.deepEqual(new Uint8Array(readFileSync(join(dir, 't10k-labels-idx1-ubyte.gz'))), files['t10k-labels-idx1-ubyte.gz']);
  } finally {
    await mirror.close();
    rmSync(root, { recursive: true, force: true });
  }
});

test('download: a bad hash is rejected and leaves no file behind', async () => {
  const root = tmp();
  const { files, sha } = tinyGzFiles();
  const mirror = await serve(files);
  try {
    const dir = join(root, 'cache');
    const bad = { ...sha, 'train-labels-idx1-ubyte.gz': '0'.repeat(64) };
    await assert.rejects(
      downloadFashionMNIST({ dir, mirror: mirror.url, sha256: bad }),
      /train-labels-idx1-ubyte\.gz: SHA-256 mismatch \(expected 0{64}, got [0-9a-f]{64}/,
    );
    // the file before it was kept, the bad one and any temp file are gone
    assert.deepEqual(readdirSync(dir), ['train-images-idx3-ubyte.gz']);
    // default hashes are the official ones: tiny files never match them
    await assert.rejects(downloadFashionMNIST({ dir: join(root, 'c2'), mirror: mirror.url }), /SHA-256 mismatch \(expected 3aede38d/);
    // HTTP errors name the URL
    await assert.rejects(downloadFashionMNIST({ dir: join(root, 'c3'), mirror: mirror.url + 'missing/', sha256: sha }), /missing\/train-images-idx3-ubyte\.gz: HTTP 404/);
  } finally {
    await mirror.close();
    rmSync(root, { recursive: true, force: true });
  }
});

test('FashionMNIST.load downloads into the cache dir (mirror from TORCHLET_MIRROR) when not found', async () => {
  const root = tmp();
  const { files, sha } = tinyGzFiles();
  const mirror = await serve(files);
  try {
    const opts = isolated(root, { TORCHLET_MIRROR: mirror.url });
    const ds = await FashionMNIST.load({ ...opts, train: false, sha256: sha });
    assert.equal(ds.length, 4);
    assert.equal(ds.files.images, join(opts.cacheDir, 't10k-images-idx3-ubyte.gz'));
    const again = locateFashionMNIST(opts);
    assert.ok(again.found);
    assert.equal(again.source, 'cache');
    // found locally now: no more requests
    const hits = mirror.hits.length;
    await FashionMNIST.load({ ...opts, train: true, sha256: sha });
    assert.equal(mirror.hits.length, hits);
  } finally {
    await mirror.close();
    rmSync(root, { recursive: true, force: true });
  }
});

test('not found + failed download: the error lists every way to get the data', async () => {
  const root = tmp();
  // a port with nothing listening
  const probe = await serve({});
  const deadUrl = probe.url;
  await probe.close();
  try {
    const opts = isolated(root, { TORCHLET_MIRROR: deadUrl });
    await assert.rejects(FashionMNIST.load(opts), (err: unknown) => {
      assert.ok(err instanceof FashionMNISTNotFoundError);
      assert.ok(err.downloadError);
      const m = err.message;
      assert.match(m, /Fashion-MNIST not found\. Looked in:/);
      assert.match(m, /\[cache\] .*cache: directory does not exist/);
      assert.match(m, /\[system\] .*system: directory does not exist/);
      assert.match(m, new RegExp(`Download from ${deadUrl.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} failed: .*train-images-idx3-ubyte\\.gz`));
      assert.match(m, /apt-get install dataset-fashion-mnist/);
      assert.match(m, /--data-dir/);
      assert.match(m, /TORCHLET_DATA/);
      assert.ok(m.includes(opts.cacheDir));
      assert.match(m, /torchlet data --download/);
      return true;
    });
    assert.equal(existsSync(join(opts.cacheDir, 'train-images-idx3-ubyte.gz')), false);
    // download: false never touches the network; the sync constructor neither
    await assert.rejects(FashionMNIST.load({ ...opts, download: false }), (err: unknown) => err instanceof FashionMNISTNotFoundError && !err.downloadError);
    assert.throws(() => new FashionMNIST(opts), FashionMNISTNotFoundError);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('dataCommand: reports location, and --download fetches', async () => {
  const root = tmp();
  const { files } = tinyGzFiles();
  const mirror = await serve(files);
  const out: string[] = [];
  const io = { out: (s: string) => out.push(s), err: (s: string) => out.push('ERR ' + s) };
  try {
    writeTiny(join(root, 'here'));
    assert.equal(await dataCommand(['--data-dir', join(root, 'here')], io), 0);
    assert.match(out.join('\n'), /found \(dataDir\) in .*here/);
    out.length = 0;
    // official hashes: the tiny files fail verification -> exit 1 with the how-to message
    assert.equal(await dataCommand(['--download', '--dir', join(root, 'dl'), '--mirror', mirror.url], io), 1);
    assert.match(out.join('\n'), /SHA-256 mismatch[\s\S]*Ways to get the data/);
    assert.equal(await dataCommand(['--bogus'], io), 2);
  } finally {
    await mirror.close();
    rmSync(root, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------------------
// Optional: the real Debian files (dataset-fashion-mnist), when installed
// ---------------------------------------------------------------------------

const DEBIAN_DIR = '/usr/share/datasets/fashion-mnist';
const haveDebian = existsSync(join(DEBIAN_DIR, 't10k-labels-idx1-ubyte.gz'));

test('real Debian Fashion-MNIST (test split) loads and matches the official content hashes', { skip: haveDebian ? false : `${DEBIAN_DIR} not present (apt-get install dataset-fashion-mnist)` }, () => {
  const loc = locateFashionMNIST({ env: {}, cacheDir: '/nonexistent-torchlet-cache', systemDirs: [DEBIAN_DIR] });
  assert.ok(loc.found);
  assert.equal(loc.source, 'system');
  const ds = new FashionMNIST({ train: false, env: {}, cacheDir: '/nonexistent-torchlet-cache', systemDirs: [DEBIAN_DIR] });
  assert.equal(ds.length, 10000);
  const counts = new Array(10).fill(0);
  for (const l of ds.labels) counts[l]++;
  assert.deepEqual(counts, new Array(10).fill(1000));
  assert.equal(ds.labels[0], 9); // first test image is an ankle boot
  const raw = gunzipSync(readFileSync(loc.files.testLabels));
  assert.equal(createHash('sha256').update(raw).digest('hex'), FASHION_MNIST_RAW_SHA256['t10k-labels-idx1-ubyte']);
  assert.equal(Object.keys(FASHION_MNIST_SHA256).length, 4);
});
