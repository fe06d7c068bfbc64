import type { Tensor } from '../../tensor.js';
import { Module } from '../module.js';
import { flatten } from '../../ops/movement.js';
import { dropout } from '../functional.js';

export class Flatten extends Module {
  constructor(readonly startDim = 1, readonly endDim = -1) {
    super();
  }
  override extraRepr(): string {
    return `start_dim=${this.startDim}, end_dim=${this.endDim}`;
  }
  forward(x: Tensor): Tensor {
    return flatten(x, this.startDim, this.endDim);
  }
}

export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}

export class Dropout extends Module {
  constructor(readonly p = 0.5) {
    super();
    if (!(p >= 0 && p <= 1)) throw new Error(`Dropout: probability has to be between 0 and 1, but got ${p}`);
  }
  override extraRepr(): string {
    return `p=${this.p}, inplace=False`;
  }
  forward(x: Tensor): Tensor {
    return dropout(x, this.p, this.training);
  }
}

/**
 * A module from a function, for one-liners like the seed's Reshape:
 * `new Lambda((x) => x.view(-1, 1, 28, 28), 'Reshape')`. The name is what
 * summaries print.
 */
export class Lambda extends Module {
  constructor(private readonly fn: (x: Tensor) => Tensor, readonly displayName = 'Lambda') {
    super();
  }
  override describe(): string {
    return `${this.displayName}()`;
  }
  override toString(): string {
    return `${this.displayName}()`;
  }
  forward(x: Tensor): Tensor {
    return this.fn(x);
  }
}
