/** GoogLeNet: five stages, nine Inception blocks (d2l's version for 96×96 input). */
import type { Tensor } from '../tensor.js';
import { cat } from '../ops/movement.js';
import { nn } from './nn.js';

const F = nn.functional;

/**
 * relu(conv(x)), the seed's F.relu(conv(x)), as one fused kernel, as Sequential fuses Conv2d + ReLU:
 * same values and gradients, without a separate ReLU pass and its activation-sized buffer (the 54
 * unfused ReLUs were 4% of GoogLeNet's kernel time on cpu). Under forward hooks (summary, ONNX
 * export) fusion is off, so every Conv2d's own forward is seen.
 */
function convRelu(conv: nn.Conv2d, x: Tensor): Tensor {
  return nn.Sequential.fuseActivations ? conv.forwardWithActivation(x, 'relu') : F.relu(conv.forward(x));
}

/** Four parallel paths whose outputs are concatenated on the channel dim. Field names match the seed's state_dict keys. */
export class Inception extends nn.Module {
  p1_1: nn.Conv2d;
  p2_1: nn.Conv2d;
  p2_2: nn.Conv2d;
  p3_1: nn.Conv2d;
  p3_2: nn.Conv2d;
  p4_1: nn.MaxPool2d;
  p4_2: nn.Conv2d;

  constructor(inChannel: number, c1: number, c2: readonly [number, number], c3: readonly [number, number], c4: number) {
    super();
    this.p1_1 = new nn.Conv2d(inChannel, c1, 1);
    this.p2_1 = new nn.Conv2d(inChannel, c2[0], 1);
    this.p2_2 = new nn.Conv2d(c2[0], c2[1], 3, { padding: 1 });
    this.p3_1 = new nn.Conv2d(inChannel, c3[0], 1);
    this.p3_2 = new nn.Conv2d(c3[0], c3[1], 5, { padding: 2 });
    this.p4_1 = new nn.MaxPool2d(3, { stride: 1, padding: 1 });
    this.p4_2 = new nn.Conv2d(inChannel, c4, 1);
  }

  forward(x: Tensor): Tensor {
    const p1 = convRelu(this.p1_1, x);
    const p2 = convRelu(this.p2_2, convRelu(this.p2_1, x));
    const p3 = convRelu(this.p3_2, convRelu(this.p3_1, x));
    const p4 = convRelu(this.p4_2, this.p4_1.forward(x));
    return cat([p1, p2, p3, p4], 1);
  }
}

export function googlenet(): nn.Sequential {
  const stage1 = new nn.Sequential(
    new nn.Conv2d(1, 64, 7, { stride: 2, padding: 3 }), new nn.ReLU(),
    new nn.MaxPool2d(3, { stride: 2, padding: 1 }),
  );
  const stage2 = new nn.Sequential(
    new nn.Conv2d(64, 64, 1), new nn.ReLU(),
    new nn.Conv2d(64, 192, 3, { padding: 1 }), new nn.ReLU(),
    new nn.MaxPool2d(3, { stride: 2, padding: 1 }),
  );
  const stage3 = new nn.Sequential(
    new Inception(192, 64, [96, 128], [16, 32], 32),
    new Inception(256, 128, [128, 192], [32, 96], 64),
    new nn.MaxPool2d(3, { stride: 2, padding: 1 }),
  );
  const stage4 = new nn.Sequential(
    new Inception(480, 192, [96, 208], [16, 48], 64),
    new Inception(512, 160, [112, 224], [24, 64], 64),
    new Inception(512, 128, [128, 256], [24, 64], 64),
    new Inception(512, 112, [144, 288], [32, 64], 64),
    new Inception(528, 256, [160, 320], [32, 128], 128),
    new nn.MaxPool2d(3, { stride: 2, padding: 1 }),
  );
  const stage5 = new nn.Sequential(
    new Inception(832, 256, [160, 320], [32, 128], 128),
    new Inception(832, 384, [192, 384], [48, 128], 128),
    new nn.AdaptiveAvgPool2d([1, 1]),
    new nn.Flatten(),
  );
  return new nn.Sequential(stage1, stage2, stage3, stage4, stage5, new nn.Linear(1024, 10));
}
