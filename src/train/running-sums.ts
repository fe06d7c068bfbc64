/**
 * Loss and correct-count sums kept on the device the model trains on, and read
 * only when asked. A GPU then never waits inside a training step: fit reads
 * the sums at the curve points and at the end of each epoch. On the host,
 * where a read costs nothing, fit reads after every step.
 */
import { noGrad } from '../autograd/grad-mode.js';
import { tidy } from '../memory.js';
import type { Tensor } from '../tensor.js';

export interface Sums {
  lossSum: number;
  correct: number;
  examples: number;
}

export class RunningSums {
  private loss: Tensor | null = null;
  private correct: Tensor | null = null;
  private examples = 0;

  /** Add one batch: its mean loss (0-d), its correct count (0-d) and its size. The tensors stay the caller's. */
  add(meanLoss: Tensor, correct: Tensor, n: number): void {
    const [loss, corr] = tidy(() => noGrad(() => {
      const l = meanLoss.mul(n);
      return [this.loss ? this.loss.add(l) : l, this.correct ? this.correct.add(correct) : correct.mul(1)];
    }));
    this.loss?.dispose();
    this.correct?.dispose();
    this.loss = loss;
    this.correct = corr;
    this.examples += n;
  }

  get pending(): number {
    return this.examples;
  }

  /** The sums since the last read (one readback of each), and start again from zero. */
  async read(): Promise<Sums> {
    if (!this.loss || !this.correct) return { lossSum: 0, correct: 0, examples: 0 };
    const out = { lossSum: await this.loss.item(), correct: await this.correct.item(), examples: this.examples };
    this.loss.dispose();
    this.correct.dispose();
    this.loss = null;
    this.correct = null;
    this.examples = 0;
    return out;
  }

  dispose(): void {
    this.loss?.dispose();
    this.correct?.dispose();
    this.loss = null;
    this.correct = null;
    this.examples = 0;
  }
}
