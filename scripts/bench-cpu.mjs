#!/usr/bin/env node
/**
 * Per-kernel timings of the native cpu backend vs the reference kernels on
 * LeNet- and AlexNet-sized layers. Run after `npm run build`:
 *   node scripts/bench-cpu.mjs [--ref] [--lenet-batch N] [--alexnet-batch N] [--filter text]
 * --ref also times the reference kernels (slow for AlexNet shapes; use a small --alexnet-batch).
 */
import { loadCpuBackend, loadNative } from '../dist/src/backend/cpu/index.js';
import { referenceKernels as ref } from '../dist/src/backend/reference/index.js';

const args = process.argv.slice(2);
const withRef = args.includes('--ref');
const argNum = (name, dflt) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : dflt);
const filterArg = args.indexOf('--filter');
const filter = filterArg >= 0 ? args[filterArg + 1] : '';
const backend = loadCpuBackend();
if (!backend) {
  console.error('native addon not built');
  process.exit(1);
}
const cpu = backend.kernels;
const nat = loadNative();
console.log(backend.describe(), process.env.TORCHLET_CONV_LAYOUT ? `layout=${process.env.TORCHLET_CONV_LAYOUT}` : '');

function rand(n) {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.random() * 2 - 1;
  return a;
}

/** Fastest of several runs (ms), time-boxed; the minimum is the robust statistic on a shared machine. */
function time(fn, budgetMs = 1000, maxRuns = 15) {
  const t0 = performance.now();
  fn(); // warm-up: primitive creation, then the layout tuning of conv shapes (6 calls)
  if (performance.now() - t0 > budgetMs) return performance.now() - t0;
  for (let i = 0; i < 5 && performance.now() - t0 < 4 * budgetMs; i++) fn();
  const times = [];
  const start = performance.now();
  while (times.length < maxRuns && (times.length < 3 || performance.now() - start < budgetMs)) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  return Math.min(...times);
}

function conv(n, c, h, w, oc, k, s, p) {
  const oh = Math.floor((h + 2 * p - k) / s) + 1;
  const ow = Math.floor((w + 2 * p - k) / s) + 1;
  return { n, c, h, w, oc, kh: k, kw: k, sh: s, sw: s, ph: p, pw: p, oh, ow };
}

const lenetB = argNum('--lenet-batch', 256);
const alexB = argNum('--alexnet-batch', 32);
console.log(`LeNet batch ${lenetB}, AlexNet batch ${alexB}`);
const convs = [
  ['LeNet conv1 1→6 5x5 p2 28²', conv(lenetB, 1, 28, 28, 6, 5, 1, 2)],
  ['LeNet conv2 6→16 5x5 14²', conv(lenetB, 6, 14, 14, 16, 5, 1, 0)],
  ['AlexNet conv1 1→96 11x11 s4 p1 224²', conv(alexB, 1, 224, 224, 96, 11, 4, 1)],
  ['AlexNet conv2 96→256 5x5 p2 26²', conv(alexB, 96, 26, 26, 256, 5, 1, 2)],
  ['AlexNet conv3 256→384 3x3 p1 12²', conv(alexB, 256, 12, 12, 384, 3, 1, 1)],
  ['AlexNet conv4 384→384 3x3 p1 12²', conv(alexB, 384, 12, 12, 384, 3, 1, 1)],
  ['AlexNet conv5 384→256 3x3 p1 12²', conv(alexB, 384, 12, 12, 256, 3, 1, 1)],
];

const rows = [];
function report(name, which, fn, refFn) {
  if (filter && !`${name} ${which}`.includes(filter)) return;
  nat.clearCache(); // so lastImpl() is '' for kernels that are plain loops, not oneDNN primitives
  const t = time(fn);
  const impl = nat.lastImpl() || '(own loop)';
  const r = withRef && refFn ? time(refFn, 2000, 3) : null;
  rows.push({ kernel: `${name} ${which}`, cpu_ms: t.toFixed(2), ref_ms: r === null ? '' : r.toFixed(1), speedup: r === null ? '' : `${(r / t).toFixed(1)}x`, impl });
}

if (args.includes('--layouts')) {
  // Interleaved plain vs blocked timings of every conv kernel (min of 5 each).
  const out = [];
  for (const [name, d] of convs) {
    const x = rand(d.n * d.c * d.h * d.w);
    const wt = rand(d.oc * d.c * d.kh * d.kw);
    const dy = rand(d.n * d.oc * d.oh * d.ow);
    for (const [op, fn] of [['fwd', () => cpu.conv2d(x, wt, null, d)], ['bwd data', () => cpu.conv2dBackwardData(dy, wt, d)], ['bwd weight', () => cpu.conv2dBackwardWeight(x, dy, d, true)]]) {
      const best = { plain: Infinity, blocked: Infinity };
      for (const l of ['plain', 'blocked']) { nat.setConvLayout(l); fn(); }
      for (let r = 0; r < 5; r++) {
        for (const l of ['plain', 'blocked']) {
          nat.setConvLayout(l);
          const t0 = performance.now();
          fn();
          best[l] = Math.min(best[l], performance.now() - t0);
        }
      }
      out.push({ kernel: `${name} ${op}`, plain_ms: best.plain.toFixed(2), blocked_ms: best.blocked.toFixed(2), ratio: (best.plain / best.blocked).toFixed(2) });
    }
  }
  nat.setConvLayout('auto');
  console.table(out);
  process.exit(0);
}

for (const [name, d] of convs) {
  const x = rand(d.n * d.c * d.h * d.w);
  const wt = rand(d.oc * d.c * d.kh * d.kw);
  const b = rand(d.oc);
  const dy = rand(d.n * d.oc * d.oh * d.ow);
  report(name, 'fwd', () => cpu.conv2d(x, wt, b, d), () => ref.conv2d(x, wt, b, d));
  report(name, 'fwd+relu', () => cpu.conv2d(x, wt, b, { ...d, activation: 'relu' }), null);
  report(name, 'bwd data', () => cpu.conv2dBackwardData(dy, wt, d), () => ref.conv2dBackwardData(dy, wt, d));
  report(name, 'bwd weight', () => cpu.conv2dBackwardWeight(x, dy, d, true), () => ref.conv2dBackwardWeight(x, dy, d, true));
}

const pools = [
  ['LeNet pool 2x2 s2 6@28²', { kind: 'max', n: lenetB, c: 6, h: 28, w: 28, kh: 2, kw: 2, sh: 2, sw: 2, ph: 0, pw: 0, oh: 14, ow: 14, countIncludePad: true }],
  ['AlexNet pool 3x3 s2 96@54²', { kind: 'max', n: alexB, c: 96, h: 54, w: 54, kh: 3, kw: 3, sh: 2, sw: 2, ph: 0, pw: 0, oh: 26, ow: 26, countIncludePad: true }],
];
for (const [name, d] of pools) {
  const x = rand(d.n * d.c * d.h * d.w);
  const dy = rand(d.n * d.c * d.oh * d.ow);
  const y = cpu.pool2d(x, d);
  report(name, 'fwd', () => cpu.pool2d(x, d), () => ref.pool2d(x, d));
  report(name, 'bwd', () => cpu.pool2dBackward(x, y, dy, d), () => ref.pool2dBackward(x, y, dy, d));
}

const mms = [
  ['LeNet fc1 400→120', { batch: 1, m: lenetB, k: 400, n: 120, transA: false, transB: true }],
  ['AlexNet fc1 6400→4096', { batch: 1, m: alexB, k: 6400, n: 4096, transA: false, transB: true }],
];
for (const [name, d] of mms) {
  const a = rand(d.batch * d.m * d.k);
  const b = rand(d.batch * d.k * d.n);
  report(name, 'matmul', () => cpu.matmul(a, b, d), () => ref.matmul(a, b, d));
}

{
  const n = alexB * 96 * 54 * 54;
  const x = rand(n);
  report(`relu ${n}`, 'fwd', () => cpu.unary('relu', x), () => ref.unary('relu', x));
  report(`relu ${n}`, 'bwd', () => cpu.activationBackward('relu', x, x, x), () => ref.activationBackward('relu', x, x, x));
  const d = { n: alexB, c: 96, spatial: 54 * 54, eps: 1e-5 };
  const g = rand(96);
  report(`batchnorm ${n}`, 'train', () => cpu.batchNormTrain(x, g, g, d), () => ref.batchNormTrain(x, g, g, d));
  const st = ref.batchNormTrain(x, g, g, d);
  report(`batchnorm ${n}`, 'bwd', () => cpu.batchNormBackward(x, x, g, st.mean, st.variance, d), () => ref.batchNormBackward(x, x, g, st.mean, st.variance, d));
  const p = rand(4096 * 6400);
  const gr = rand(p.length);
  const mom = new Float32Array(p.length);
  const sd = { lr: 0.01, momentum: 0.9, dampening: 0, weightDecay: 0, nesterov: false };
  report(`sgd momentum ${p.length}`, 'step', () => cpu.sgdStepInplace(p, gr, mom, sd), () => ref.sgdStepInplace(p, gr, mom, sd));
  const lg = rand(lenetB * 10);
  report(`logSoftmax ${lenetB}x10`, 'fwd', () => cpu.logSoftmax(lg, lenetB, 10), () => ref.logSoftmax(lg, lenetB, 10));
}
console.table(rows);
