/** ResNet-18 as d2l builds it for 1-channel 96×96 Fashion-MNIST (beyond the seed). */
import type { Tensor } from '../tensor.js';
import { nn } from './nn.js';

const F = nn.functional;

export class Residual extends nn.Module {
  conv1: nn.Conv2d;
  conv2: nn.Conv2d;
  conv3: nn.Conv2d | null;
  bn1: nn.BatchNorm2d;
  bn2: nn.BatchNorm2d;

  constructor(inputChannels: number, numChannels: number, use1x1conv = false, strides = 1) {
    super();
    this.conv1 = new nn.Conv2d(inputChannels, numChannels, 3, { padding: 1, stride: strides });
    this.conv2 = new nn.Conv2d(numChannels, numChannels, 3, { padding: 1 });
    this.conv3 = use1x1conv ? new nn.Conv2d(inputChannels, numChannels, 1, { stride: strides }) : null;
    this.bn1 = new nn.BatchNorm2d(numChannels);
    this.bn2 = new nn.BatchNorm2d(numChannels);
  }

  forward(X: Tensor): Tensor {
    let Y = F.relu(this.bn1.forward(this.conv1.forward(X)));
    Y = this.bn2.forward(this.conv2.forward(Y));
    const shortcut = this.conv3 ? this.conv3.forward(X) : X;
    return F.relu(Y.add(shortcut));
  }
}

export function resnetBlock(inputChannels: number, numChannels: number, numResiduals: number, firstBlock = false): nn.Module[] {
  const blk: nn.Module[] = [];
  for (let i = 0; i < numResiduals; i++) {
    if (i === 0 && !firstBlock) blk.push(new Residual(inputChannels, numChannels, true, 2));
    else blk.push(new Residual(numChannels, numChannels));
  }
  return blk;
}

export function resnet18(): nn.Sequential {
  const b1 = new nn.Sequential(
    new nn.Conv2d(1, 64, 7, { stride: 2, padding: 3 }), new nn.BatchNorm2d(64), new nn.ReLU(),
    new nn.MaxPool2d(3, { stride: 2, padding: 1 }),
  );
  const b2 = new nn.Sequential(...resnetBlock(64, 64, 2, true));
  const b3 = new nn.Sequential(...resnetBlock(64, 128, 2));
  const b4 = new nn.Sequential(...resnetBlock(128, 256, 2));
  const b5 = new nn.Sequential(...resnetBlock(256, 512, 2));
  return new nn.Sequential(b1, b2, b3, b4, b5, new nn.AdaptiveAvgPool2d([1, 1]), new nn.Flatten(), new nn.Linear(512, 10));
}
