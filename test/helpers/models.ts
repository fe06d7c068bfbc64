/** TS twins of the small models defined in scripts/gen_fixtures.py. */
import type { Tensor } from '../../src/tensor.js';
import * as nn from '../../src/nn/index.js';

/** Python: class Block(nn.Module): conv, bn, act. */
export class Block extends nn.Module {
  conv = new nn.Conv2d(3, 4, 3, { padding: 1 });
  bn = new nn.BatchNorm2d(4);
  act = new nn.ReLU();
  forward(x: Tensor): Tensor {
    return this.act.forward(this.bn.forward(this.conv.forward(x)));
  }
}

/** Python: class Net(nn.Module): features, pool, flatten, head. */
export class Net extends nn.Module {
  features = new nn.Sequential(new Block(), new nn.MaxPool2d(2), new nn.Conv2d(4, 8, 1, { bias: false }), new nn.BatchNorm2d(8));
  pool = new nn.AdaptiveAvgPool2d([1, 1]);
  flatten = new nn.Flatten();
  head: nn.Sequential;
  constructor(dropout = 0.5) {
    super();
    this.head = new nn.Sequential(new nn.Linear(8, 6), new nn.BatchNorm1d(6), new nn.ReLU(), new nn.Dropout(dropout), new nn.Linear(6, 3));
  }
  forward(x: Tensor): Tensor {
    return this.head.forward(this.flatten.forward(this.pool.forward(this.features.forward(x))));
  }
}
