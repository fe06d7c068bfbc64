/**
 * Fashion-MNIST (Xiao, Rasul & Vollgraf 2017): 60,000 train + 10,000 test
 * 28x28 grayscale images in 10 classes.
 *
 * Where the files are looked for, in order:
 *   1. the explicit `dataDir` option (CLI `--data-dir`)
 *   2. `$TORCHLET_DATA`
 *   3. the cache dir, `${XDG_CACHE_HOME:-~/.cache}/torchlet/fashion-mnist`
 *   4. `/usr/share/datasets/fashion-mnist` (Debian/Ubuntu package `dataset-fashion-mnist`,
 *      which ships the four files recompressed as .gz)
 * For 1 and 2 the directory itself, `<dir>/fashion-mnist` and `<dir>/FashionMNIST/raw`
 * (torchvision's / d2l's layout) are checked. Each file may be raw or gzip.
 *
 * If none has it, `FashionMNIST.load()` downloads the four .gz files from the official
 * mirror (override: `mirror` option or `$TORCHLET_MIRROR`) into the cache dir, checking
 * SHA-256 and writing atomically (temp file in the same dir, fsync, rename).
 */
import { fsyncDir } from '../util/atomic-write.js';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, statSync } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { ImageDataset } from './dataset.js';
import { parseIdx, readIdxBytes, readIdxHeader } from './idx.js';
import { FASHION_MNIST_IMAGES_EXPECT, FASHION_MNIST_LABELS_EXPECT, checkFashionMNISTLabels, checkFashionMNISTPair } from './fashion-mnist-bytes.js';

export { FASHION_MNIST_LABELS, getFashionMNISTLabels } from './labels.js';

/** Official mirror (the one torchvision uses). */
export const FASHION_MNIST_MIRROR = 'http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/';

export type FashionMNISTFileKey = 'trainImages' | 'trainLabels' | 'testImages' | 'testLabels';

/** Base names of the four files (each may exist raw or with a `.gz` suffix). */
export const FASHION_MNIST_FILES: Readonly<Record<FashionMNISTFileKey, string>> = Object.freeze({
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
});

const FILE_KEYS: FashionMNISTFileKey[] = ['trainImages', 'trainLabels', 'testImages', 'testLabels'];

/**
 * SHA-256 of the official .gz files as served by the mirror (their MD5s, as used by
 * torchvision, are 8d4fb7e6..., 25c81989..., bef4ecab..., bb300cfd...). The Debian package
 * recompresses the files, so its .gz bytes differ (its decompressed bytes match
 * FASHION_MNIST_RAW_SHA256); local copies are not hash-checked, only IDX-validated.
 */
export const FASHION_MNIST_SHA256: Readonly<Record<string, string>> = Object.freeze({
  'train-images-idx3-ubyte.gz': '3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84',
  'train-labels-idx1-ubyte.gz': 'a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845',
  't10k-images-idx3-ubyte.gz': '346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073',
  't10k-labels-idx1-ubyte.gz': '67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5',
});

/**
 * SHA-256 of the decompressed IDX files (identical for the official files and Debian's
 * recompressed copy).
 */
export const FASHION_MNIST_RAW_SHA256: Readonly<Record<string, string>> = Object.freeze({
  'train-images-idx3-ubyte': 'c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888',
  'train-labels-idx1-ubyte': 'bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9',
  't10k-images-idx3-ubyte': '5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b',
  't10k-labels-idx1-ubyte': '0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34',
});

/** Where Debian's dataset-fashion-mnist installs the files. */
export const FASHION_MNIST_SYSTEM_DIRS: readonly string[] = Object.freeze(['/usr/share/datasets/fashion-mnist']);

type Env = Record<string, string | undefined>;

export interface LocateOptions {
  /** Explicit directory (CLI `--data-dir`); searched first. */
  dataDir?: string;
  /** Environment to read TORCHLET_DATA / XDG_CACHE_HOME / TORCHLET_MIRROR from (default: process.env). */
  env?: Env;
  /** Override the cache directory (default `${XDG_CACHE_HOME:-~/.cache}/torchlet/fashion-mnist`). */
  cacheDir?: string;
  /** Override the system directories (default FASHION_MNIST_SYSTEM_DIRS). */
  systemDirs?: readonly string[];
}

export type LocationSource = 'dataDir' | 'env' | 'cache' | 'system';

export interface TriedLocation {
  source: LocationSource;
  /** Directory looked at (or a description such as "TORCHLET_DATA (not set)"). */
  dir: string;
  /** Why it was not used. */
  reason: string;
}

export type FashionMNISTFiles = Record<FashionMNISTFileKey, string>;

export type FashionMNISTLocation =
  | { found: true; dir: string; source: LocationSource; files: FashionMNISTFiles; tried: TriedLocation[] }
  | { found: false; tried: TriedLocation[] };

/** Default cache directory: `${XDG_CACHE_HOME:-~/.cache}/torchlet/fashion-mnist`. */
export function fashionMNISTCacheDir(env: Env = process.env): string {
  const base = env.XDG_CACHE_HOME && env.XDG_CACHE_HOME.length > 0 ? env.XDG_CACHE_HOME : join(homedir(), '.cache');
  return join(base, 'torchlet', 'fashion-mnist');
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** Files of the dataset in `dir` (raw preferred over .gz), or the list of missing names. */
function filesIn(dir: string): { files: FashionMNISTFiles } | { missing: string[] } {
  const files: Partial<FashionMNISTFiles> = {};
  const missing: string[] = [];
  for (const key of FILE_KEYS) {
    const name = FASHION_MNIST_FILES[key];
    const raw = join(dir, name);
    const gz = raw + '.gz';
    if (isFile(raw)) files[key] = raw;
    else if (isFile(gz)) files[key] = gz;
    else missing.push(`${name}[.gz]`);
  }
  return missing.length ? { missing } : { files: files as FashionMNISTFiles };
}

/** Find the dataset; reports where it was found and every place tried before that. */
export function locateFashionMNIST(options: LocateOptions = {}): FashionMNISTLocation {
  const env = options.env ?? process.env;
  const tried: TriedLocation[] = [];
  const withSubdirs = (d: string): string[] => [d, join(d, 'fashion-mnist'), join(d, 'FashionMNIST', 'raw')];
  // In search order; `dirs: null` records a place that was not configured.
  const candidates: Array<{ source: LocationSource; dirs: string[] | null; label: string; reason: string }> = [
    { source: 'dataDir', dirs: options.dataDir ? withSubdirs(options.dataDir) : null, label: '--data-dir', reason: 'not given' },
    { source: 'env', dirs: env.TORCHLET_DATA ? withSubdirs(env.TORCHLET_DATA) : null, label: 'TORCHLET_DATA', reason: 'not set' },
    { source: 'cache', dirs: [options.cacheDir ?? fashionMNISTCacheDir(env)], label: '', reason: '' },
    { source: 'system', dirs: [...(options.systemDirs ?? FASHION_MNIST_SYSTEM_DIRS)], label: '', reason: '' },
  ];

  for (const { source, dirs, label, reason } of candidates) {
    if (!dirs) {
      tried.push({ source, dir: label, reason });
      continue;
    }
    for (const dir of dirs) {
      if (!isDir(dir)) {
        // Absent sub-layout dirs (<dir>/fashion-mnist, ...) are not worth reporting.
        if (dir === dirs[0]) tried.push({ source, dir, reason: 'directory does not exist' });
        continue;
      }
      const r = filesIn(dir);
      if ('files' in r) return { found: true, dir, source, files: r.files, tried };
      tried.push({ source, dir, reason: `missing ${r.missing.join(', ')}` });
    }
    // A directory the user named is the one they mean: training on data found elsewhere would be a silent surprise.
    if (source === 'dataDir') return { found: false, tried };
  }
  return { found: false, tried };
}

/** Raised when the dataset is not available locally (and could not be downloaded). */
export class FashionMNISTNotFoundError extends Error {
  readonly tried: TriedLocation[];
  readonly downloadError?: Error;
  constructor(tried: TriedLocation[], cacheDir: string, mirror: string, downloadError?: Error) {
    const lines = ['Fashion-MNIST not found. Looked in:'];
    for (const t of tried) lines.push(`  - [${t.source}] ${t.dir}: ${t.reason}`);
    if (downloadError) lines.push(`Download from ${mirror} failed: ${downloadError.message}`);
    const names = FILE_KEYS.map((k) => FASHION_MNIST_FILES[k] + '.gz').join(', ');
    lines.push(
      'Ways to get the data (the four files ' + names + ', raw or gzipped):',
      '  1. Debian/Ubuntu: sudo apt-get install dataset-fashion-mnist  (installs /usr/share/datasets/fashion-mnist)',
      '  2. Pass --data-dir DIR (API: { dataDir: DIR }) for a directory holding the files',
      '  3. Set TORCHLET_DATA=DIR',
      `  4. Copy the files into the cache dir ${cacheDir}`,
      `  5. Run \`torchlet data --download\` with network access (mirror ${mirror}; override with TORCHLET_MIRROR)`,
    );
    super(lines.join('\n'));
    this.name = 'FashionMNISTNotFoundError';
    this.tried = tried;
    if (downloadError) this.downloadError = downloadError;
  }
}

export interface DownloadOptions {
  /** Base URL the four .gz files are fetched from (default `$TORCHLET_MIRROR` or FASHION_MNIST_MIRROR). */
  mirror?: string;
  /** Target directory (default: the cache dir). */
  dir?: string;
  /** Environment for TORCHLET_MIRROR / XDG_CACHE_HOME (default process.env). */
  env?: Env;
  /** Expected SHA-256 per .gz file name (default FASHION_MNIST_SHA256). */
  sha256?: Readonly<Record<string, string>>;
  /** Abort a file whose transfer stalls for this long (default 30 s). */
  idleTimeoutMs?: number;
  /** Progress messages (default: none). */
  log?: (message: string) => void;
}

/** Mirror URL from options / env, always ending in '/'. */
export function fashionMNISTMirror(options: { mirror?: string; env?: Env } = {}): string {
  const env = options.env ?? process.env;
  const m = options.mirror ?? (env.TORCHLET_MIRROR && env.TORCHLET_MIRROR.length > 0 ? env.TORCHLET_MIRROR : FASHION_MNIST_MIRROR);
  return m.endsWith('/') ? m : m + '/';
}

function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** Fetch `url` into `dest` atomically, verifying SHA-256 before the rename. */
async function downloadFile(url: string, dest: string, expectedSha: string | undefined, idleTimeoutMs: number): Promise<void> {
  const tmp = `${dest}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => controller.abort(new Error(`no data for ${idleTimeoutMs} ms`)), idleTimeoutMs);
  };
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  try {
    arm();
    let res: Response;
    try {
      res = await fetch(url, { signal: controller.signal });
    } catch (err) {
      throw new Error(`${url}: ${describeFetchError(err)}`);
    }
    if (!res.ok || !res.body) throw new Error(`${url}: HTTP ${res.status} ${res.statusText}`);
    const hash = createHash('sha256');
    fh = await open(tmp, 'wx');
    const reader = res.body.getReader();
    let bytes = 0;
    for (;;) {
      arm();
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (err) {
        throw new Error(`${url}: transfer failed after ${bytes} bytes: ${describeFetchError(err)}`);
      }
      if (chunk.done) break;
      hash.update(chunk.value);
      bytes += chunk.value.byteLength;
      await fh.write(chunk.value);
    }
    await fh.sync();
    await fh.close();
    fh = undefined;
    const got = hash.digest('hex');
    if (expectedSha && got !== expectedSha.toLowerCase()) {
      throw new Error(`${url}: SHA-256 mismatch (expected ${expectedSha}, got ${got}, ${bytes} bytes); file discarded`);
    }
    await rename(tmp, dest);
    fsyncDir(dirname(dest)); // make the rename itself durable
  } finally {
    if (timer) clearTimeout(timer);
    if (fh) await fh.close().catch(() => undefined);
    await rm(tmp, { force: true }).catch(() => undefined);
  }
}

function describeFetchError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = (err as Error & { cause?: unknown }).cause;
  if (cause instanceof Error && cause.message && cause.message !== err.message) return `${err.message} (${cause.message})`;
  return err.message;
}


/**
 * Download the four .gz files into `dir` (default: the cache dir), skipping files that are
 * already there with the right hash. Returns the file paths.
 */
export async function downloadFashionMNIST(options: DownloadOptions = {}): Promise<FashionMNISTFiles> {
  const env = options.env ?? process.env;
  const dir = options.dir ?? fashionMNISTCacheDir(env);
  const mirror = fashionMNISTMirror(options);
  const hashes = options.sha256 ?? FASHION_MNIST_SHA256;
  const log = options.log ?? (() => undefined);
  await mkdir(dir, { recursive: true });
  const files: Partial<FashionMNISTFiles> = {};
  for (const key of FILE_KEYS) {
    const name = FASHION_MNIST_FILES[key] + '.gz';
    const dest = join(dir, name);
    const expected = hashes[name];
    if (existsSync(dest) && (!expected || sha256File(dest) === expected.toLowerCase())) {
      log(`${name}: already present in ${dir}`);
      files[key] = dest;
      continue;
    }
    log(`${name}: downloading ${mirror}${name}`);
    await downloadFile(mirror + name, dest, expected, options.idleTimeoutMs ?? 30_000);
    files[key] = dest;
  }
  return files as FashionMNISTFiles;
}

export interface FashionMNISTOptions extends LocateOptions {
  /** Training split (60,000 images) when true (default), test split (10,000) when false. */
  train?: boolean;
}

export interface FashionMNISTLoadOptions extends FashionMNISTOptions {
  /** Download into the cache dir when not found locally (default true). */
  download?: boolean;
  /** Mirror for the download (default `$TORCHLET_MIRROR` or the official one). */
  mirror?: string;
  /** Expected SHA-256 per .gz file (default FASHION_MNIST_SHA256). */
  sha256?: Readonly<Record<string, string>>;
  log?: (message: string) => void;
}

/** One split of Fashion-MNIST in memory: uint8 images [N, 28, 28] and uint8 labels [N]. */
export class FashionMNIST implements ImageDataset {
  readonly train: boolean;
  /** uint8 pixels, row-major [N, 28, 28]. */
  readonly images: Uint8Array;
  /** uint8 class labels 0..9, [N]. */
  readonly labels: Uint8Array;
  readonly length: number;
  readonly height = 28;
  readonly width = 28;
  readonly channels = 1;
  /** The files the split was read from. */
  readonly files: { images: string; labels: string };

  /**
   * Synchronously load from a local copy (never downloads). Throws FashionMNISTNotFoundError
   * listing the places tried and how to get the data. Use `FashionMNIST.load()` to allow a download.
   */
  constructor(options: FashionMNISTOptions = {}) {
    const train = options.train ?? true;
    const loc = locateFashionMNIST(options);
    if (!loc.found) {
      throw new FashionMNISTNotFoundError(loc.tried, options.cacheDir ?? fashionMNISTCacheDir(options.env), fashionMNISTMirror(options));
    }
    const imagesPath = train ? loc.files.trainImages : loc.files.testImages;
    const labelsPath = train ? loc.files.trainLabels : loc.files.testLabels;
    const { images, labels } = readFashionMNISTFiles(imagesPath, labelsPath);
    this.train = train;
    this.images = images;
    this.labels = labels;
    this.length = labels.length;
    this.files = { images: imagesPath, labels: labelsPath };
  }

  /** Locate (or, unless `download: false`, download) and load a split. */
  static async load(options: FashionMNISTLoadOptions = {}): Promise<FashionMNIST> {
    const loc = locateFashionMNIST(options);
    if (loc.found) return new FashionMNIST({ ...options, dataDir: loc.dir });
    if (options.dataDir) throw new FashionMNISTNotFoundError(loc.tried, options.cacheDir ?? fashionMNISTCacheDir(options.env), fashionMNISTMirror(options));
    const cacheDir = options.cacheDir ?? fashionMNISTCacheDir(options.env);
    const mirror = fashionMNISTMirror(options);
    if (options.download === false) throw new FashionMNISTNotFoundError(loc.tried, cacheDir, mirror);
    try {
      await downloadFashionMNIST({ dir: cacheDir, mirror, env: options.env, sha256: options.sha256, log: options.log });
    } catch (err) {
      throw new FashionMNISTNotFoundError(loc.tried, cacheDir, mirror, err instanceof Error ? err : new Error(String(err)));
    }
    return new FashionMNIST({ ...options, dataDir: cacheDir });
  }

  /** Image `i` (a 28x28 view) and its label. */
  get(i: number): { image: Uint8Array; label: number } {
    if (!Number.isInteger(i) || i < 0 || i >= this.length) throw new RangeError(`index ${i} out of range [0, ${this.length})`);
    const n = 28 * 28;
    return { image: this.images.subarray(i * n, (i + 1) * n), label: this.labels[i] };
  }

  /** [N, 28, 28] */
  get shape(): [number, number, number] {
    return [this.length, 28, 28];
  }
}

/** Read and cross-check an images/labels pair of Fashion-MNIST files. */
export function readFashionMNISTFiles(imagesPath: string, labelsPath: string): { images: Uint8Array; labels: Uint8Array } {
  // Each file is read once. Both headers come first: a pair that disagrees is refused before
  // either body is inflated (and each body must then match its header exactly).
  const imgBytes = readIdxBytes(imagesPath);
  const labBytes = readIdxBytes(labelsPath);
  const imgHead = readIdxHeader(imgBytes, imagesPath, FASHION_MNIST_IMAGES_EXPECT);
  const labHead = readIdxHeader(labBytes, labelsPath, FASHION_MNIST_LABELS_EXPECT);
  checkFashionMNISTPair(imgHead.shape[0], labHead.shape[0], { images: basename(imagesPath), labels: basename(labelsPath) });
  const images = parseIdx(imgBytes, imagesPath, FASHION_MNIST_IMAGES_EXPECT).data as Uint8Array;
  const labels = parseIdx(labBytes, labelsPath, FASHION_MNIST_LABELS_EXPECT).data as Uint8Array;
  checkFashionMNISTLabels(labels, labelsPath);
  return { images, labels };
}
