/**
 * The `cpu` backend: kernels in a native addon (build/Release/torchlet_cpu.node)
 * over oneDNN, the library PyTorch's CPU convolutions use.
 *
 * The addon works directly on the Float32Array memory of its arguments: this
 * module allocates each output and hands it to native code, which writes it in
 * place. oneDNN primitives are created once per shape and cached natively.
 * Kernels the addon lacks, and tensors too small for a native call to pay off,
 * run on the reference kernels.
 *
 * If the addon is missing (no compiler or no libdnnl at install time) the
 * loader returns null and the registry keeps using `reference`.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type {
  ActivationOp, AdamDesc, Backend, BatchNormDesc, BinaryOp, Buf, Conv2dDesc, Kernels, MatmulDesc,
  Pool2dDesc, ReduceOp, SgdDesc, UnaryOp,
} from '../kernels.js';
import { referenceKernels as ref } from '../reference/index.js';

/** The addon's exports (see native/*.cc for the argument order). */
export interface CpuNative {
  version(): { major: number; minor: number; patch: number; hash: string; cpuRuntime: string };
  getNumThreads(): number;
  setNumThreads(n: number): void;
  lastImpl(): string;
  /**
   * Force how convolutions run ('blocked': oneDNN layouts + reorders; 'direct': im2col + packed
   * product in NCHW, for few-channel shapes; 'plain': oneDNN on NCHW) or time blocked against
   * direct per shape ('auto', the default); returns the previous mode.
   */
  setConvLayout(mode: 'auto' | 'plain' | 'blocked' | 'direct'): string;
  convTuning(): Array<{ op: number; layout: 'plain' | 'blocked' | 'direct' | null; blockedMs: number | null; directMs: number | null; calls: number }>;
  /** Drop the cached primitives (they are rebuilt on demand). */
  clearCache(): void;
  cacheSize(): number;
  eltwiseForward(x: Buf, y: Buf, code: number, alpha: number, beta: number): void;
  eltwiseBackward(y: Buf, dy: Buf, dx: Buf, code: number): void;
  clamp(x: Buf, y: Buf, min: number, max: number): void;
  binaryForward(a: Buf, aDims: number[], b: Buf, bDims: number[], out: Buf, code: number): void;
  binaryLoop(a: Buf, aDims: number[], b: Buf, bDims: number[], out: Buf, outDims: number[], code: number): void;
  reduceSum(x: Buf, dims: number[], out: Buf, outDims: number[]): void;
  sgdStep(param: Buf, grad: Buf, momentumBuf: Buf | null, lr: number, momentum: number, dampening: number,
    weightDecay: number, nesterov: boolean, maximize: boolean): void;
  adamStep(param: Buf, grad: Buf, m: Buf, v: Buf, lr: number, beta1: number, beta2: number, eps: number,
    weightDecay: number, decoupled: boolean, step: number): void;
  conv2dForward(x: Buf, w: Buf, bias: Buf | null, y: Buf, n: number, c: number, h: number, wd: number, oc: number,
    kh: number, kw: number, sh: number, sw: number, ph: number, pw: number, oh: number, ow: number, act: number): void;
  conv2dBackwardData(dy: Buf, w: Buf, dx: Buf, n: number, c: number, h: number, wd: number, oc: number,
    kh: number, kw: number, sh: number, sw: number, ph: number, pw: number, oh: number, ow: number): void;
  conv2dBackwardWeight(x: Buf, dy: Buf, dw: Buf, db: Buf | null, n: number, c: number, h: number, wd: number,
    oc: number, kh: number, kw: number, sh: number, sw: number, ph: number, pw: number, oh: number, ow: number): void;
  pool2dForward(x: Buf, y: Buf, kind: number, n: number, c: number, h: number, w: number,
    kh: number, kw: number, sh: number, sw: number, ph: number, pw: number, oh: number, ow: number): void;
  maxPool2dForwardIndices(x: Buf, y: Buf, idx: Int32Array, kind: 0, n: number, c: number, h: number, w: number,
    kh: number, kw: number, sh: number, sw: number, ph: number, pw: number, oh: number, ow: number): void;
  maxPool2dBackwardIndices(dy: Buf, idx: Int32Array, dx: Buf, planes: number, hw: number, ohw: number): void;
  pool2dBackward(x: Buf, dy: Buf, dx: Buf, kind: number, n: number, c: number, h: number, w: number,
    kh: number, kw: number, sh: number, sw: number, ph: number, pw: number, oh: number, ow: number): void;
  batchNormTrain(x: Buf, gamma: Buf, beta: Buf, y: Buf, mean: Buf, variance: Buf, n: number, c: number, spatial: number, eps: number): void;
  batchNormInference(x: Buf, gamma: Buf, beta: Buf, mean: Buf, variance: Buf, y: Buf, n: number, c: number, spatial: number, eps: number): void;
  batchNormBackward(x: Buf, dy: Buf, gamma: Buf, mean: Buf, variance: Buf, dx: Buf, dgamma: Buf, dbeta: Buf,
    n: number, c: number, spatial: number, eps: number): void;
  softmaxForward(x: Buf, y: Buf, rows: number, cols: number, log: boolean): void;
  softmaxBackward(y: Buf, dy: Buf, dx: Buf, rows: number, cols: number, log: boolean): void;
  matmul(a: Buf, b: Buf, c: Buf, batch: number, m: number, k: number, n: number, transA: boolean, transB: boolean): void;
}

const ADDON = 'build/Release/torchlet_cpu.node';

/** Where the addon should be: TORCHLET_NATIVE_PATH, else build/Release under the package root. */
export function nativeAddonPath(): string | null {
  const forced = process.env.TORCHLET_NATIVE_PATH;
  if (forced) return path.resolve(forced);
  // Compiled: <root>/dist/src/backend/cpu/index.js; from source: <root>/src/backend/cpu/index.ts.
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, ADDON);
    if (existsSync(candidate)) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return null;
}

let nativeCache: CpuNative | null | undefined;
let loadError: string | null = null;

/** The raw addon, or null when it is not built or fails to load (see nativeLoadError()). */
export function loadNative(): CpuNative | null {
  if (nativeCache !== undefined) return nativeCache;
  nativeCache = null;
  const file = nativeAddonPath();
  if (!file) {
    loadError = `${ADDON} not found (run \`npm run build:native\`; needs libdnnl-dev and a C++ compiler)`;
    return null;
  }
  try {
    const require = createRequire(import.meta.url);
    nativeCache = require(file) as CpuNative;
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    loadError = `failed to load ${file}: ${msg.split('\n')[0]}`;
  }
  return nativeCache;
}

/** Why loadNative() returned null, if it did. */
export function nativeLoadError(): string | null {
  return loadError;
}

// ---------------------------------------------------------------- helpers

/**
 * Below this many elements a call into native code (argument checks, a cached
 * primitive's execute, thread wake-up) costs more than the JS loop it replaces.
 */
export const SMALL = 1024;

/**
 * An output buffer the kernel overwrites entirely, so it need not be zero-filled. Large ones skip
 * calloc's memset: malloc hands back memory freed by earlier steps (up to glibc's 32 MB mmap limit).
 */
function alloc(n: number): Float32Array {
  if (n < 16384) return new Float32Array(n);
  const b = Buffer.allocUnsafeSlow(n * 4);
  return new Float32Array(b.buffer, b.byteOffset, n);
}

function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

const unaryCodes: Partial<Record<UnaryOp, [code: number, alpha: number, beta: number]>> = {
  relu: [0, 0, 0],
  sigmoid: [1, 0, 0],
  tanh: [2, 0, 0],
  exp: [3, 0, 0],
  log: [4, 0, 0],
  sqrt: [5, 0, 0],
  abs: [6, 0, 0],
  neg: [7, -1, 0],
  square: [8, 0, 0],
};

const activationCodes: Record<ActivationOp, number> = { relu: 0, sigmoid: 1, tanh: 2 };

const binaryCodes: Record<BinaryOp, number> = {
  add: 0, sub: 1, mul: 2, div: 3, maximum: 4, minimum: 5, eq: 6, ne: 7, lt: 8, le: 9, gt: 10, ge: 11, pow: 12,
};

/**
 * Ops that go to oneDNN's binary primitive (which broadcasts its second operand only), and
 * their mirror (a∘b == b∘'a) when only the first operand is full-size. Maximum, minimum and the
 * comparisons stay in the addon's own loop: oneDNN's versions treat NaN differently.
 */
const viaOneDnn: Partial<Record<BinaryOp, BinaryOp | null>> = { add: 'add', mul: 'mul', sub: null, div: null };

/** Merge adjacent axes that are all reduced or all kept (as the reference kernel does). */
function mergeAxes(shape: readonly number[], axes: readonly number[]): { dims: number[]; out: number[] } {
  const dims: number[] = [];
  const out: number[] = [];
  let last: boolean | null = null;
  shape.forEach((d, i) => {
    if (d === 1) return; // size-1 axes are neutral
    const r = axes.includes(i);
    if (last === r) {
      dims[dims.length - 1] *= d;
      if (!r) out[out.length - 1] *= d;
    } else {
      dims.push(d);
      out.push(r ? 1 : d);
      last = r;
    }
  });
  if (dims.length === 0) {
    dims.push(1);
    out.push(1);
  }
  return { dims, out };
}

/** Drop size-1 axes common to every operand and merge runs of axes with the same broadcast pattern. */
function mergeBroadcast(aShape: readonly number[], bShape: readonly number[], outShape: readonly number[]):
  { a: number[]; b: number[]; out: number[] } {
  const a: number[] = [];
  const b: number[] = [];
  const out: number[] = [];
  let lastKind = -1;
  for (let i = 0; i < outShape.length; i++) {
    const o = outShape[i];
    if (o === 1) continue;
    const kind = (aShape[i] === o ? 1 : 0) | (bShape[i] === o ? 2 : 0);
    if (kind === lastKind) {
      const j = out.length - 1;
      out[j] *= o;
      a[j] *= aShape[i];
      b[j] *= bShape[i];
    } else {
      out.push(o);
      a.push(aShape[i]);
      b.push(bShape[i]);
      lastKind = kind;
    }
  }
  if (out.length === 0) return { a: [1], b: [1], out: [1] };
  return { a, b, out };
}

// ---------------------------------------------------------------- kernels

function makeKernels(nat: CpuNative): Partial<Kernels> {
  const poolKind = (d: Pool2dDesc): number => (d.kind === 'max' ? 0 : d.countIncludePad ? 1 : 2);
  // Zero-sized problems (which oneDNN rejects) take the reference path.
  const anyZero = (...dims: number[]): boolean => dims.some((v) => v <= 0);
  const emptyConv = (d: Conv2dDesc): boolean => anyZero(d.n, d.c, d.h, d.w, d.oc, d.oh, d.ow);

  const kernels: Partial<Kernels> = {
    unary(op: UnaryOp, x: Buf): Buf {
      const c = unaryCodes[op];
      if (!c || x.length < SMALL) return ref.unary(op, x);
      const y = alloc(x.length);
      nat.eltwiseForward(x, y, c[0], c[1], c[2]);
      return y;
    },

    activationBackward(op: ActivationOp, x: Buf, y: Buf, dy: Buf): Buf {
      if (dy.length < SMALL) return ref.activationBackward(op, x, y, dy);
      const dx = alloc(dy.length);
      nat.eltwiseBackward(y, dy, dx, activationCodes[op]);
      return dx;
    },

    binary(op: BinaryOp, a: Buf, aShape: readonly number[], b: Buf, bShape: readonly number[], outShape: readonly number[]): Buf {
      const size = sizeOf(outShape);
      if (size < SMALL) return ref.binary(op, a, aShape, b, bShape, outShape);
      const m = mergeBroadcast(aShape, bShape, outShape);
      const out = alloc(size);
      const mirror = viaOneDnn[op];
      if (mirror !== undefined && a.length === size) {
        nat.binaryForward(a, m.a, b, m.b, out, binaryCodes[op]);
      } else if (mirror && b.length === size) {
        nat.binaryForward(b, m.b, a, m.a, out, binaryCodes[mirror]);
      } else {
        nat.binaryLoop(a, m.a, b, m.b, out, m.out, binaryCodes[op]);
      }
      return out;
    },

    clamp(x: Buf, min: number, max: number): Buf {
      if (x.length < SMALL) return ref.clamp(x, min, max);
      const y = alloc(x.length);
      nat.clamp(x, y, min, max);
      return y;
    },

    affine(x: Buf, scale: number, shift: number): Buf {
      if (x.length < SMALL) return ref.affine(x, scale, shift);
      const y = alloc(x.length);
      nat.eltwiseForward(x, y, 7, scale, shift);
      return y;
    },

    reduce(op: ReduceOp, x: Buf, shape: readonly number[], axes: readonly number[]): Buf {
      // max / min stay on the reference (rare in training; NaN rules).
      if (op !== 'sum' || x.length < SMALL || axes.length === 0) return ref.reduce(op, x, shape, axes);
      const { dims, out } = mergeAxes(shape, axes);
      if (sizeOf(out) === x.length) return ref.reduce(op, x, shape, axes);
      const y = alloc(sizeOf(out));
      nat.reduceSum(x, dims, y, out);
      return y;
    },

    matmul(a: Buf, b: Buf, d: MatmulDesc): Buf {
      const c = alloc(d.batch * d.m * d.n);
      if (c.length === 0) return c;
      if (d.k === 0) return new Float32Array(c.length);
      nat.matmul(a, b, c, d.batch, d.m, d.k, d.n, d.transA, d.transB);
      return c;
    },

    conv2d(x: Buf, w: Buf, bias: Buf | null, d: Conv2dDesc): Buf {
      if (emptyConv(d)) return ref.conv2d(x, w, bias, d);
      const y = alloc(d.n * d.oc * d.oh * d.ow);
      const act = d.activation ? activationCodes[d.activation] + 1 : 0;
      nat.conv2dForward(x, w, bias, y, d.n, d.c, d.h, d.w, d.oc, d.kh, d.kw, d.sh, d.sw, d.ph, d.pw, d.oh, d.ow, act);
      return y;
    },

    conv2dBackwardData(dy: Buf, w: Buf, d: Conv2dDesc): Buf {
      if (emptyConv(d)) return ref.conv2dBackwardData(dy, w, d);
      const dx = alloc(d.n * d.c * d.h * d.w);
      nat.conv2dBackwardData(dy, w, dx, d.n, d.c, d.h, d.w, d.oc, d.kh, d.kw, d.sh, d.sw, d.ph, d.pw, d.oh, d.ow);
      return dx;
    },

    conv2dBackwardWeight(x: Buf, dy: Buf, d: Conv2dDesc, withBias: boolean): { dw: Buf; db: Buf | null } {
      if (emptyConv(d)) return ref.conv2dBackwardWeight(x, dy, d, withBias);
      const dw = alloc(d.oc * d.c * d.kh * d.kw);
      const db = withBias ? new Float32Array(d.oc) : null;
      nat.conv2dBackwardWeight(x, dy, dw, db, d.n, d.c, d.h, d.w, d.oc, d.kh, d.kw, d.sh, d.sw, d.ph, d.pw, d.oh, d.ow);
      return { dw, db };
    },

    pool2d(x: Buf, d: Pool2dDesc): Buf {
      if (anyZero(d.n, d.c, d.h, d.w, d.oh, d.ow)) return ref.pool2d(x, d);
      const y = alloc(d.n * d.c * d.oh * d.ow);
      if (d.kind === 'max') {
        // Keep where each maximum was (PyTorch's "indices"), so the backward only scatters.
        const idx = new Int32Array(y.length);
        nat.maxPool2dForwardIndices(x, y, idx, 0, d.n, d.c, d.h, d.w, d.kh, d.kw, d.sh, d.sw, d.ph, d.pw, d.oh, d.ow);
        maxPoolIndices.set(y, { idx, key: poolKey(x, d) });
        return y;
      }
      nat.pool2dForward(x, y, poolKind(d), d.n, d.c, d.h, d.w, d.kh, d.kw, d.sh, d.sw, d.ph, d.pw, d.oh, d.ow);
      return y;
    },

    pool2dBackward(x: Buf, y: Buf, dy: Buf, d: Pool2dDesc): Buf {
      if (anyZero(d.n, d.c, d.h, d.w, d.oh, d.ow)) return ref.pool2dBackward(x, y, dy, d);
      const dx = alloc(d.n * d.c * d.h * d.w);
      const saved = d.kind === 'max' ? maxPoolIndices.get(y) : undefined;
      if (saved && saved.key === poolKey(x, d)) {
        nat.maxPool2dBackwardIndices(dy, saved.idx, dx, d.n * d.c, d.h * d.w, d.oh * d.ow);
        return dx;
      }
      nat.pool2dBackward(x, dy, dx, poolKind(d), d.n, d.c, d.h, d.w, d.kh, d.kw, d.sh, d.sw, d.ph, d.pw, d.oh, d.ow);
      return dx;
    },

    batchNormTrain(x: Buf, gamma: Buf, beta: Buf, d: BatchNormDesc): { y: Buf; mean: Buf; variance: Buf } {
      if (anyZero(d.n, d.c, d.spatial)) return ref.batchNormTrain(x, gamma, beta, d);
      const y = alloc(x.length);
      const mean = new Float32Array(d.c);
      const variance = new Float32Array(d.c);
      nat.batchNormTrain(x, gamma, beta, y, mean, variance, d.n, d.c, d.spatial, d.eps);
      return { y, mean, variance };
    },

    batchNormInference(x: Buf, gamma: Buf, beta: Buf, mean: Buf, variance: Buf, d: BatchNormDesc): Buf {
      if (anyZero(d.n, d.c, d.spatial)) return ref.batchNormInference(x, gamma, beta, mean, variance, d);
      const y = alloc(x.length);
      nat.batchNormInference(x, gamma, beta, mean, variance, y, d.n, d.c, d.spatial, d.eps);
      return y;
    },

    batchNormBackward(x: Buf, dy: Buf, gamma: Buf, mean: Buf, variance: Buf, d: BatchNormDesc): { dx: Buf; dgamma: Buf; dbeta: Buf } {
      if (anyZero(d.n, d.c, d.spatial)) return ref.batchNormBackward(x, dy, gamma, mean, variance, d);
      const dx = alloc(x.length);
      const dgamma = new Float32Array(d.c);
      const dbeta = new Float32Array(d.c);
      nat.batchNormBackward(x, dy, gamma, mean, variance, dx, dgamma, dbeta, d.n, d.c, d.spatial, d.eps);
      return { dx, dgamma, dbeta };
    },

    logSoftmax(x: Buf, rows: number, cols: number): Buf {
      if (x.length < SMALL) return ref.logSoftmax(x, rows, cols);
      const y = alloc(x.length);
      nat.softmaxForward(x, y, rows, cols, true);
      return y;
    },

    logSoftmaxBackward(y: Buf, dy: Buf, rows: number, cols: number): Buf {
      if (y.length < SMALL) return ref.logSoftmaxBackward(y, dy, rows, cols);
      const dx = alloc(y.length);
      nat.softmaxBackward(y, dy, dx, rows, cols, true);
      return dx;
    },

    softmax(x: Buf, rows: number, cols: number): Buf {
      if (x.length < SMALL) return ref.softmax(x, rows, cols);
      const y = alloc(x.length);
      nat.softmaxForward(x, y, rows, cols, false);
      return y;
    },

    softmaxBackward(y: Buf, dy: Buf, rows: number, cols: number): Buf {
      if (y.length < SMALL) return ref.softmaxBackward(y, dy, rows, cols);
      const dx = alloc(y.length);
      nat.softmaxBackward(y, dy, dx, rows, cols, false);
      return dx;
    },

    sgdStepInplace(param: Buf, grad: Buf, momentumBuf: Buf | null, d: SgdDesc): void {
      if (param.length < SMALL) return ref.sgdStepInplace(param, grad, momentumBuf, d);
      nat.sgdStep(param, grad, momentumBuf, d.lr, d.momentum, d.dampening, d.weightDecay, d.nesterov, Boolean(d.maximize));
    },

    adamStepInplace(param: Buf, grad: Buf, m: Buf, v: Buf, d: AdamDesc): void {
      if (param.length < SMALL) return ref.adamStepInplace(param, grad, m, v, d);
      nat.adamStep(param, grad, m, v, d.lr, d.beta1, d.beta2, d.eps, d.weightDecay, d.decoupled, d.step);
    },
  };
  return kernels;
}

/**
 * Argmax positions of each max-pool output, keyed by the output buffer the
 * backward receives back (entries die with the activation). The key guards
 * against a backward called with another input or geometry.
 */
const maxPoolIndices = new WeakMap<Float32Array, { idx: Int32Array; key: string }>();
const inputIds = new WeakMap<Float32Array, number>();
let nextInputId = 1;
function poolKey(x: Float32Array, d: Pool2dDesc): string {
  let id = inputIds.get(x);
  if (id === undefined) {
    id = nextInputId++;
    inputIds.set(x, id);
  }
  return `${id}:${d.n},${d.c},${d.h},${d.w},${d.kh},${d.kw},${d.sh},${d.sw},${d.ph},${d.pw}`;
}

/** Build the backend around a loaded addon; honours TORCHLET_NUM_THREADS. */
export function createCpuBackend(nat: CpuNative): Backend {
  const env = process.env.TORCHLET_NUM_THREADS;
  if (env) {
    const n = Number.parseInt(env, 10);
    if (Number.isInteger(n) && n > 0) nat.setNumThreads(n);
  }
  const v = nat.version();
  return {
    name: 'cpu',
    describe: () => {
      const t = nat.getNumThreads();
      return `cpu (oneDNN ${v.major}.${v.minor}.${v.patch}, ${t} thread${t === 1 ? '' : 's'})`;
    },
    kernels: makeKernels(nat),
    setNumThreads: (n: number) => nat.setNumThreads(Math.max(1, Math.floor(n))),
  };
}

let backend: Backend | null | undefined;

/** Loader for the registry: the cpu backend, or null when the addon is unavailable. */
export function loadCpuBackend(): Backend | null {
  if (backend !== undefined) return backend;
  const nat = loadNative();
  backend = nat ? createCpuBackend(nat) : null;
  return backend;
}
