/**
 * Timing of full train steps (forward, cross-entropy, backward, SGD step) on
 * random data, for `torchlet bench` and `npm run bench`.
 */
import type { Module } from '../nn/module.js';
import { rand, randint } from '../creation.js';
import { crossEntropy } from '../ops/softmax.js';
import { SGD } from '../optim/sgd.js';
import { resetKernelProfile } from '../node/profile.js';

export interface BenchOptions {
  batch: number;
  steps: number;
  warmup?: number;
  inputShape: readonly number[];
  lr?: number;
}

export interface BenchResult {
  /** Seconds per step, one entry per timed step. */
  stepSeconds: number[];
  medianSeconds: number;
  examplesPerSec: number;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function benchTrainSteps(net: Module, opts: BenchOptions): BenchResult {
  const X = rand([opts.batch, ...opts.inputShape]);
  const y = randint(0, 10, [opts.batch]);
  const optimizer = new SGD(net.parameters(), { lr: opts.lr ?? 0.01 });
  net.train();
  const step = (): void => {
    optimizer.zeroGrad();
    const loss = crossEntropy(net.forward(X), y);
    loss.backward();
    optimizer.step();
  };
  for (let i = 0; i < (opts.warmup ?? 2); i++) step();
  resetKernelProfile(); // warm-up steps build primitives; leave them out of TORCHLET_PROFILE_KERNELS
  const stepSeconds: number[] = [];
  for (let i = 0; i < opts.steps; i++) {
    const t0 = process.hrtime.bigint();
    step();
    stepSeconds.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  const medianSeconds = median(stepSeconds);
  return { stepSeconds, medianSeconds, examplesPerSec: opts.batch / medianSeconds };
}
