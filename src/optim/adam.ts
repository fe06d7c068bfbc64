import { kernelsOn } from '../ops/dispatch.js';
import type { Parameter } from '../nn/parameter.js';
import { Optimizer } from './optimizer.js';

export interface AdamOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
}

/** torch.optim.Adam (L2 weight decay added to the gradient). */
export class Adam extends Optimizer {
  lr: number;
  readonly betas: [number, number];
  readonly eps: number;
  readonly weightDecay: number;
  protected readonly decoupled: boolean = false;

  constructor(params: Iterable<Parameter>, opts: AdamOptions = {}) {
    super(params);
    this.lr = opts.lr ?? 1e-3;
    this.betas = opts.betas ?? [0.9, 0.999];
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? this.defaultWeightDecay();
  }

  protected defaultWeightDecay(): number {
    return 0;
  }

  protected hyper(): Record<string, number | boolean> {
    return { lr: this.lr, beta1: this.betas[0], beta2: this.betas[1], eps: this.eps, weight_decay: this.weightDecay };
  }

  step(): void {
    this.params.forEach((p, i) => {
      const g = this.gradOf(p, i);
      if (!g) return;
      let st = this.state[i];
      if (!st) {
        st = { step: 0, exp_avg: this.stateTensor(p, 0), exp_avg_sq: this.stateTensor(p, 0) };
        this.state[i] = st;
      }
      st.step = (st.step as number) + 1;
      kernelsOn('adam', p).adamStepInplace(p.storage, g, this.stateOn(p, st, 'exp_avg'), this.stateOn(p, st, 'exp_avg_sq'), {
        lr: this.lr, beta1: this.betas[0], beta2: this.betas[1], eps: this.eps,
        weightDecay: this.weightDecay, decoupled: this.decoupled, step: st.step,
      });
    });
  }
}

/** torch.optim.AdamW: decoupled weight decay, default 0.01. */
export class AdamW extends Adam {
  protected override readonly decoupled: boolean = true;
  protected override defaultWeightDecay(): number {
    return 0.01;
  }
}
