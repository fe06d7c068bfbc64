import { kernelsOn } from '../ops/dispatch.js';
import type { Storage } from '../backend/storage.js';
import type { Parameter } from '../nn/parameter.js';
import { Optimizer } from './optimizer.js';

export interface SGDOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
  maximize?: boolean;
}

/** torch.optim.SGD, same update formula (momentum buffer starts as the first gradient). */
export class SGD extends Optimizer {
  lr: number;
  /** Writable: OneCycleLR cycles it. */
  momentum: number;
  readonly dampening: number;
  readonly weightDecay: number;
  readonly nesterov: boolean;
  readonly maximize: boolean;

  constructor(params: Iterable<Parameter>, opts: SGDOptions) {
    super(params);
    if (!(opts.lr >= 0)) throw new Error(`SGD: invalid learning rate ${opts.lr}`);
    this.lr = opts.lr;
    this.momentum = opts.momentum ?? 0;
    this.dampening = opts.dampening ?? 0;
    this.weightDecay = opts.weightDecay ?? 0;
    this.nesterov = opts.nesterov ?? false;
    this.maximize = opts.maximize ?? false;
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) throw new Error('SGD: nesterov momentum requires a momentum and zero dampening');
  }

  protected hyper(): Record<string, number | boolean> {
    return { lr: this.lr, momentum: this.momentum, dampening: this.dampening, weight_decay: this.weightDecay, nesterov: this.nesterov };
  }

  step(): void {
    this.params.forEach((p, i) => {
      const g = this.gradOf(p, i);
      if (!g) return;
      let buf: Storage | null = null;
      let dampening = this.dampening;
      if (this.momentum !== 0) {
        let st = this.state[i];
        if (!st) {
          // First step: torch sets the buffer to the gradient itself (no dampening).
          st = { momentum_buffer: this.stateTensor(p, 0) };
          this.state[i] = st;
          dampening = 0;
        }
        buf = this.stateOn(p, st, 'momentum_buffer');
      }
      kernelsOn('sgd', p).sgdStepInplace(p.storage, g, buf, {
        lr: this.lr, momentum: this.momentum, dampening, weightDecay: this.weightDecay, nesterov: this.nesterov, maximize: this.maximize,
      });
    });
  }
}
