/**
 * Loading the native addon (build/Release/torchlet_cpu.node): oneDNN kernels
 * that work directly on the Float32Array memory of their arguments. Node-only.
 *
 * If the addon is missing (no compiler or no libdnnl at install time) loading
 * returns null, and the cpu device runs on the reference backend.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Buf } from '../kernels.js';

/** The addon's exports (see native/*.cc for the argument order). */
export interface CpuNative {
  version(): { major: number; minor: number; patch: number; hash: string; cpuRuntime: string };
  getNumThreads(): number;
  setNumThreads(n: number): void;
  /** n float32 values of fresh, uninitialised, 64-byte-aligned malloc'd memory. */
  allocHost(n: number): Float32Array;
  /** Free an allocHost buffer now (its views become empty); other arrays are left alone. */
  freeHost(buf: Float32Array): void;
  /** out's row b = lut[images[indices[b] * rowLen + i]] (DataLoader batches; see data/batch.ts). */
  gatherRowsLut(images: Uint8Array, indices: Int32Array, rowLen: number, lut: Float32Array, out: Float32Array): void;
  lastImpl(): string;
  /**
   * Force how convolutions run ('blocked': oneDNN's direct algorithm in its preferred layouts;
   * 'direct': im2col + packed product in NCHW, for few-channel shapes; 'winograd': oneDNN's
   * Winograd F(4x4,3x3) for 3x3 stride-1 kernels; 'plain': oneDNN on NCHW), or time the plans a
   * shape is offered and keep the fastest ('auto', the default); returns the previous mode.
   */
  setConvLayout(mode: 'auto' | 'plain' | 'blocked' | 'direct' | 'winograd'): string;
  /**
   * Whether the direct plan's stride-1 passes put 16 images in each vector's lanes (conv_lanes.cc):
   * for 8 or more images whose values each take part in 64+ products ('auto', the default;
   * TORCHLET_CONV_LANES=0 starts 'off'), never ('off') or for every stride-1 shape ('on', for
   * tests); returns the previous mode.
   */
  setConvLanes(mode: 'auto' | 'off' | 'on'): string;
  /**
   * Bytes the lanes kernels keep between calls, over all threads (they grow to the largest shape
   * run; the tuner frees them when the direct plan loses a shape's race).
   */
  laneBufferBytes(): number;
  releaseLaneBuffers(): void;
  convTuning(): Array<{
    op: number; layout: 'plain' | 'blocked' | 'direct' | 'winograd' | null;
    blockedMs: number | null; directMs: number | null; winogradMs: number | null; calls: number;
  }>;
  /** The convolution plan decided for each shape so far, by hex shape key. */
  convChoices(): Record<string, 'plain' | 'blocked' | 'direct' | 'winograd'>;
  /** Decisions saved by an earlier process (for the current thread count); returns how many were taken. */
  setConvChoices(choices: Record<string, string>): number;
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
  /**
   * Whether conv2dForwardAvgPool (pass 1) or conv2dBackwardWeightAvgPool (pass 3) would run for
   * this shape now (allowBlockedOut: pass 1's, as conv2dForward is called with).
   */
  conv2dAvgPoolReady(pass: 1 | 3, n: number, c: number, h: number, wd: number, oc: number, kh: number, kw: number, sh: number,
    sw: number, ph: number, pw: number, oh: number, ow: number, act: number, withBias: boolean, allowBlockedOut: boolean): boolean;
  /**
   * conv2dForward (x plain) and the 2x2 stride-2 average pool of y into pooled, image by image; runs
   * (true) only where the shape's forward is decided on the direct plan, with allowBlockedOut as
   * conv2dForward is called with; false: nothing written.
   */
  conv2dForwardAvgPool(x: Buf, w: Buf, bias: Buf | null, y: Buf, pooled: Buf, n: number, c: number, h: number, wd: number,
    oc: number, kh: number, kw: number, sh: number, sw: number, ph: number, pw: number, oh: number, ow: number, act: number,
    allowBlockedOut: boolean): boolean;
  /** conv2dForwardAvgPool's weight gradient from the pooled output's (x, y plain); false (nothing written) as that declines. */
  conv2dBackwardWeightAvgPool(x: Buf, y: Buf, dPooled: Buf, dw: Buf, db: Buf | null, n: number, c: number, h: number, wd: number,
    oc: number, kh: number, kw: number, sh: number, sw: number, ph: number, pw: number, oh: number, ow: number, act: number): boolean;
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
  /** out[i] = 1/(1-p) or 0 by the counter-based draw for (seed, i), as reference/values.ts draws it. */
  dropoutMask(out: Buf, p: number, seed: number): void;
  /** maxPoolBlockedBackward / maxPool2dBackwardIndices (block 0) through the ReLU whose output x the pool read: only outputs whose maximum was positive pass. */
  maxPoolReluBackward(dy: Buf, idx: Int32Array, pooled: Buf, x: Buf, dx: Buf, planes: number, hw: number, ohw: number, block: number): void;
  pool2dBackward(x: Buf, dy: Buf, dx: Buf, kind: number, n: number, c: number, h: number, w: number,
    kh: number, kw: number, sh: number, sw: number, ph: number, pw: number, oh: number, ow: number): void;
  /**
   * dx = act'(y) ⊙ the 2x2 stride-2 average pool's gradient of dy; act 0 none (the pool's own
   * gradient), 1 relu, 2 sigmoid, 3 tanh. Plain NCHW, or with yBlock 8 or 16: y and dx are
   * nChw{yBlock}c, and dy plain (dyBlock 0) or in y's blocks.
   */
  avgPoolActivationBackward(y: Buf, dy: Buf, dx: Buf, act: number, n: number, c: number, h: number, w: number, oh: number, ow: number,
    yBlock?: number, dyBlock?: number): void;
  /** act: 0 none, 1 relu, 2 sigmoid, 3 tanh, applied to y. */
  /** With block (8 or 16), x is channel-blocked in that layout and y is written in it too. */
  batchNormTrain(x: Buf, gamma: Buf, beta: Buf, y: Buf, mean: Buf, variance: Buf, n: number, c: number, spatial: number, eps: number,
    act?: number, block?: number): void;
  batchNormInference(x: Buf, gamma: Buf, beta: Buf, mean: Buf, variance: Buf, y: Buf, n: number, c: number, spatial: number, eps: number, act?: number): void;
  /**
   * With act, dy is the gradient of y = act(bn(x)) and y must be given. With block (8 or 16),
   * x, dy, y and dx are all channel-blocked in that layout.
   */
  batchNormBackward(x: Buf, dy: Buf, gamma: Buf, mean: Buf, variance: Buf, dx: Buf, dgamma: Buf, dbeta: Buf,
    n: number, c: number, spatial: number, eps: number, act?: number, y?: Buf, block?: number): void;
  /**
   * batchNormTrain's plain pass with act (0 none, 1 relu, 2 sigmoid) over [n, c, h, w], and each
   * plane's 2x2 stride-2 average pool written to pooled ([n, c, h/2, w/2], rounded down) as it goes.
   */
  batchNormAvgPoolTrain(x: Buf, gamma: Buf, beta: Buf, y: Buf, pooled: Buf, mean: Buf, variance: Buf, n: number, c: number,
    h: number, w: number, eps: number, act: number): void;
  /** batchNormBackward (plain) of batchNormAvgPoolTrain's pooled output, from its gradient dPooled and y. */
  batchNormAvgPoolBackward(x: Buf, dPooled: Buf, y: Buf, gamma: Buf, mean: Buf, variance: Buf, dx: Buf, dgamma: Buf, dbeta: Buf,
    n: number, c: number, h: number, w: number, eps: number, act: number): void;
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

