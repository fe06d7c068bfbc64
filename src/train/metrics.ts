/** d2l's small training utilities: Accumulator, Timer and accuracy. */
import type { Tensor } from '../tensor.js';

/** Sums over n variables (d2l.Accumulator). */
export class Accumulator {
  data: number[];
  constructor(n: number) {
    this.data = new Array<number>(n).fill(0);
  }
  add(...args: number[]): void {
    if (args.length !== this.data.length) throw new Error(`Accumulator.add: expected ${this.data.length} values, got ${args.length}`);
    args.forEach((v, i) => (this.data[i] += v));
  }
  reset(): void {
    this.data.fill(0);
  }
  get(i: number): number {
    return this.data[i];
  }
}

/** Records several running times (d2l.Timer). */
export class Timer {
  times: number[] = [];
  private t0 = 0;
  constructor() {
    this.start();
  }
  start(): void {
    this.t0 = performance.now();
  }
  /** Stop the timer, record and return the elapsed seconds. */
  stop(): number {
    const dt = (performance.now() - this.t0) / 1000;
    this.times.push(dt);
    return dt;
  }
  avg(): number {
    return this.times.length ? this.sum() / this.times.length : 0;
  }
  sum(): number {
    return this.times.reduce((a, b) => a + b, 0);
  }
  cumsum(): number[] {
    let s = 0;
    return this.times.map((t) => (s += t));
  }
}

/** The number of correct predictions as a 0-d tensor on the predictions' device (read it without a sync per batch). */
export function correctCount(yHat: Tensor, y: Tensor): Tensor {
  const pred = yHat.ndim > 1 && yHat.shape[1] > 1 ? yHat.argmax(1) : yHat;
  if (pred.numel() !== y.numel()) throw new Error(`accuracy: ${pred.numel()} predictions for ${y.numel()} labels`);
  return pred.reshape([-1]).eq(y.reshape([-1])).sum();
}

/** Number of correct predictions (d2l.accuracy): argmax over classes compared with the labels. */
export function accuracy(yHat: Tensor, y: Tensor): number {
  const pred = yHat.ndim > 1 && yHat.shape[1] > 1 ? yHat.argmax(1) : yHat;
  const p = pred.hostView();
  const t = y.hostView();
  if (p.length !== t.length) throw new Error(`accuracy: ${p.length} predictions for ${t.length} labels`);
  let correct = 0;
  for (let i = 0; i < p.length; i++) if (p[i] === t[i]) correct++;
  return correct;
}
