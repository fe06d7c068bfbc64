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
import { RAW_INPUT_KERNELS } from '../kernels.js';
import type {
  ActivationOp, AdamDesc, Backend, BatchNormDesc, BinaryOp, Buf, Conv2dDesc, Kernels, MatmulDesc,
  Pool2dDesc, ReduceOp, SgdDesc, UnaryOp,
} from '../kernels.js';
import { referenceKernels as ref } from '../reference/index.js';
import { layoutOf, markLayout, plainOf, sameLayout, type ForeignLayout } from '../layout.js';

/** The addon's exports (see native/*.cc for the argument order). */
export interface CpuNative {
  version(): { major: number; minor: number; patch: number; hash: string; cpuRuntime: string };
  getNumThreads(): number;
  setNumThreads(n: number): void;
  lastImpl(): string;
  /**
   * Force how convolutions run ('blocked': oneDNN's direct algorithm in its preferred layouts;
   * 'direct': im2col + packed product in NCHW, for few-channel shapes; 'winograd': oneDNN's
   * Winograd F(4x4,3x3) for 3x3 stride-1 kernels; 'plain': oneDNN on NCHW), or time the plans a
   * shape is offered and keep the fastest ('auto', the default); returns the previous mode.
   */
  setConvLayout(mode: 'auto' | 'plain' | 'blocked' | 'direct' | 'winograd'): string;
  convTuning(): Array<{
    op: number; layout: 'plain' | 'blocked' | 'direct' | 'winograd' | null;
    blockedMs: number | null; directMs: number | null; winogradMs: number | null; calls: number;
  }>;
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
  /** xBlock: x's channel block (0 plain NCHW, 8, 16); returns the block y was written in (0 unless allowBlockedOut). */
  conv2dForward(x: Buf, w: Buf, bias: Buf | null, y: Buf, n: number, c: number, h: number, wd: number, oc: number,
    kh: number, kw: number, sh: number, sw: number, ph: number, pw: number, oh: number, ow: number, act: number,
    xBlock?: number, allowBlockedOut?: boolean): number;
  conv2dBackwardData(dy: Buf, w: Buf, dx: Buf, n: number, c: number, h: number, wd: number, oc: number,
    kh: number, kw: number, sh: number, sw: number, ph: number, pw: number, oh: number, ow: number,
    dyBlock?: number, allowBlockedOut?: boolean): number;
  conv2dBackwardWeight(x: Buf, dy: Buf, dw: Buf, db: Buf | null, n: number, c: number, h: number, wd: number,
    oc: number, kh: number, kw: number, sh: number, sw: number, ph: number, pw: number, oh: number, ow: number,
    xBlock?: number, dyBlock?: number): void;
  /** Copies an NCHW activation between channel-block layouts (0 plain, 8, 16). */
  reorderActivation(src: Buf, srcBlock: number, dst: Buf, dstBlock: number, n: number, c: number, h: number, w: number): void;
  /** Average pooling (kind 1 or 2) of channel-blocked x into y, same layout. */
  avgPoolBlockedForward(x: Buf, y: Buf, kind: number, n: number, c: number, h: number, w: number,
    kh: number, kw: number, sh: number, sw: number, ph: number, pw: number, oh: number, ow: number, block: number): void;
  avgPoolBlockedBackward(dy: Buf, dyBlock: number, dx: Buf, kind: number, n: number, c: number, h: number, w: number,
    kh: number, kw: number, sh: number, sw: number, ph: number, pw: number, oh: number, ow: number, block: number): void;
  /** Max pooling of channel-blocked x into y with argmax indices (in-plane offsets), all in the block layout. */
  maxPoolBlockedForward(x: Buf, y: Buf, idx: Int32Array, n: number, c: number, h: number, w: number,
    kh: number, kw: number, sh: number, sw: number, ph: number, pw: number, oh: number, ow: number, block: number): void;
  maxPoolBlockedBackward(dy: Buf, idx: Int32Array, dx: Buf, planes: number, hw: number, ohw: number, block: number): void;
  pool2dForward(x: Buf, y: Buf, kind: number, n: number, c: number, h: number, w: number,
    kh: number, kw: number, sh: number, sw: number, ph: number, pw: number, oh: number, ow: number): void;
  maxPool2dForwardIndices(x: Buf, y: Buf, idx: Int32Array, kind: 0, n: number, c: number, h: number, w: number,
    kh: number, kw: number, sh: number, sw: number, ph: number, pw: number, oh: number, ow: number): void;
  maxPool2dBackwardIndices(dy: Buf, idx: Int32Array, dx: Buf, planes: number, hw: number, ohw: number): void;
  pool2dBackward(x: Buf, dy: Buf, dx: Buf, kind: number, n: number, c: number, h: number, w: number,
    kh: number, kw: number, sh: number, sw: number, ph: number, pw: number, oh: number, ow: number): void;
  /** act: 0 none, 1 relu, 2 sigmoid, 3 tanh, applied to y. */
  batchNormTrain(x: Buf, gamma: Buf, beta: Buf, y: Buf, mean: Buf, variance: Buf, n: number, c: number, spatial: number, eps: number, act?: number): void;
  batchNormInference(x: Buf, gamma: Buf, beta: Buf, mean: Buf, variance: Buf, y: Buf, n: number, c: number, spatial: number, eps: number, act?: number): void;
  /** With act, dy is the gradient of y = act(bn(x)) and y must be given. */
  batchNormBackward(x: Buf, dy: Buf, gamma: Buf, mean: Buf, variance: Buf, dx: Buf, dgamma: Buf, dbeta: Buf,
    n: number, c: number, spatial: number, eps: number, act?: number, y?: Buf): void;
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

/**
 * Whether kernels may leave activations in oneDNN's channel-blocked layout for the next kernel
 * (TORCHLET_BLOCKED_ACTIVATIONS=0 turns it off: every kernel then returns plain NCHW).
 */
const keepBlocked = process.env.TORCHLET_BLOCKED_ACTIVATIONS !== '0';

function sameDims(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Run an elementwise kernel on same-layout inputs as they are (the output takes their layout), or on row-major copies. */
function elementwise(inputs: Buf[], run: (...xs: Buf[]) => Buf): Buf {
  const l = layoutOf(inputs[0]);
  if (l && inputs.every((b) => sameLayout(layoutOf(b), l))) {
    const out = run(...inputs);
    markLayout(out, l);
    return out;
  }
  return run(...inputs.map(plainOf));
}

/** An activation input as [buffer, channel block]: blocked as it is when its layout has these dims, else row-major. */
function activationIn(buf: Buf, dims: readonly number[]): [Buf, number] {
  const l = layoutOf(buf);
  if (l && sameDims(l.dims, dims)) return [buf, l.block];
  return [plainOf(buf), 0];
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
  const bnAct = (d: BatchNormDesc): number => (d.activation ? activationCodes[d.activation] + 1 : 0);
  const poolKind = (d: Pool2dDesc): number => (d.kind === 'max' ? 0 : d.countIncludePad ? 1 : 2);
  // Zero-sized problems (which oneDNN rejects) take the reference path.
  const anyZero = (...dims: number[]): boolean => dims.some((v) => v <= 0);
  const emptyConv = (d: Conv2dDesc): boolean => anyZero(d.n, d.c, d.h, d.w, d.oc, d.oh, d.ow);

  function binaryRowMajor(op: BinaryOp, a: Buf, aShape: readonly number[], b: Buf, bShape: readonly number[], outShape: readonly number[]): Buf {
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
  }

  const kernels: Partial<Kernels> = {
    unary(op: UnaryOp, xIn: Buf): Buf {
      return elementwise([xIn], (x) => {
        const c = unaryCodes[op];
        if (!c || x.length < SMALL) return ref.unary(op, x);
        const y = alloc(x.length);
        nat.eltwiseForward(x, y, c[0], c[1], c[2]);
        return y;
      });
    },

    activationBackward(op: ActivationOp, xIn: Buf, yIn: Buf, dyIn: Buf): Buf {
      return elementwise([xIn, yIn, dyIn], (x, y, dy) => {
        if (dy.length < SMALL) return ref.activationBackward(op, x, y, dy);
        const dx = alloc(dy.length);
        nat.eltwiseBackward(y, dy, dx, activationCodes[op]);
        return dx;
      });
    },

    binary(op: BinaryOp, aIn: Buf, aShape: readonly number[], bIn: Buf, bShape: readonly number[], outShape: readonly number[]): Buf {
      // Same shapes: elementwise, so operands in one blocked layout stay in it.
      if (sameDims(aShape, bShape) && sameDims(aShape, outShape)) {
        return elementwise([aIn, bIn], (a, b) => binaryRowMajor(op, a, aShape, b, bShape, outShape));
      }
      return binaryRowMajor(op, plainOf(aIn), aShape, plainOf(bIn), bShape, outShape);
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

    conv2d(xIn: Buf, w: Buf, bias: Buf | null, d: Conv2dDesc): Buf {
      if (emptyConv(d)) return ref.conv2d(plainOf(xIn), w, bias, d);
      const [x, xBlock] = activationIn(xIn, [d.n, d.c, d.h, d.w]);
      const y = alloc(d.n * d.oc * d.oh * d.ow);
      const act = d.activation ? activationCodes[d.activation] + 1 : 0;
      const block = nat.conv2dForward(x, w, bias, y, d.n, d.c, d.h, d.w, d.oc, d.kh, d.kw, d.sh, d.sw, d.ph, d.pw, d.oh, d.ow, act,
        xBlock, keepBlocked);
      if (block) markLayout(y, blockedLayout(nat, [d.n, d.oc, d.oh, d.ow], block));
      return y;
    },

    conv2dBackwardData(dyIn: Buf, w: Buf, d: Conv2dDesc): Buf {
      if (emptyConv(d)) return ref.conv2dBackwardData(plainOf(dyIn), w, d);
      const [dy, dyBlock] = activationIn(dyIn, [d.n, d.oc, d.oh, d.ow]);
      const dx = alloc(d.n * d.c * d.h * d.w);
      const block = nat.conv2dBackwardData(dy, w, dx, d.n, d.c, d.h, d.w, d.oc, d.kh, d.kw, d.sh, d.sw, d.ph, d.pw, d.oh, d.ow,
        dyBlock, keepBlocked);
      if (block) markLayout(dx, blockedLayout(nat, [d.n, d.c, d.h, d.w], block));
      return dx;
    },

    conv2dBackwardWeight(xIn: Buf, dyIn: Buf, d: Conv2dDesc, withBias: boolean): { dw: Buf; db: Buf | null } {
      if (emptyConv(d)) return ref.conv2dBackwardWeight(plainOf(xIn), plainOf(dyIn), d, withBias);
      const [x, xBlock] = activationIn(xIn, [d.n, d.c, d.h, d.w]);
      const [dy, dyBlock] = activationIn(dyIn, [d.n, d.oc, d.oh, d.ow]);
      const dw = alloc(d.oc * d.c * d.kh * d.kw);
      const db = withBias ? new Float32Array(d.oc) : null;
      nat.conv2dBackwardWeight(x, dy, dw, db, d.n, d.c, d.h, d.w, d.oc, d.kh, d.kw, d.sh, d.sw, d.ph, d.pw, d.oh, d.ow, xBlock, dyBlock);
      return { dw, db };
    },

    pool2d(xIn: Buf, d: Pool2dDesc): Buf {
      if (anyZero(d.n, d.c, d.h, d.w, d.oh, d.ow)) return ref.pool2d(plainOf(xIn), d);
      const [xb, block] = activationIn(xIn, [d.n, d.c, d.h, d.w]);
      if (block && d.kind === 'max') {
        // Channel-blocked input: vectorized across the channels of a block; output and indices in that layout.
        const y = alloc(d.n * d.c * d.oh * d.ow);
        const idx = new Int32Array(y.length);
        nat.maxPoolBlockedForward(xb, y, idx, d.n, d.c, d.h, d.w, d.kh, d.kw, d.sh, d.sw, d.ph, d.pw, d.oh, d.ow, block);
        markLayout(y, blockedLayout(nat, [d.n, d.c, d.oh, d.ow], block));
        maxPoolIndices.set(y, { idx, key: poolKey(xb, d) });
        return y;
      }
      if (block && blockedAvgPoolOk(d)) {
        // Average pooling of a blocked input: oneDNN's, output in the same layout.
        const y = alloc(d.n * d.c * d.oh * d.ow);
        nat.avgPoolBlockedForward(xb, y, poolKind(d), d.n, d.c, d.h, d.w, d.kh, d.kw, d.sh, d.sw, d.ph, d.pw, d.oh, d.ow, block);
        markLayout(y, blockedLayout(nat, [d.n, d.c, d.oh, d.ow], block));
        return y;
      }
      const x = plainOf(xIn);
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

    pool2dBackward(xIn: Buf, yIn: Buf, dyIn: Buf, d: Pool2dDesc): Buf {
      if (anyZero(d.n, d.c, d.h, d.w, d.oh, d.ow)) return ref.pool2dBackward(plainOf(xIn), plainOf(yIn), plainOf(dyIn), d);
      const [xb, block] = activationIn(xIn, [d.n, d.c, d.h, d.w]);
      const indices = d.kind === 'max' && block ? maxPoolIndices.get(yIn) : undefined;
      if (indices && indices.key === poolKey(xb, d)) {
        let [dy, dyBlock] = activationIn(dyIn, [d.n, d.c, d.oh, d.ow]);
        if (dyBlock !== block) {
          const t = alloc(dy.length);
          nat.reorderActivation(dy, dyBlock, t, block, d.n, d.c, d.oh, d.ow);
          dy = t;
          dyBlock = block;
        }
        const dx = alloc(d.n * d.c * d.h * d.w);
        nat.maxPoolBlockedBackward(dy, indices.idx, dx, d.n * (d.c / block), d.h * d.w, d.oh * d.ow, block);
        markLayout(dx, blockedLayout(nat, [d.n, d.c, d.h, d.w], block));
        return dx;
      }
      if (block && blockedAvgPoolOk(d)) {
        const [dy, dyBlock] = activationIn(dyIn, [d.n, d.c, d.oh, d.ow]);
        const dx = alloc(d.n * d.c * d.h * d.w);
        nat.avgPoolBlockedBackward(dy, dyBlock, dx, poolKind(d), d.n, d.c, d.h, d.w, d.kh, d.kw, d.sh, d.sw, d.ph, d.pw, d.oh, d.ow, block);
        markLayout(dx, blockedLayout(nat, [d.n, d.c, d.h, d.w], block));
        return dx;
      }
      const x = plainOf(xIn);
      const y = plainOf(yIn);
      const dy = plainOf(dyIn);
      const dx = alloc(d.n * d.c * d.h * d.w);
      const idxSaved = d.kind === 'max' ? maxPoolIndices.get(y) : undefined;
      if (idxSaved && idxSaved.key === poolKey(x, d)) {
        nat.maxPool2dBackwardIndices(dy, idxSaved.idx, dx, d.n * d.c, d.h * d.w, d.oh * d.ow);
        return dx;
      }
      nat.pool2dBackward(x, dy, dx, poolKind(d), d.n, d.c, d.h, d.w, d.kh, d.kw, d.sh, d.sw, d.ph, d.pw, d.oh, d.ow);
      return dx;
    },

    concat(parts: readonly Buf[], dims: readonly number[], outer: number, inner: number): Buf {
      // Along the channels of same-layout blocked activations, whole channel blocks: each image's
      // part is one contiguous run, exactly as in NCHW, so the plain copy applies to the raw bytes.
      const first = layoutOf(parts[0]);
      const ok = first !== null && first.dims.length === 4 && first.dims[0] === outer && first.dims[2] * first.dims[3] === inner &&
        parts.every((p, i) => {
          const l = layoutOf(p);
          return l !== null && l.block === first.block && l.dims[0] === outer && l.dims[1] === dims[i] &&
            l.dims[2] === first.dims[2] && l.dims[3] === first.dims[3] && dims[i] % l.block === 0;
        });
      if (!ok) return ref.concat(parts.map(plainOf), dims, outer, inner);
      const out = ref.concat(parts, dims, outer, inner);
      const total = dims.reduce((a, b) => a + b, 0);
      markLayout(out, blockedLayout(nat, [outer, total, first.dims[2], first.dims[3]], first.block));
      return out;
    },

    slice(x: Buf, outer: number, dim: number, inner: number, start: number, len: number): Buf {
      const l = layoutOf(x);
      const ok = l !== null && l.dims.length === 4 && l.dims[0] === outer && l.dims[1] === dim && l.dims[2] * l.dims[3] === inner &&
        start % l.block === 0 && len % l.block === 0 && len > 0;
      if (!ok) return ref.slice(plainOf(x), outer, dim, inner, start, len);
      const out = ref.slice(x, outer, dim, inner, start, len);
      markLayout(out, blockedLayout(nat, [outer, len, l.dims[2], l.dims[3]], l.block));
      return out;
    },

    batchNormTrain(x: Buf, gamma: Buf, beta: Buf, d: BatchNormDesc): { y: Buf; mean: Buf; variance: Buf } {
      if (anyZero(d.n, d.c, d.spatial)) return ref.batchNormTrain(x, gamma, beta, d);
      const y = alloc(x.length);
      const mean = new Float32Array(d.c);
      const variance = new Float32Array(d.c);
      nat.batchNormTrain(x, gamma, beta, y, mean, variance, d.n, d.c, d.spatial, d.eps, bnAct(d));
      return { y, mean, variance };
    },

    batchNormInference(x: Buf, gamma: Buf, beta: Buf, mean: Buf, variance: Buf, d: BatchNormDesc): Buf {
      if (anyZero(d.n, d.c, d.spatial)) return ref.batchNormInference(x, gamma, beta, mean, variance, d);
      const y = alloc(x.length);
      nat.batchNormInference(x, gamma, beta, mean, variance, y, d.n, d.c, d.spatial, d.eps, bnAct(d));
      return y;
    },

    batchNormBackward(x: Buf, dy: Buf, gamma: Buf, mean: Buf, variance: Buf, d: BatchNormDesc, y?: Buf): { dx: Buf; dgamma: Buf; dbeta: Buf } {
      if (anyZero(d.n, d.c, d.spatial)) return ref.batchNormBackward(x, dy, gamma, mean, variance, d, y);
      if (d.activation && !y) throw new Error('batchNormBackward: a fused activation needs the output y');
      const dx = alloc(x.length);
      const dgamma = new Float32Array(d.c);
      const dbeta = new Float32Array(d.c);
      nat.batchNormBackward(x, dy, gamma, mean, variance, dx, dgamma, dbeta, d.n, d.c, d.spatial, d.eps, bnAct(d), y);
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
/**
 * Average pooling of blocked inputs is oneDNN's, whose window rules match PyTorch's when there is
 * no padding and no window overhangs the input; other average pools take the row-major kernels.
 */
function blockedAvgPoolOk(d: Pool2dDesc): boolean {
  return d.kind === 'avg' && d.ph === 0 && d.pw === 0 && (d.oh - 1) * d.sh + d.kh <= d.h && (d.ow - 1) * d.sw + d.kw <= d.w;
}

const layouts = new Map<string, ForeignLayout>();
/** The (shared, immutable) layout record for a blocked activation of these dims. */
function blockedLayout(nat: CpuNative, dims: readonly number[], block: number): ForeignLayout {
  const key = `${block}:${dims.join(',')}`;
  let l = layouts.get(key);
  if (!l) {
    const [n, c, h, w] = dims;
    l = {
      name: `nChw${block}c [${dims.join(',')}]`,
      block,
      dims: [...dims],
      toPlain: (buf: Float32Array): Float32Array => {
        const out = alloc(buf.length);
        nat.reorderActivation(buf, block, out, 0, n, c, h, w);
        return out;
      },
    };
    if (layouts.size > 4096) layouts.clear();
    layouts.set(key, l);
  }
  return l;
}
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
    layoutAware: RAW_INPUT_KERNELS,
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
