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
  private t0 = 0n;
  constructor() {
    this.start();
  }
  start(): void {
    this.t0 = process.hrtime.bigint();
  }
  /** Stop the timer, record and return the elapsed seconds. */
  stop(): number {
    const dt = Number(process.hrtime.bigint() - this.t0) / 1e9;
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

/** Number of correct predictions (d2l.accuracy): argmax over classes compared with the labels. */
export function accuracy(yHat: Tensor, y: Tensor): number {
  const pred = yHat.ndim > 1 && yHat.shape[1] > 1 ? yHat.argmax(1) : yHat;
  const p = pred.storage;
  const t = y.storage;
  if (p.length !== t.length) throw new Error(`accuracy: ${p.length} predictions for ${t.length} labels`);
  let correct = 0;
  for (let i = 0; i < p.length; i++) if (p[i] === t[i]) correct++;
  return correct;
}
