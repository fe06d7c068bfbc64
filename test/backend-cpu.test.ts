/**
 * The native `cpu` backend (oneDNN addon) against the reference kernels.
 *
 * Every native kernel runs on seeded random inputs of several shapes (padding,
 * strides, odd sizes, batches > 1) and must match the reference within a
 * relative tolerance of 1e-4 (plus a small absolute floor scaled to the
 * output's magnitude, for entries that cancel to ~0). Without the addon every
 * test is skipped with the reason.
 */
import { layoutOf, onArrays } from './helpers/host-arrays.js';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type {
  ActivationOp, BinaryOp, Conv2dDesc, Kernels, Pool2dDesc, ReduceOp, UnaryOp,
} from '../src/backend/kernels.js';
import { referenceKernels as ref } from '../src/backend/reference/index.js';
import { SMALL, loadCpuBackend, loadNative, nativeLoadError } from '../src/backend/cpu/index.js';
import { getBackend, kernelsFor, withBackend } from '../src/backend/registry.js';
import { CPU } from '../src/device.js';
import * as torch from '../src/index.js';
import { hostMemory, hostStorage, rowMajor as valuesOf } from '../src/backend/host.js';
import { rng } from './helpers/seeded.js';
import { assertClose, convDesc, poolDesc, seededRand } from './helpers/kernel-cases.js';

const rand = seededRand(1);

const native = loadNative();
const backend = native ? loadCpuBackend() : null;
const skip: string | false = native && backend ? false : `native cpu addon not available: ${nativeLoadError() ?? 'unknown reason'}`;
const cpu = backend ? onArrays(backend, backend.kernels) : ({} as ReturnType<typeof onArrays>);

// ---------------------------------------------------------------- helpers






/** A test that is skipped, with the reason, when the addon is not built. */
function check(name: string, fn: () => void): void {
  test(name, { skip }, fn);
}

// ---------------------------------------------------------------- tests

describe('cpu backend (oneDNN addon)', () => {
  check('describes itself and reports the oneDNN version and threads', () => {
    assert.equal(backend!.name, 'cpu');
    assert.match(backend!.describe(), /^cpu \(oneDNN \d+\.\d+\.\d+, \d+ threads?\)$/);
    assert.ok(native!.getNumThreads() >= 1);
  });

  check('host buffers from the addon: usable at once, empty after freeHost, and foreign arrays left alone', () => {
    const a = native!.allocHost(100000);
    assert.ok(a instanceof Float32Array);
    assert.equal(a.length, 100000);
    a.fill(2);
    assert.equal(a[99999], 2);
    const view = a.subarray(10, 20);
    native!.freeHost(a);
    assert.equal(a.length, 0, 'a freed buffer reads as empty, never as reused memory');
    assert.equal(view.length, 0, 'and so do its views');
    native!.freeHost(a); // twice is harmless
    const js = new Float32Array(100000).fill(3);
    native!.freeHost(js);
    assert.equal(js.length, 100000, 'an array the addon did not make is not touched');
    assert.equal(js[5], 3);
    assert.throws(() => native!.allocHost(0), /1\.\.2\^40 values/);
  });

  check('an activation backward written over dy equals the one into a new buffer (JS and native sizes)', () => {
    for (const op of ['relu', 'sigmoid', 'tanh'] as const) {
      for (const n of [100, 20000]) {
        const x = rand(n);
        const y = op === 'relu' ? x.map((v) => Math.max(v, 0)) : op === 'sigmoid' ? x.map((v) => 1 / (1 + Math.exp(-v))) : x.map(Math.tanh);
        const dy = rand(n);
        const want = ref.activationBackward(op, x, y, dy);
        const dyS = hostStorage(backend!, Float32Array.from(dy));
        backend!.kernels.activationBackwardInPlace!(op, hostStorage(backend!, x), hostStorage(backend!, y), dyS);
        assertClose(valuesOf(dyS), want, `${op} n=${n}`, 1e-6);
      }
    }
  });

  const convCases: Array<[string, Conv2dDesc]> = [
    ['3x3 pad 1, odd sizes', convDesc(2, 3, 7, 9, 4, 3, 3, 1, 1, 1, 1)],
    ['LeNet conv1 5x5 pad 2 + relu', convDesc(3, 1, 28, 28, 6, 5, 5, 1, 1, 2, 2, 'relu')],
    ['LeNet conv2 5x5', convDesc(2, 6, 14, 14, 16, 5, 5, 1, 1, 0, 0)],
    ['3x2 kernel, stride 2x1, pad 1x0 + sigmoid', convDesc(3, 5, 11, 10, 7, 3, 2, 2, 1, 1, 0, 'sigmoid')],
    ['stride 2 with leftover rows + tanh', convDesc(2, 4, 8, 9, 5, 3, 3, 2, 2, 0, 0, 'tanh')],
    ['1x1 pointwise', convDesc(2, 16, 5, 5, 8, 1, 1, 1, 1, 0, 0)],
    ['AlexNet-like 11x11 stride 4', convDesc(2, 3, 39, 39, 8, 11, 11, 4, 4, 2, 2, 'relu')],
    ['wide channels 3x3 (blocked layouts)', convDesc(2, 64, 9, 9, 32, 3, 3, 1, 1, 1, 1)],
    ['batch 1, single output pixel', convDesc(1, 4, 3, 3, 2, 3, 3, 1, 1, 0, 0)],
  ];

  for (const [name, d] of convCases) {
    check(`conv2d forward / backward: ${name}`, () => {
      const x = rand(d.n * d.c * d.h * d.w);
      const w = rand(d.oc * d.c * d.kh * d.kw, -0.5, 0.5);
      const b = rand(d.oc);
      const dy = rand(d.n * d.oc * d.oh * d.ow);
      // The addon alternates its blocked and plain-layout plans over a shape's first calls
      // (to pick the faster), so repeat every call to check both.
      for (const round of [1, 2, 3]) {
        for (const bias of [b, null]) {
          assertClose(cpu.conv2d(x, w, bias, d), ref.conv2d(x, w, bias, d), `conv2d y (bias ${bias !== null}, call ${round})`);
        }
        assertClose(cpu.conv2dBackwardData(dy, w, d), ref.conv2dBackwardData(dy, w, d), `conv2d dx (call ${round})`);
        for (const withBias of [true, false]) {
          const got = cpu.conv2dBackwardWeight(x, dy, d, withBias);
          const want = ref.conv2dBackwardWeight(x, dy, d, withBias);
          assertClose(got.dw, want.dw, `conv2d dw (bias ${withBias}, call ${round})`);
          if (withBias) assertClose(got.db, want.db, `conv2d db (call ${round})`);
          else assert.equal(got.db, null);
        }
      }
    });
  }

  // Every case again with each plan forced, so the direct plan (offered for few channels), the
  // blocked one and Winograd (3x3 stride 1; other shapes fall back to blocked) are all checked on
  // every shape, strided and padded ones included.
  for (const mode of ['direct', 'blocked', 'winograd'] as const) {
    check(`conv2d forward / backward with the ${mode} plan forced: all shapes`, () => {
      const prev = native!.setConvLayout(mode);
      try {
        for (const [name, d] of convCases) {
          const x = rand(d.n * d.c * d.h * d.w);
          const w = rand(d.oc * d.c * d.kh * d.kw, -0.5, 0.5);
          const b = rand(d.oc);
          const dy = rand(d.n * d.oc * d.oh * d.ow);
          assertClose(cpu.conv2d(x, w, b, d), ref.conv2d(x, w, b, d), `${name}: y`);
          assertClose(cpu.conv2dBackwardData(dy, w, d), ref.conv2dBackwardData(dy, w, d), `${name}: dx`);
          const got = cpu.conv2dBackwardWeight(x, dy, d, true);
          const want = ref.conv2dBackwardWeight(x, dy, d, true);
          assertClose(got.dw, want.dw, `${name}: dw`);
          assertClose(got.db, want.db, `${name}: db`);
          if (mode === 'winograd' && d.kh === 3 && d.sh === 1 && d.c >= 16 && d.oc >= 16) {
            assert.match(native!.lastImpl(), /wino/, `${name}: ran oneDNN's Winograd kernels`);
          }
        }
      } finally {
        native!.setConvLayout(prev as 'auto');
      }
    });
  }

  // The direct plan with 16 images per vector (native/conv_lanes.cc), forced on for every stride-1
  // shape whatever its batch, against the reference (the weight gradient also against the im2col
  // plan); odd batches leave lanes of the last group empty.
  check('the lanes convolutions match the reference on every stride-1 shape, full and partial groups of 16 images', () => {
    const prevLayout = native!.setConvLayout('direct');
    const prevLanes = native!.setConvLanes('on');
    try {
      const cases: Array<[string, Conv2dDesc]> = [
        ...convCases,
        ['LeNet conv2, 37 images (2 groups + 5)', convDesc(37, 6, 14, 14, 16, 5, 5, 1, 1, 0, 0)],
        ['LeNet-BN conv2, 16 images', convDesc(16, 6, 12, 12, 16, 5, 5, 1, 1, 0, 0)],
        ['7x7 pad 3, 9 output channels, 20 images', convDesc(20, 5, 9, 8, 9, 7, 7, 1, 1, 3, 3)],
        ['1x3 kernel, pad 0x1', convDesc(18, 3, 6, 7, 2, 1, 3, 1, 1, 0, 1)],
        ['LeNet conv2 + sigmoid, 24 images', convDesc(24, 6, 14, 14, 16, 5, 5, 1, 1, 0, 0, 'sigmoid')],
        ['3x3 pad 1 + tanh, 17 images', convDesc(17, 8, 6, 6, 12, 3, 3, 1, 1, 1, 1, 'tanh')],
        ['3x3 pad 1 + relu, 9 output channels', convDesc(16, 4, 7, 5, 9, 3, 3, 1, 1, 1, 1, 'relu')],
      ];
      for (const [name, d] of cases) {
        const x = rand(d.n * d.c * d.h * d.w);
        const dy = rand(d.n * d.oc * d.oh * d.ow);
        const w = rand(d.oc * d.c * d.kh * d.kw, -0.5, 0.5);
        const b = rand(d.oc);
        assertClose(cpu.conv2d(x, w, b, d), ref.conv2d(x, w, b, d), `${name}: y`);
        assertClose(cpu.conv2d(x, w, null, d), ref.conv2d(x, w, null, d), `${name}: y without bias`);
        assertClose(cpu.conv2dBackwardData(dy, w, d), ref.conv2dBackwardData(dy, w, d), `${name}: dx`);
        const want = ref.conv2dBackwardWeight(x, dy, d, true);
        const got = cpu.conv2dBackwardWeight(x, dy, d, true);
        assertClose(got.dw, want.dw, `${name}: dw`);
        assertClose(got.db, want.db, `${name}: db`);
        native!.setConvLanes('off');
        const im2col = cpu.conv2dBackwardWeight(x, dy, d, true);
        native!.setConvLanes('on');
        assertClose(got.dw, im2col.dw, `${name}: dw against the im2col plan`);
      }
      assert.equal(native!.setConvLanes('auto'), 'on');
      assert.throws(() => native!.setConvLanes('sideways' as 'on'), /expected 'auto', 'off' or 'on'/);
    } finally {
      native!.setConvLanes(prevLanes as 'auto');
      native!.setConvLayout(prevLayout as 'auto');
    }
  });

  // The lanes kernels keep their buffers per thread between calls; what the tuner frees when the
  // direct plan loses a race (VGG's first layer, timed on the direct plan, left 150 MiB resident).
  check('the lanes kernels\' kept buffers are freed on request and when the direct plan loses a shape\'s race', () => {
    const prevLayout = native!.setConvLayout('direct');
    const prevLanes = native!.setConvLanes('on');
    try {
      const d = convDesc(16, 8, 12, 12, 16, 3, 3, 1, 1, 1, 1);
      const x = rand(d.n * d.c * d.h * d.w);
      const w = rand(d.oc * d.c * d.kh * d.kw, -0.5, 0.5);
      const b = rand(d.oc);
      const before = cpu.conv2d(x, w, b, d);
      assert.ok(native!.laneBufferBytes() >= d.n * d.oc * d.oh * d.ow * 4, 'the forward kept its output frame');
      native!.releaseLaneBuffers();
      assert.equal(native!.laneBufferBytes(), 0);
      assert.deepEqual(cpu.conv2d(x, w, b, d), before, 'the same values from fresh buffers');
    } finally {
      native!.setConvLanes(prevLanes as 'auto');
      native!.setConvLayout(prevLayout as 'auto');
    }
    // A race between the plans on offer (the direct one among them): whichever wins, the lanes
    // buffers stay only if it was the direct plan.
    const prevAuto = native!.setConvLanes('on');
    try {
      const d = convDesc(16, 8, 20, 20, 32, 3, 3, 1, 1, 1, 1);
      native!.releaseLaneBuffers();
      const x = rand(d.n * d.c * d.h * d.w);
      const w = rand(d.oc * d.c * d.kh * d.kw, -0.5, 0.5);
      native!.clearCache(); // forget every decision (a saved one for this shape too): this call races afresh
      const decided = new Set(Object.keys(native!.convChoices()));
      const racedBefore = native!.convTuning().filter((t) => t.directMs !== null).length;
      cpu.conv2d(x, w, null, d);
      const fresh = Object.entries(native!.convChoices()).filter(([k]) => !decided.has(k));
      assert.equal(fresh.length, 1, 'one shape decided: this forward');
      assert.equal(native!.convTuning().filter((t) => t.directMs !== null).length, racedBefore + 1, 'the direct plan was timed in its race');
      const [, winner] = fresh[0];
      if (winner === 'direct') assert.ok(native!.laneBufferBytes() > 0, 'the direct plan won and keeps its buffers');
      else assert.equal(native!.laneBufferBytes(), 0, `${winner} won: the direct plan's buffers were freed`);
    } finally {
      native!.setConvLanes(prevAuto as 'auto');
    }
  });

  // Conv2d + activation + 2x2 average pool in one pass per image (src/backend/cpu/conv-pool.ts), on
  // the direct plan: y and the pooled output as conv2d then pool2d give them, and the weight
  // gradient from the pooled gradient as avgPoolActivationBackward then conv2dBackwardWeight.
  check('the fused convolution + activation + 2x2 average pool match the reference\'s separate kernels, and decline off the direct plan', () => {
    const prevLayout = native!.setConvLayout('direct');
    const prevLanes = native!.setConvLanes('off');
    try {
      const cases: Array<[string, Conv2dDesc]> = [
        ['LeNet conv1 + sigmoid, 9 images', convDesc(9, 1, 28, 28, 6, 5, 5, 1, 1, 2, 2, 'sigmoid')],
        ['2 channels in, 13x13 (odd: the last row and column are in no window) + relu', convDesc(3, 2, 13, 13, 5, 5, 5, 1, 1, 2, 2, 'relu')],
        ['3x3 pad 0, 10 output channels, no activation', convDesc(4, 3, 10, 9, 10, 3, 3, 1, 1, 0, 0)],
      ];
      for (const [name, d] of cases) {
        const pd = poolDesc('avg', d.n, d.oc, d.oh, d.ow, 2, 2, 2, 2, 0, 0);
        const x = rand(d.n * d.c * d.h * d.w);
        const w = rand(d.oc * d.c * d.kh * d.kw, -0.5, 0.5);
        for (const b of [rand(d.oc), null]) {
          const what = `${name}${b ? '' : ', no bias'}`;
          const fused = cpu.conv2dAvgPool!(x, w, b, d, pd);
          assert.ok(fused, `${what}: runs on the direct plan`);
          const y = ref.conv2d(x, w, b, d);
          assertClose(fused.y, y, `${what}: y`);
          assertClose(fused.pooled, ref.pool2d(y, pd), `${what}: pooled`);
          const dPooled = rand(pd.n * pd.c * pd.oh * pd.ow);
          const got = cpu.conv2dAvgPoolBackwardWeight!(x, fused.y, dPooled, d, pd, b !== null);
          assert.ok(got, `${what}: the weight gradient runs on the direct plan`);
          const op = d.activation ?? null;
          const dy = op ? ref.avgPoolActivationBackward!(op, y, dPooled, pd) : ref.pool2dBackward(y, y, dPooled, pd);
          const want = ref.conv2dBackwardWeight(x, dy, d, b !== null);
          assertClose(got.dw, want.dw, `${what}: dw`);
          if (b) assertClose(got.db, want.db, `${what}: db`);
          else assert.equal(got.db, null, `${what}: no db without a bias`);
          // Bit for bit what the separate cpu kernels give: the same plan computes both.
          const sepY = cpu.conv2d(x, w, b, d);
          assert.deepEqual(Array.from(fused.y), Array.from(sepY), `${what}: y as conv2d's`);
          assert.deepEqual(Array.from(fused.pooled), Array.from(cpu.pool2d(sepY, pd)), `${what}: pooled as pool2d's`);
          const sepDy = op ? cpu.avgPoolActivationBackward!(op, sepY, dPooled, pd) : cpu.pool2dBackward(sepY, sepY, dPooled, pd);
          assert.deepEqual(Array.from(got.dw), Array.from(cpu.conv2dBackwardWeight(x, sepDy, d, b !== null).dw), `${what}: dw as conv2dBackwardWeight's`);
        }
      }
      // Off the direct plan, and for what the direct plan does not fuse, they decline: the op runs the separate kernels.
      const d = convDesc(2, 1, 28, 28, 6, 5, 5, 1, 1, 2, 2, 'sigmoid');
      const pd = poolDesc('avg', 2, 6, 28, 28, 2, 2, 2, 2, 0, 0);
      const x = rand(2 * 784), w = rand(150), y = rand(2 * 6 * 784), g = rand(2 * 6 * 196);
      assert.equal(cpu.conv2dAvgPool!(x, w, null, { ...d, activation: 'tanh' }, pd), null, 'tanh is not applied per image');
      assert.equal(cpu.conv2dAvgPool!(x, w, null, d, poolDesc('avg', 2, 6, 28, 28, 3, 3, 3, 3, 0, 0)), null, 'a 3x3 pool');
      assert.equal(cpu.conv2dAvgPool!(x, w, null, { ...d, sh: 2, sw: 2, oh: 14, ow: 14 }, poolDesc('avg', 2, 6, 14, 14, 2, 2, 2, 2, 0, 0)), null, 'stride 2');
      native!.setConvLayout('blocked');
      assert.equal(cpu.conv2dAvgPool!(x, w, null, d, pd), null, 'the blocked plan');
      assert.equal(cpu.conv2dAvgPoolBackwardWeight!(x, y, g, d, pd, true), null, 'the blocked plan (weight gradient)');
    } finally {
      native!.setConvLanes(prevLanes as 'auto');
      native!.setConvLayout(prevLayout as 'auto');
    }
  });

  check('conv tuning settles every LeNet pass on the faster of the blocked and direct plans (direct winning near ties), within six calls', () => {
    const prev = native!.setConvLayout('auto');
    try {
      native!.clearCache();
      const d = convDesc(8, 6, 14, 14, 16, 5, 5, 1, 1, 0, 0);
      const x = rand(d.n * d.c * d.h * d.w);
      const w = rand(d.oc * d.c * d.kh * d.kw);
      const dy = rand(d.n * d.oc * d.oh * d.ow);
      for (let i = 0; i < 6; i++) {
        cpu.conv2d(x, w, null, d);
        cpu.conv2dBackwardData(dy, w, d);
        cpu.conv2dBackwardWeight(x, dy, d, false);
      }
      const tuned = native!.convTuning();
      assert.equal(tuned.length, 3);
      for (const t of tuned) {
        assert.ok(t.calls >= 2 && t.calls <= 6, `settled after ${t.calls} calls`);
        assert.ok(t.blockedMs !== null && t.directMs !== null, 'both plans were timed');
        // The direct plan wins near ties: its time counts 10% less (its output needs no reorder later).
        assert.equal(t.layout, 0.9 * (t.directMs as number) < (t.blockedMs as number) ? 'direct' : 'blocked');
      }
    } finally {
      native!.setConvLayout(prev as 'auto');
    }
  });

  check('a shape\'s race keeps only the chosen plan: the losers are dropped with their memory', () => {
    const prev = native!.setConvLayout('auto');
    try {
      native!.clearCache();
      // 3x3 stride 1 with 32 channels: offered to oneDNN's blocked and Winograd plans.
      const d = convDesc(4, 32, 12, 12, 32, 3, 3, 1, 1, 1, 1);
      const x = rand(d.n * d.c * d.h * d.w);
      const w = rand(d.oc * d.c * 9, -0.5, 0.5);
      const first = cpu.conv2d(x, w, null, d);
      const [t] = native!.convTuning();
      assert.ok(t && t.layout !== null, 'the first call decides the plan');
      assert.ok(t.blockedMs !== null && t.winogradMs !== null, 'both oneDNN plans were timed');
      // Before, the losing plan stayed cached (2 plans), holding its scratch and reordered copies.
      // The addon's direct plan (also on offer: 32 channels) caches no oneDNN plan when it wins.
      assert.equal(native!.cacheSize(), t.layout === 'direct' ? 0 : 1, `plans kept after the race (chosen: ${t.layout})`);
      const again = cpu.conv2d(x, w, null, d);
      const plain = (b: Float32Array): Float32Array => (layoutOf(b)?.toRowMajor(b) as Float32Array | undefined) ?? b;
      assert.deepEqual(plain(again), plain(first), 'the chosen plan gives the race\'s result');
      assertClose(plain(first), ref.conv2d(x, w, null, d), 'the chosen plan against the reference');
    } finally {
      native!.setConvLayout(prev as 'auto');
    }
  });

  /** A row-major copy of a channel-blocked buffer, leaving it blocked for the kernels under test. */
  const plainCopy = (b: Float32Array): Float32Array => {
    const l = layoutOf(b);
    assert.ok(l, 'buffer is in a blocked layout');
    return l.toRowMajor(b) as Float32Array;
  };
  /**
   * A fresh channel-blocked [n, c, size, size] activation: a 3x3 convolution of 3 channels (inputs in
   * [lo, hi)) by oneDNN's blocked plan, which writes its output blocked (the direct plan would write NCHW).
   */
  const blockedActivation = (n: number, c: number, size: number, lo = -1, hi = 1): Float32Array => {
    const cd = convDesc(n, 3, size, size, c, 3, 3, 1, 1, 1, 1);
    const prev = native!.setConvLayout('blocked');
    try {
      return cpu.conv2d(rand(cd.n * cd.c * cd.h * cd.w, lo, hi), rand(cd.oc * cd.c * 9, -0.5, 0.5), null, cd);
    } finally {
      native!.setConvLayout(prev as 'auto');
    }
  };

  check('activations stay channel-blocked from conv through pooling, concat, slice and elementwise ops, with reference values', () => {
    const fresh = (): Float32Array => blockedActivation(2, 32, 12);
    const rowMajor = plainCopy;
    const cases: Array<[string, Pool2dDesc]> = [
      ['max 3x3 s1 p1', poolDesc('max', 2, 32, 12, 12, 3, 3, 1, 1, 1, 1)],
      ['max 3x3 s2 p1', poolDesc('max', 2, 32, 12, 12, 3, 3, 2, 2, 1, 1)],
      ['max 2x2 s2', poolDesc('max', 2, 32, 12, 12, 2, 2, 2, 2, 0, 0)],
      ['avg 2x2 s2', poolDesc('avg', 2, 32, 12, 12, 2, 2, 2, 2, 0, 0)],
    ];
    for (const [name, d] of cases) {
      const x = fresh();
      x[5] = NaN; // NaN propagates and takes the gradient where the reference's scan puts it
      x[64] = x[80]; // a tie across positions of one channel
      const xr = rowMajor(x);
      const y = cpu.pool2d(x, d);
      assert.ok(layoutOf(y), `${name}: pooled output stays blocked`);
      const yr = ref.pool2d(xr, d);
      assertClose(rowMajor(y), yr, `${name}: y`);
      const dy = rand(y.length);
      assertClose(cpu.pool2dBackward(x, y, dy, d), ref.pool2dBackward(xr, yr, dy, d), `${name}: dx`);
      if (d.kind === 'avg') {
        // A gradient in the same blocks (what a blocked layer above hands back): dx stays blocked.
        const dyBlocked = cpu.pool2d(fresh(), d);
        const dx = cpu.pool2dBackward(x, y, dyBlocked, d);
        assert.ok(layoutOf(dx), `${name}: dx from a blocked dy stays blocked`);
        assertClose(rowMajor(dx), ref.pool2dBackward(xr, yr, rowMajor(dyBlocked), d), `${name}: dx from a blocked dy`);
      }
    }
    // Channel concat and slice of blocked parts, and same-layout elementwise ops, keep the layout.
    const a = fresh();
    const b = fresh();
    const ar = rowMajor(a);
    const br = rowMajor(b);
    const cat = cpu.concat([a, b], [32, 32], 2, 144);
    assert.ok(layoutOf(cat));
    assertClose(rowMajor(cat), ref.concat([ar, br], [32, 32], 2, 144), 'concat');
    const part = cpu.slice(cat, 2, 64, 144, 16, 32);
    assert.ok(layoutOf(part));
    assertClose(rowMajor(part), ref.slice(ref.concat([ar, br], [32, 32], 2, 144), 2, 64, 144, 16, 32), 'slice');
    const shape = [2, 32, 12, 12];
    const sum = cpu.binary('add', a, shape, b, shape, shape);
    assert.ok(layoutOf(sum));
    assertClose(rowMajor(sum), ref.binary('add', ar, shape, br, shape, shape), 'add');
    const r = cpu.unary('relu', a);
    assert.ok(layoutOf(r));
    assertClose(rowMajor(r), ref.unary('relu', ar), 'relu');
    // A blocked operand meeting a row-major one is converted: values still match.
    assertClose(cpu.binary('mul', a, shape, br, shape, shape), ref.binary('mul', ar, shape, br, shape, shape), 'mixed layouts');
    // Off-block slices fall back to row-major.
    const odd = cpu.slice(cat, 2, 64, 144, 3, 5);
    assert.equal(layoutOf(odd), null);
    assertClose(odd, ref.slice(ref.concat([ar, br], [32, 32], 2, 144), 2, 64, 144, 3, 5), 'odd slice');
  });

  check('the 2x2 average pool\'s gradient through an activation reads a channel-blocked y in one pass, dy plain or blocked', () => {
    const rowMajor = plainCopy;
    // Even planes, and an odd one (its last row and column are in no window, so get 0).
    for (const size of [12, 13]) {
      const blockedOut = (): Float32Array => blockedActivation(2, 32, size);
      const d = poolDesc('avg', 2, 32, size, size, 2, 2, 2, 2, 0, 0);
      for (const op of ['sigmoid', 'relu', 'tanh'] as const) {
        const y = cpu.unary(op, blockedOut());
        assert.ok(layoutOf(y), 'the activation keeps the convolution\'s blocked layout');
        const yr = rowMajor(y);
        const dyPlain = rand(2 * 32 * d.oh * d.ow);
        const dx = cpu.avgPoolActivationBackward!(op, y, dyPlain, d);
        assert.ok(layoutOf(dx), `${op} ${size}: dx takes y's layout`);
        assertClose(rowMajor(dx), ref.avgPoolActivationBackward!(op, yr, dyPlain, d), `${op} ${size}: plain dy`);
        // dy in y's blocks: a pooled blocked output stands in for it.
        const dyBlocked = cpu.pool2d(blockedOut(), d);
        assert.ok(layoutOf(dyBlocked));
        const dx2 = cpu.avgPoolActivationBackward!(op, y, dyBlocked, d);
        assertClose(rowMajor(dx2), ref.avgPoolActivationBackward!(op, yr, rowMajor(dyBlocked), d), `${op} ${size}: blocked dy`);
      }
    }
  });

  check('the direct plan\'s backward passes read a channel-blocked dy and x (LeNet\'s conv2 after a blocked forward)', () => {
    // A blocked forward output of the given shape, to stand in for dy or x.
    const blocked = (n: number, c: number, h: number, w: number): Float32Array => {
      const d = convDesc(n, 3, h, w, c, 3, 3, 1, 1, 1, 1);
      const prev = native!.setConvLayout('blocked');
      try {
        const y = cpu.conv2d(rand(n * 3 * h * w), rand(c * 27, -0.5, 0.5), null, d);
        assert.ok(layoutOf(y), 'the stand-in is channel-blocked');
        return y;
      } finally {
        native!.setConvLayout(prev as 'auto');
      }
    };
    const plain = (b: Float32Array): Float32Array => layoutOf(b)!.toRowMajor(b) as Float32Array;
    const prev = native!.setConvLayout('direct');
    const prevLanes = native!.setConvLanes('off');
    // Each case with the im2col weight gradient and with the lanes one (which reads nChw16c by transposes).
    try {
      for (const lanes of ['off', 'on'] as const) {
        native!.setConvLanes(lanes);
        // LeNet's conv2: plain x (6 channels cannot be blocked), blocked dy (16 channels).
        const d = convDesc(3, 6, 14, 14, 16, 5, 5, 1, 1, 0, 0);
        const x = rand(d.n * d.c * d.h * d.w);
        const w = rand(d.oc * d.c * d.kh * d.kw, -0.5, 0.5);
        const dy = blocked(d.n, 16, 10, 10);
        const dyr = plain(dy);
        assertClose(cpu.conv2dBackwardData(dy, w, d), ref.conv2dBackwardData(dyr, w, d), 'conv2 dx from a blocked dy');
        const got = cpu.conv2dBackwardWeight(x, dy, d, true);
        const want = ref.conv2dBackwardWeight(x, dyr, d, true);
        assertClose(got.dw, want.dw, 'conv2 dw from a blocked dy');
        assertClose(got.db, want.db, 'conv2 db from a blocked dy');
        // Both blocked, with padding (the stride-1 plan's padded copy) and an odd batch.
        const d2 = convDesc(3, 16, 9, 9, 16, 3, 3, 1, 1, 1, 1);
        const x2 = blocked(3, 16, 9, 9);
        const dy2 = blocked(3, 16, 9, 9);
        const w2 = rand(16 * 16 * 9, -0.5, 0.5);
        const got2 = cpu.conv2dBackwardWeight(x2, dy2, d2, true);
        const want2 = ref.conv2dBackwardWeight(plain(x2), plain(dy2), d2, true);
        assertClose(got2.dw, want2.dw, 'dw from blocked x and dy');
        assertClose(got2.db, want2.db, 'db from a blocked dy');
        assertClose(cpu.conv2dBackwardData(dy2, w2, d2), ref.conv2dBackwardData(plain(dy2), w2, d2), 'dx from a blocked dy, padded');
        // Strided: dy blocked still goes direct; the weight gradient's patch matrix needs x plain.
        const d3 = convDesc(2, 4, 11, 11, 16, 3, 3, 2, 2, 1, 1);
        const dy3 = blocked(2, 16, 6, 6);
        const x3 = rand(d3.n * d3.c * d3.h * d3.w);
        const w3 = rand(16 * 4 * 9, -0.5, 0.5);
        assertClose(cpu.conv2dBackwardData(dy3, w3, d3), ref.conv2dBackwardData(plain(dy3), w3, d3), 'strided dx from a blocked dy');
        const got3 = cpu.conv2dBackwardWeight(x3, dy3, d3, false);
        assertClose(got3.dw, ref.conv2dBackwardWeight(x3, plain(dy3), d3, false).dw, 'strided dw from a blocked dy');
      }
    } finally {
      native!.setConvLayout(prev as 'auto');
      native!.setConvLanes(prevLanes as 'auto');
    }
  });

  test('a blocked buffer replaced by its row-major copy goes back to the pool once the kernel has returned', { skip }, async () => {
    const d = convDesc(4, 3, 16, 16, 32, 3, 3, 1, 1, 1, 1);
    const prev = native!.setConvLayout('blocked');
    try {
      const x = hostStorage(backend!, rand(d.n * d.c * d.h * d.w));
      const w = hostStorage(backend!, rand(d.oc * d.c * 9, -0.5, 0.5));
      const y = backend!.kernels.conv2d!(x, w, null, d);
      assert.ok(y.layout, 'the convolution wrote its output channel-blocked');
      const blocked = y.buf;
      const want = ref.conv2d(valuesOf(x), valuesOf(w), null, d);
      const before = hostMemory.stats().pooledBytes;
      const plain = valuesOf(y); // converts y in place: a new buffer, row-major
      assert.notEqual(plain, blocked);
      assert.equal(y.layout, null);
      assertClose(plain, want, 'row-major values');
      assert.equal(hostMemory.stats().pooledBytes, before, 'not pooled while the caller may still read it');
      await Promise.resolve();
      assert.equal(hostMemory.stats().pooledBytes, before + blocked.byteLength, 'pooled once the synchronous run is over');
      assert.equal(hostMemory.alloc(blocked.length), blocked, 'and handed out again for its size');
      assertClose(valuesOf(y), want, 'the storage keeps its own row-major buffer');
    } finally {
      native!.setConvLayout(prev as 'auto');
    }
  });

  check('is registered with the registry, and the cpu device\'s kernels under it are the native ones', () => {
    assert.equal(getBackend('cpu'), backend);
    const d = convDesc(2, 3, 6, 6, 4, 3, 3, 1, 1, 1, 1);
    const x = rand(d.n * d.c * d.h * d.w);
    const w = rand(d.oc * d.c * d.kh * d.kw);
    const reference = getBackend('reference')!;
    const viaRegistry = withBackend('cpu', () => {
      const k = kernelsFor(CPU);
      assert.equal(k.conv2d, backend!.kernels.conv2d);
      assert.equal(k.argmax, reference.kernels.argmax, 'kernels the backend lacks fall back to the reference');
      return valuesOf(k.conv2d(hostStorage(backend!, x), hostStorage(backend!, w), null, d) as never);
    });
    assertClose(viaRegistry, ref.conv2d(x, w, null, d), 'conv2d via registry');
  });

  check('max-pool backward uses the saved indices after Flatten turns the blocked output row-major', () => {
    const run = (): { gw: Float32Array; calls: Record<string, number> } => {
      const calls: Record<string, number> = { maxPoolBlockedBackward: 0, maxPool2dBackwardIndices: 0, pool2dBackward: 0 };
      const nat = native as unknown as Record<string, (...a: unknown[]) => unknown>;
      const originals = Object.fromEntries(Object.keys(calls).map((k) => [k, nat[k]]));
      for (const k of Object.keys(calls)) nat[k] = (...a: unknown[]) => { calls[k]++; return originals[k](...a); };
      const prev = native!.setConvLayout('blocked');
      try {
        torch.manualSeed(4);
        const x = torch.randn([2, 3, 12, 12]);
        const w = torch.randn([32, 3, 3, 3]).mul(0.2).requiresGrad_();
        const y = torch.nn.functional.conv2d(x, w, null, 1, 1);
        const p = torch.nn.functional.maxPool2d(y, 2);
        const blocked = p.storage.layout !== null;
        const f = new torch.nn.Flatten().forward(p);
        const coef = torch.randn([2, 32 * 36]);
        f.mul(coef).sum().backward();
        if (getBackend('cpu') === torch.activeBackend()) {
          assert.ok(blocked, 'the pooled output was channel-blocked');
          assert.equal(p.storage.layout, null, 'Flatten and the product read it row-major');
        }
        return { gw: w.grad!.dataSync(), calls };
      } finally {
        native!.setConvLayout(prev as 'auto');
        for (const k of Object.keys(calls)) nat[k] = originals[k];
      }
    };
    const got = withBackend('cpu', run);
    assert.deepEqual(got.calls, { maxPoolBlockedBackward: 1, maxPool2dBackwardIndices: 0, pool2dBackward: 0 }, 'scattered through the saved indices, no recompute');
    const want = withBackend('reference', run);
    assertClose(got.gw, want.gw, 'conv weight gradient through blocked max pooling and Flatten');
  });

  check('blocked max pooling in 8- and 16-channel blocks: values, argmax scatter and the ReLU gradient match the reference', () => {
    const nat = native!;
    for (const block of [8, 16]) {
      for (const [k, st, pad] of [[3, 2, 0], [2, 2, 1]]) {
        const d = poolDesc('max', 2, 2 * block, 9, 11, k, k, st, st, pad, pad);
        const x = rand(d.n * d.c * d.h * d.w);
        x[5] = Number.NaN; // a NaN wins its windows, as in the reference
        const relu = x.map((v) => (v > 0 ? v : 0)); // AlexNet's pool input: many windows all zero
        relu[5] = Number.NaN;
        const toBlocked = (a: Float32Array, c: number, h: number, w: number): Float32Array => {
          const b = new Float32Array(a.length);
          nat.reorderActivation(a, 0, b, block, d.n, c, h, w);
          return b;
        };
        const toPlain = (a: Float32Array, c: number, h: number, w: number): Float32Array => {
          const b = new Float32Array(a.length);
          nat.reorderActivation(a, block, b, 0, d.n, c, h, w);
          return b;
        };
        const outN = d.n * d.c * d.oh * d.ow;
        const dy = rand(outN);
        for (const input of [x, relu]) {
          const y = new Float32Array(outN);
          const idx = new Int32Array(outN);
          nat.maxPoolBlockedForward(toBlocked(input, d.c, d.h, d.w), y, idx, d.n, d.c, d.h, d.w, d.kh, d.kw, d.sh, d.sw, d.ph, d.pw, d.oh, d.ow, block);
          const want = ref.pool2d(input, d);
          assert.deepEqual(Array.from(toPlain(y, d.c, d.oh, d.ow)), Array.from(want), `max pool values, block ${block}, ${k}x${k}/${st} pad ${pad}`);
          const dx = new Float32Array(input.length);
          nat.maxPoolBlockedBackward(toBlocked(dy, d.c, d.oh, d.ow), idx, dx, d.n * (d.c / block), d.h * d.w, d.oh * d.ow, block);
          assertClose(toPlain(dx, d.c, d.h, d.w), ref.pool2dBackward(input, want, dy, d), `max pool gradient, block ${block}`);
          if (input !== relu) continue;
          const dr = new Float32Array(input.length);
          nat.maxPoolReluBackward(toBlocked(dy, d.c, d.oh, d.ow), idx, y, toBlocked(input, d.c, d.h, d.w), dr, d.n * (d.c / block), d.h * d.w, d.oh * d.ow, block);
          const through = ref.pool2dBackward(input, want, dy, d).map((g, i) => (relu[i] > 0 ? g : 0));
          assert.deepEqual(Array.from(toPlain(dr, d.c, d.h, d.w)), Array.from(through), `through the ReLU, block ${block}`);
        }
      }
    }
  });

  check('the dropout mask is drawn natively, value for value the reference\'s', () => {
    let native0 = 0;
    const nat = native as unknown as Record<string, (...a: unknown[]) => unknown>;
    const original = nat.dropoutMask;
    nat.dropoutMask = (...a: unknown[]) => { native0++; return original(...a); };
    try {
      for (const [n, p, s] of [[100003, 0.5, 1], [70000, 0.1, 12345], [65536, 0.9, 0xfffffff0], [50000, 0.3, 2 ** 40 + 7], [300, 0.5, 9]]) {
        const got = valuesOf(backend!.kernels.dropoutMask!(n, p, s));
        const want = ref.dropoutMask(n, p, s);
        assert.deepEqual(Array.from(got), Array.from(want), `dropout n=${n} p=${p} seed=${s}`);
      }
    } finally {
      nat.dropoutMask = original;
    }
    assert.equal(native0, 4, 'the four large masks natively, the small one in JS');
  });

  check('zero-sized problems fall back instead of failing', () => {
    const d = convDesc(0, 3, 5, 5, 4, 3, 3, 1, 1, 1, 1);
    assert.equal(cpu.conv2d(new Float32Array(0), rand(108), null, d).length, 0);
    assert.equal(cpu.matmul(new Float32Array(0), rand(12), { batch: 1, m: 0, k: 3, n: 4, transA: false, transB: false }).length, 0);
    const zeroK = cpu.matmul(new Float32Array(0), new Float32Array(0), { batch: 1, m: 2, k: 0, n: 3, transA: false, transB: false });
    assert.deepEqual(Array.from(zeroK), [0, 0, 0, 0, 0, 0]);
  });

  check('conv2d rejects buffers of the wrong size instead of reading past them', () => {
    const d = convDesc(1, 2, 5, 5, 3, 3, 3, 1, 1, 1, 1);
    assert.throws(() => cpu.conv2d(new Float32Array(10), rand(54), null, d), /elements, expected/);
  });

  const poolCases: Array<[string, Pool2dDesc]> = [
    ['max 2x2 stride 2', poolDesc('max', 2, 3, 8, 8, 2, 2, 2, 2, 0, 0)],
    ['max 2x2 stride 2, odd input', poolDesc('max', 2, 3, 7, 9, 2, 2, 2, 2, 0, 0)],
    ['max 3x3 stride 2 pad 1', poolDesc('max', 3, 4, 11, 10, 3, 3, 2, 2, 1, 1)],
    ['max 3x3 stride 2 (AlexNet)', poolDesc('max', 2, 8, 13, 13, 3, 3, 2, 2, 0, 0)],
    ['max 3x3 stride 1 pad 1', poolDesc('max', 1, 5, 6, 7, 3, 3, 1, 1, 1, 1)],
    ['avg 2x2 stride 2', poolDesc('avg', 2, 6, 10, 10, 2, 2, 2, 2, 0, 0)],
    ['avg 3x3 stride 1 pad 1, count_include_pad', poolDesc('avg', 2, 3, 7, 6, 3, 3, 1, 1, 1, 1, true)],
    ['avg 3x3 stride 1 pad 1, exclude pad', poolDesc('avg', 2, 3, 7, 6, 3, 3, 1, 1, 1, 1, false)],
    ['avg 3x2 stride 2x1 pad 1x1, exclude pad', poolDesc('avg', 3, 2, 9, 8, 3, 2, 2, 1, 1, 1, false)],
    ['global avg 7x7', poolDesc('avg', 4, 16, 7, 7, 7, 7, 7, 7, 0, 0)],
    ['max 2x2 stride 2, large (multi-threaded)', poolDesc('max', 4, 16, 32, 32, 2, 2, 2, 2, 0, 0)],
    ['avg 3x3 stride 2 pad 1, large (multi-threaded)', poolDesc('avg', 4, 16, 31, 33, 3, 3, 2, 2, 1, 1, false)],
    // ceil_mode-style output size: the last window overhangs the padded input.
    ['avg 3x3 stride 2 pad 1, overhanging window', { ...poolDesc('avg', 2, 3, 8, 8, 3, 3, 2, 2, 1, 1, true), oh: 5, ow: 5 }],
    ['max 3x3 stride 2, overhanging window', { ...poolDesc('max', 2, 3, 8, 8, 3, 3, 2, 2, 0, 0), oh: 4, ow: 4 }],
  ];

  for (const [name, d] of poolCases) {
    check(`pool2d forward / backward: ${name}`, () => {
      const x = rand(d.n * d.c * d.h * d.w);
      const dy = rand(d.n * d.c * d.oh * d.ow);
      const y = cpu.pool2d(x, d);
      const yRef = ref.pool2d(x, d);
      assertClose(y, yRef, 'pool y');
      assertClose(cpu.pool2dBackward(x, y, dy, d), ref.pool2dBackward(x, yRef, dy, d), 'pool dx');
    });
  }

  const matmulCases: Array<[number, number, number, number]> = [[1, 1, 1, 1], [1, 7, 5, 3], [3, 17, 33, 9], [2, 64, 128, 10], [1, 256, 400, 120]];
  for (const [batch, m, k, n] of matmulCases) {
    check(`matmul batch ${batch}, ${m}x${k} · ${k}x${n}, all transposes`, () => {
      const a = rand(batch * m * k);
      const b = rand(batch * k * n);
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          const d = { batch, m, k, n, transA, transB };
          assertClose(cpu.matmul(a, b, d), ref.matmul(a, b, d), `matmul transA=${transA} transB=${transB}`);
        }
      }
    });
  }

  check('unary ops (native above the size threshold, reference below)', () => {
    const ops: UnaryOp[] = ['neg', 'exp', 'log', 'sqrt', 'abs', 'sigmoid', 'relu', 'tanh', 'sign', 'reciprocal', 'square'];
    for (const n of [SMALL + 1001, 100, 70001]) {
      const x = rand(n, -4, 4);
      const pos = rand(n, 0.01, 10);
      for (const op of ops) {
        const input = op === 'log' || op === 'sqrt' ? pos : x;
        assertClose(cpu.unary(op, input), ref.unary(op, input), `unary ${op} (n=${n})`);
      }
    }
  });

  check('unary edge values: large, tiny and zero inputs', () => {
    const n = SMALL + 10;
    const x = new Float32Array(n);
    const special = [0, -0, 1e-30, -1e-30, 80, -80, 88, -100, 1e10, -1e10];
    for (let i = 0; i < n; i++) x[i] = special[i % special.length];
    for (const op of ['exp', 'sigmoid', 'tanh', 'relu', 'abs', 'neg', 'square'] as UnaryOp[]) {
      assertClose(cpu.unary(op, x), ref.unary(op, x), `unary ${op} (edge values)`);
    }
    const pos = new Float32Array(n);
    const positive = [1e-30, 1e-10, 1, 1e10, 3e38];
    for (let i = 0; i < n; i++) pos[i] = positive[i % positive.length];
    for (const op of ['log', 'sqrt'] as UnaryOp[]) assertClose(cpu.unary(op, pos), ref.unary(op, pos), `unary ${op} (edge values)`);
  });

  check('NaN and ±Infinity follow the reference (no NaN swallowed by max/min/clamp/exp/compare)', () => {
    const n = SMALL * 3;
    const x = rand(n, -3, 3);
    const y = rand(n, -3, 3);
    const specials = [NaN, Infinity, -Infinity, 0, -0];
    for (let i = 0; i < n; i += 7) x[i] = specials[(i / 7) % specials.length];
    for (let i = 3; i < n; i += 11) y[i] = specials[(i / 11) % specials.length];
    for (const op of ['exp', 'relu', 'sigmoid', 'tanh', 'abs', 'neg', 'square'] as UnaryOp[]) {
      assertClose(cpu.unary(op, x), ref.unary(op, x), `unary ${op} with NaN/Inf`);
    }
    assertClose(cpu.clamp(x, -1, 1), ref.clamp(x, -1, 1), 'clamp with NaN/Inf');
    const shape = [n];
    for (const op of ['add', 'sub', 'mul', 'div', 'maximum', 'minimum', 'eq', 'ne', 'lt', 'le', 'gt', 'ge'] as BinaryOp[]) {
      assertClose(cpu.binary(op, x, shape, y, shape, shape), ref.binary(op, x, shape, y, shape, shape), `binary ${op} with NaN/Inf`);
      assertClose(cpu.binary(op, x, [1, n], y.subarray(0, 1), [1, 1], [1, n]), ref.binary(op, x, [1, n], y.subarray(0, 1), [1, 1], [1, n]), `binary ${op} scalar b`);
    }
    for (const op of ['sum', 'max', 'min'] as ReduceOp[]) {
      assertClose(cpu.reduce(op, x, [n / 8, 8], [1]), ref.reduce(op, x, [n / 8, 8], [1]), `reduce ${op} with NaN/Inf`);
    }
    const r = ref.unary('relu', x);
    assertClose(cpu.activationBackward('relu', x, r, y), ref.activationBackward('relu', x, r, y), 'relu backward with NaN/Inf');
  });

  check('activation backward (relu from x, sigmoid / tanh from y)', () => {
    const n = SMALL * 2 + 3;
    const x = rand(n, -3, 3);
    const dy = rand(n);
    for (const op of ['relu', 'sigmoid', 'tanh'] as ActivationOp[]) {
      const y = ref.unary(op, x);
      assertClose(cpu.activationBackward(op, x, y, dy), ref.activationBackward(op, x, y, dy), `activationBackward ${op}`);
    }
  });

  const binaryCases: Array<[string, number[], number[]]> = [
    ['same shape', [4, 33, 41], [4, 33, 41]],
    ['per-channel b', [8, 16, 7, 7], [1, 16, 1, 1]],
    ['row-vector b (bias add)', [128, 84], [1, 84]],
    ['scalar b', [50, 101], [1, 1]],
    ['scalar a (swap / loop)', [1, 1], [50, 101]],
    ['column a, full b', [64, 1], [64, 100]],
    ['both broadcast (outer product)', [70, 1], [1, 90]],
    ['large per-channel b (multi-threaded)', [16, 32, 12, 12], [1, 32, 1, 1]],
  ];
  const binaryOps: BinaryOp[] = ['add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum', 'eq', 'ne', 'lt', 'le', 'gt', 'ge'];
  for (const [name, aShape, bShape] of binaryCases) {
    check(`binary ops with broadcasting: ${name}`, () => {
      const outShape = aShape.map((d, i) => Math.max(d, bShape[i]));
      const size = outShape.reduce((p, d) => p * d, 1);
      assert.ok(size >= SMALL, 'the case must exercise the native path');
      const aLen = aShape.reduce((p, d) => p * d, 1);
      const bLen = bShape.reduce((p, d) => p * d, 1);
      const a = rand(aLen, -2, 2);
      const b = rand(bLen, -2, 2);
      // Ties for the comparisons: make some entries equal.
      for (let i = 0; i < Math.min(aLen, bLen); i += 3) b[i] = a[i];
      const posA = rand(aLen, 0.1, 3);
      for (const op of binaryOps) {
        const lhs = op === 'pow' ? posA : a;
        assertClose(cpu.binary(op, lhs, aShape, b, bShape, outShape), ref.binary(op, lhs, aShape, b, bShape, outShape), `binary ${op}`);
      }
    });
  }

  check('clamp and affine', () => {
    const x = rand(SMALL * 3, -5, 5);
    assertClose(cpu.clamp(x, -1, 2), ref.clamp(x, -1, 2), 'clamp');
    assertClose(cpu.clamp(x, 0, Infinity), ref.clamp(x, 0, Infinity), 'clamp one-sided');
    assertClose(cpu.affine(x, 0.5, -3), ref.affine(x, 0.5, -3), 'affine');
  });

  const reduceCases: Array<[number[], number[]]> = [
    [[8, 16, 7, 7], [0, 2, 3]],
    [[8, 16, 7, 7], [1]],
    [[128, 84], [0]],
    [[128, 84], [1]],
    [[64, 100], [0, 1]],
    [[3, 1, 40, 50], [2]],
    [[2, 3, 4, 5, 6, 7], [1, 3, 5]],
  ];
  for (const [shape, axes] of reduceCases) {
    check(`reduce sum / max / min of [${shape}] over [${axes}]`, () => {
      const x = rand(shape.reduce((p, d) => p * d, 1));
      for (const op of ['sum', 'max', 'min'] as ReduceOp[]) {
        assertClose(cpu.reduce(op, x, shape, axes), ref.reduce(op, x, shape, axes), `reduce ${op}`);
      }
    });
  }

  /** Random batch-norm inputs: x, affine parameters, an output gradient and running statistics. */
  const bnProblem = (n: number, c: number, spatial: number): Record<'x' | 'gamma' | 'beta' | 'dy' | 'runMean' | 'runVar', Float32Array> => ({
    x: rand(n * c * spatial, -2, 3),
    gamma: rand(c, 0.5, 1.5),
    beta: rand(c),
    dy: rand(n * c * spatial),
    runMean: rand(c),
    runVar: rand(c, 0.5, 2),
  });

  // The last two are large enough to run multi-threaded (small problems run on one thread).
  const bnCases: Array<[number, number, number]> = [[4, 3, 25], [8, 16, 49], [2, 5, 1], [16, 84, 1], [3, 7, 13], [16, 32, 100], [256, 200, 1]];
  for (const [n, c, spatial] of bnCases) {
    check(`batch norm train / inference / backward, [${n}, ${c}, ${spatial}]`, () => {
      const d = { n, c, spatial, eps: 1e-5 };
      const { x, gamma, beta, dy, runMean, runVar } = bnProblem(n, c, spatial);
      const got = cpu.batchNormTrain(x, gamma, beta, d);
      const want = ref.batchNormTrain(x, gamma, beta, d);
      assertClose(got.y, want.y, 'bn y');
      assertClose(got.mean, want.mean, 'bn mean');
      assertClose(got.variance, want.variance, 'bn variance');
      assertClose(cpu.batchNormInference(x, gamma, beta, runMean, runVar, d), ref.batchNormInference(x, gamma, beta, runMean, runVar, d), 'bn inference');
      const gb = cpu.batchNormBackward(x, dy, gamma, want.mean, want.variance, d);
      const wb = ref.batchNormBackward(x, dy, gamma, want.mean, want.variance, d);
      // dx = γ·invstd·(dy − mean(dy) − x̂·mean(dy·x̂)) cancels heavily (exactly 0 for two samples),
      // so its absolute floor is relative to the size of the terms, γ·invstd·|dy|.
      let termScale = 0;
      for (let ch = 0; ch < c; ch++) termScale = Math.max(termScale, gamma[ch] / Math.sqrt(want.variance[ch] + d.eps));
      assertClose(gb.dx, wb.dx, 'bn dx', 1e-4, 0.01, termScale);
      assertClose(gb.dgamma, wb.dgamma, 'bn dgamma');
      assertClose(gb.dbeta, wb.dbeta, 'bn dbeta');
    });
  }
  check('batch norm reads a channel-blocked x as it is: y, dx in its layout, values as the reference, the same for any thread count', () => {
    const rowMajor = plainCopy;
    // A blocked convolution output stands in for x (LeNet-BN's second batch norm: 16 channels on 8x8),
    // and another for dy; n = 20 spans chunks of images unevenly, 9x9 planes are odd.
    for (const [n, c, size] of [[20, 16, 8], [3, 32, 9]] as const) {
      const blockedOut = (): Float32Array => blockedActivation(n, c, size, 1, 3);
      const gamma = rand(c, 0.5, 1.5);
      const beta = rand(c);
      for (const activation of [undefined, 'relu', 'sigmoid', 'tanh'] as const) {
        const d = { n, c, spatial: size * size, eps: 1e-5, ...(activation ? { activation } : {}) };
        const what = `[${n}, ${c}, ${size}x${size}] ${activation ?? 'no activation'}`;
        const x = blockedOut();
        const xr = rowMajor(x);
        const got = cpu.batchNormTrain(x, gamma, beta, d);
        assert.ok(layoutOf(got.y), `${what}: y keeps x's layout`);
        assert.ok(layoutOf(x), `${what}: x is not converted`);
        const want = ref.batchNormTrain(xr, gamma, beta, d);
        assertClose(rowMajor(got.y), want.y, `${what}: y`);
        assertClose(got.mean, want.mean, `${what}: mean`);
        assertClose(got.variance, want.variance, `${what}: variance`);
        const dy = blockedOut();
        const gb = cpu.batchNormBackward(x, dy, gamma, want.mean, want.variance, d, got.y);
        assert.ok(layoutOf(gb.dx), `${what}: dx in x's layout`);
        const wb = ref.batchNormBackward(xr, rowMajor(dy), gamma, want.mean, want.variance, d, want.y);
        assertClose(rowMajor(gb.dx), wb.dx, `${what}: dx`, 1e-4, 0.1);
        assertClose(gb.dgamma, wb.dgamma, `${what}: dgamma`, 1e-4, 0.1);
        assertClose(gb.dbeta, wb.dbeta, `${what}: dbeta`, 1e-4, 0.1);
        // A row-major dy beside a blocked x: everything is read row-major, same values.
        const mixed = cpu.batchNormBackward(x, rowMajor(dy), gamma, want.mean, want.variance, d, got.y);
        assertClose(mixed.dx, wb.dx, `${what}: dx from a row-major dy`, 1e-4, 0.1);
      }
      // Partial sums go by chunks of images, not by thread: one thread and two give the same bits.
      const x = blockedOut();
      const dy = blockedOut();
      const d = { n, c, spatial: size * size, eps: 1e-5 };
      const before = native!.getNumThreads();
      try {
        backend!.setNumThreads!(1);
        const one = cpu.batchNormTrain(x, gamma, beta, d);
        const oneB = cpu.batchNormBackward(x, dy, gamma, one.mean, one.variance, d);
        backend!.setNumThreads!(2);
        const two = cpu.batchNormTrain(x, gamma, beta, d);
        const twoB = cpu.batchNormBackward(x, dy, gamma, one.mean, one.variance, d);
        assert.deepEqual([...two.mean, ...two.variance, ...rowMajor(two.y)], [...one.mean, ...one.variance, ...rowMajor(one.y)]);
        assert.deepEqual([...twoB.dgamma, ...twoB.dbeta, ...rowMajor(twoB.dx)], [...oneB.dgamma, ...oneB.dbeta, ...rowMajor(oneB.dx)]);
      } finally {
        backend!.setNumThreads!(before);
      }
    }
  });

  // BatchNorm2d + activation + AvgPool2d(2) in one pass per plane (batchNormAvgPoolTrain/Backward): y,
  // the pooled output and the statistics as batchNormTrain then pool2d give them, and the gradients
  // as pool2dBackward then batchNormBackward.
  check('the fused batch norm + activation + 2x2 average pool match the separate kernels, the same for any thread count, and decline what they do not take', () => {
    const cases: Array<[number, number, number, number, ActivationOp | undefined]> = [
      [9, 6, 24, 24, 'sigmoid'], // LeNet-BN's first batch norm, fewer images
      [3, 4, 17, 17, 'relu'], // odd: the last row and column are in no window (their gradient is the batch norm's alone)
      [2, 3, 16, 20, undefined],
    ];
    for (const [n, c, h, w, activation] of cases) {
      const what = `[${n}, ${c}, ${h}x${w}] ${activation ?? 'no activation'}`;
      const d = { n, c, spatial: h * w, eps: 1e-5, ...(activation ? { activation } : {}) };
      const pd = poolDesc('avg', n, c, h, w, 2, 2, 2, 2, 0, 0);
      const x = rand(n * c * h * w, -2, 3);
      const gamma = rand(c, 0.5, 1.5);
      const beta = rand(c);
      const got = cpu.batchNormAvgPoolTrain!(x, gamma, beta, d, pd);
      assert.ok(got, `${what}: runs`);
      const want = ref.batchNormTrain(x, gamma, beta, d);
      assertClose(got.y, want.y, `${what}: y`);
      assertClose(got.pooled, ref.pool2d(want.y, pd), `${what}: pooled`);
      assertClose(got.mean, want.mean, `${what}: mean`);
      assertClose(got.variance, want.variance, `${what}: variance`);
      // The same loops as the separate kernels: the same bits.
      const sep = cpu.batchNormTrain(x, gamma, beta, d);
      assert.deepEqual([...got.y, ...got.mean, ...got.variance], [...sep.y, ...sep.mean, ...sep.variance], `${what}: as batchNormTrain's`);
      assert.deepEqual([...got.pooled], [...cpu.pool2d(sep.y, pd)], `${what}: as pool2d's`);

      const dPooled = rand(n * c * pd.oh * pd.ow);
      const gb = cpu.batchNormAvgPoolBackward!(x, dPooled, gamma, got.mean, got.variance, d, got.y, pd);
      assert.ok(gb, `${what}: the backward runs`);
      const dAct = ref.pool2dBackward(want.y, ref.pool2d(want.y, pd), dPooled, pd);
      const wb = ref.batchNormBackward(x, dAct, gamma, want.mean, want.variance, d, want.y);
      let termScale = 0;
      for (let ch = 0; ch < c; ch++) termScale = Math.max(termScale, gamma[ch] / Math.sqrt(want.variance[ch] + d.eps));
      assertClose(gb.dx, wb.dx, `${what}: dx`, 1e-4, 0.01, termScale);
      assertClose(gb.dgamma, wb.dgamma, `${what}: dgamma`, 1e-4, 0.01);
      assertClose(gb.dbeta, wb.dbeta, `${what}: dbeta`, 1e-4, 0.01);
      const sepB = cpu.batchNormBackward(x, cpu.pool2dBackward(sep.y, got.pooled, dPooled, pd), gamma, got.mean, got.variance, d, sep.y);
      assertClose(gb.dx, sepB.dx, `${what}: dx as the separate cpu kernels'`, 1e-5, 0.01, termScale);

      const before = native!.getNumThreads();
      try {
        backend!.setNumThreads!(1);
        const one = cpu.batchNormAvgPoolBackward!(x, dPooled, gamma, got.mean, got.variance, d, got.y, pd)!;
        backend!.setNumThreads!(2);
        const two = cpu.batchNormAvgPoolBackward!(x, dPooled, gamma, got.mean, got.variance, d, got.y, pd)!;
        assert.deepEqual([...two.dx, ...two.dgamma, ...two.dbeta], [...one.dx, ...one.dgamma, ...one.dbeta], `${what}: 1 and 2 threads`);
      } finally {
        backend!.setNumThreads!(before);
      }
    }
    // What they do not take goes to the separate kernels.
    const [n, c, h, w] = [2, 3, 16, 16];
    const d = { n, c, spatial: h * w, eps: 1e-5 };
    const x = rand(n * c * h * w), gamma = rand(c), beta = rand(c), pd = poolDesc('avg', n, c, h, w, 2, 2, 2, 2, 0, 0);
    assert.equal(cpu.batchNormAvgPoolTrain!(x, gamma, beta, { ...d, activation: 'tanh' }, pd), null, 'tanh is not applied per plane');
    assert.equal(cpu.batchNormAvgPoolTrain!(x, gamma, beta, d, poolDesc('avg', n, c, h, w, 3, 3, 3, 3, 0, 0)), null, 'a 3x3 pool');
    assert.equal(cpu.batchNormAvgPoolTrain!(x, gamma, beta, d, poolDesc('avg', n, c, h, w, 2, 2, 1, 1, 0, 0)), null, 'stride 1');
    const small = { n, c, spatial: 64, eps: 1e-5 };
    assert.equal(cpu.batchNormAvgPoolTrain!(rand(n * c * 64), gamma, beta, small, poolDesc('avg', n, c, 8, 8, 2, 2, 2, 2, 0, 0)), null, '8x8 planes');
    const blocked = blockedActivation(2, 16, 16, 1, 3);
    const bd = { n: 2, c: 16, spatial: 256, eps: 1e-5 };
    assert.equal(cpu.batchNormAvgPoolTrain!(blocked, rand(16), rand(16), bd, poolDesc('avg', 2, 16, 16, 16, 2, 2, 2, 2, 0, 0)), null, 'a channel-blocked x');
  });

  check('batch norm statistics keep their precision when the mean is large against the spread (one pass, shifted sums)', () => {
    // Spread 1 about a mean of 10^4 in float32: E[x²] − E[x]² would lose every digit of the variance.
    const [n, c, spatial] = [16, 6, 144];
    const d = { n, c, spatial, eps: 1e-5 };
    const x = rand(n * c * spatial, -1, 1).map((v, i) => v + 1e4 + (i % 3));
    const gamma = rand(c, 0.5, 1.5);
    const beta = rand(c);
    const got = cpu.batchNormTrain(x, gamma, beta, d);
    const want = ref.batchNormTrain(x, gamma, beta, d);
    assertClose(got.mean, want.mean, 'mean');
    assertClose(got.variance, want.variance, 'variance', 1e-4, 1e-5);
    // y against float64 arithmetic from x (the reference's float32 mean is itself off by half an ulp of 10^4).
    const exact = new Float32Array(x.length);
    for (let ch = 0; ch < c; ch++) {
      let sum = 0;
      let sq = 0;
      for (let i = 0; i < n; i++) for (let j = 0; j < spatial; j++) sum += x[(i * c + ch) * spatial + j];
      const m = sum / (n * spatial);
      for (let i = 0; i < n; i++) for (let j = 0; j < spatial; j++) sq += (x[(i * c + ch) * spatial + j] - m) ** 2;
      const invstd = 1 / Math.sqrt(sq / (n * spatial) + d.eps);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < spatial; j++) {
          const k = (i * c + ch) * spatial + j;
          exact[k] = (x[k] - m) * invstd * gamma[ch] + beta[ch];
        }
      }
    }
    assertClose(got.y, exact, 'y', 1e-4, 0.1);
  });
  for (const activation of ['relu', 'sigmoid', 'tanh'] as const) {
    for (const [n, c, spatial] of [[8, 6, 49], [32, 12, 1]] as const) {
      check(`batch norm with fused ${activation}, [${n}, ${c}, ${spatial}]: train, inference and backward match the reference`, () => {
        const d = { n, c, spatial, eps: 1e-5, activation };
        const { x, gamma, beta, dy, runMean, runVar } = bnProblem(n, c, spatial);
        const got = cpu.batchNormTrain(x, gamma, beta, d);
        const want = ref.batchNormTrain(x, gamma, beta, d);
        assertClose(got.y, want.y, 'y');
        assertClose(cpu.batchNormInference(x, gamma, beta, runMean, runVar, d), ref.batchNormInference(x, gamma, beta, runMean, runVar, d), 'inference');
        const gb = cpu.batchNormBackward(x, dy, gamma, want.mean, want.variance, d, want.y);
        const wb = ref.batchNormBackward(x, dy, gamma, want.mean, want.variance, d, want.y);
        assertClose(gb.dx, wb.dx, 'dx', 1e-4, 0.1);
        assertClose(gb.dgamma, wb.dgamma, 'dgamma', 1e-4, 0.1);
        assertClose(gb.dbeta, wb.dbeta, 'dbeta', 1e-4, 0.1);
        assert.throws(() => cpu.batchNormBackward(x, dy, gamma, want.mean, want.variance, d), /needs the output y/);
      });
    }
  }


  const softmaxCases: Array<[number, number]> = [[64, 10], [100, 1000], [7, 4097], [4096, 3]];
  for (const [rows, cols] of softmaxCases) {
    check(`softmax / log-softmax forward and backward, ${rows}x${cols}`, () => {
      const x = rand(rows * cols, -5, 5);
      const dy = rand(rows * cols);
      const ls = ref.logSoftmax(x, rows, cols);
      const sm = ref.softmax(x, rows, cols);
      assertClose(cpu.logSoftmax(x, rows, cols), ls, 'logSoftmax');
      assertClose(cpu.softmax(x, rows, cols), sm, 'softmax');
      assertClose(cpu.logSoftmaxBackward(ls, dy, rows, cols), ref.logSoftmaxBackward(ls, dy, rows, cols), 'logSoftmaxBackward');
      assertClose(cpu.softmaxBackward(sm, dy, rows, cols), ref.softmaxBackward(sm, dy, rows, cols), 'softmaxBackward');
    });
  }

  check('sgd step in place (plain, momentum, nesterov, weight decay, maximize)', () => {
    const variants = [
      { lr: 0.1, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false },
      { lr: 0.05, momentum: 0.9, dampening: 0, weightDecay: 5e-4, nesterov: false },
      { lr: 0.05, momentum: 0.9, dampening: 0.1, weightDecay: 0, nesterov: true },
      { lr: 0.01, momentum: 0.5, dampening: 0, weightDecay: 1e-2, nesterov: false, maximize: true },
    ];
    for (const n of [SMALL * 5 + 7, 300]) {
      for (const d of variants) {
        const p = rand(n);
        const g = rand(n);
        const m = rand(n);
        const p2 = p.slice();
        const m2 = m.slice();
        for (let step = 0; step < 3; step++) {
          cpu.sgdStepInplace(p, g, d.momentum ? m : null, d);
          ref.sgdStepInplace(p2, g, d.momentum ? m2 : null, d);
        }
        assertClose(p, p2, `sgd param ${JSON.stringify(d)}`);
        assertClose(m, m2, `sgd momentum ${JSON.stringify(d)}`);
      }
    }
  });

  check('adam step in place (L2 and decoupled weight decay)', () => {
    for (const decoupled of [false, true]) {
      const n = SMALL * 4 + 1;
      const p = rand(n);
      const m = new Float32Array(n);
      const v = new Float32Array(n);
      const p2 = p.slice();
      const m2 = m.slice();
      const v2 = v.slice();
      for (let step = 1; step <= 3; step++) {
        const g = rand(n);
        const d = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 1e-2, decoupled, step };
        cpu.adamStepInplace(p, g, m, v, d);
        ref.adamStepInplace(p2, g, m2, v2, d);
      }
      assertClose(p, p2, `adam param (decoupled ${decoupled})`);
      assertClose(m, m2, 'adam m');
      assertClose(v, v2, 'adam v');
    }
  });

  check('results do not depend on the thread count', () => {
    const d = convDesc(2, 8, 12, 12, 16, 3, 3, 1, 1, 1, 1);
    const x = rand(d.n * d.c * d.h * d.w);
    const w = rand(d.oc * d.c * d.kh * d.kw);
    const before = native!.getNumThreads();
    try {
      backend!.setNumThreads!(1);
      assert.equal(native!.getNumThreads(), 1);
      assert.match(backend!.describe(), /1 thread\)/);
      const one = cpu.conv2d(x, w, null, d);
      backend!.setNumThreads!(Math.max(2, before));
      assertClose(cpu.conv2d(x, w, null, d), one, 'conv2d with more threads');
    } finally {
      backend!.setNumThreads!(before);
    }
  });
});

check('max pooling backward from the forward\'s saved indices equals the reference (ties, NaN, foreign y)', () => {
  const d = { kind: 'max' as const, n: 4, c: 8, h: 13, w: 11, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1, oh: 13, ow: 11, countIncludePad: true };
  const x = Float32Array.from({ length: 4 * 8 * 13 * 11 }, (_, i) => Math.round(Math.sin(i) * 3));
  x[5] = NaN;
  const y = cpu.pool2d(x, d);
  const yr = ref.pool2d(x, d);
  const dy = Float32Array.from({ length: y.length }, (_, i) => Math.cos(i));
  assert.deepEqual(cpu.pool2dBackward(x, y, dy, d), ref.pool2dBackward(x, yr, dy, d));
  // A y the forward did not produce takes the searching path, with the same result.
  assert.deepEqual(cpu.pool2dBackward(x, yr.slice(), dy, d), ref.pool2dBackward(x, yr, dy, d));
});

check('tiled 2x2 pooling matches the reference bit for bit (ties, NaN, odd sizes)', () => {
  for (const [h, w] of [[12, 10], [13, 11]]) {
    for (const kind of ['max', 'avg'] as const) {
      const d = { kind, n: 3, c: 4, h, w, kh: 2, kw: 2, sh: 2, sw: 2, ph: 0, pw: 0, oh: Math.floor(h / 2), ow: Math.floor(w / 2), countIncludePad: true };
      const x = Float32Array.from({ length: 3 * 4 * h * w }, (_, i) => Math.round(Math.sin(i) * 3));
      x[7] = NaN;
      const y = cpu.pool2d(x, d);
      const yr = ref.pool2d(x, d);
      assert.deepEqual(y, yr, `${kind} ${h}x${w} y`);
      const dy = Float32Array.from({ length: y.length }, (_, i) => Math.cos(i));
      assert.deepEqual(cpu.pool2dBackward(x, y, dy, d), ref.pool2dBackward(x, yr, dy, d), `${kind} ${h}x${w} dx`);
    }
  }
});
