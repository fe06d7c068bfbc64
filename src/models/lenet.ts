/** LeNet-5 as the seed defines it: sigmoid activations, average pooling, a leading Reshape. */
import type { Tensor } from '../tensor.js';
import { nn } from './nn.js';

/** The seed's `Reshape` module: view any input as [N, 1, 28, 28]. */
export class Reshape extends nn.Module {
  forward(x: Tensor): Tensor {
    return x.view(-1, 1, 28, 28);
  }
}

export function lenet(): nn.Sequential {
  return new nn.Sequential(
    new Reshape(),
    new nn.Conv2d(1, 6, 5, { padding: 2 }), new nn.Sigmoid(),
    new nn.AvgPool2d(2, { stride: 2 }),
    new nn.Conv2d(6, 16, 5), new nn.Sigmoid(),
    new nn.AvgPool2d(2, { stride: 2 }), new nn.Flatten(),
    new nn.Linear(16 * 5 * 5, 120), new nn.Sigmoid(),
    new nn.Linear(120, 84), new nn.Sigmoid(),
    new nn.Linear(84, 10),
  );
}
