/** Network in Network: conv blocks with 1×1 "fully connected" convs and global average pooling. */
import { nn } from './nn.js';

export function ninBlock(inChannels: number, outChannels: number, kernelSize: number, strides: number, padding: number): nn.Sequential {
  return new nn.Sequential(
    new nn.Conv2d(inChannels, outChannels, kernelSize, strides, padding),
    new nn.ReLU(),
    new nn.Conv2d(outChannels, outChannels, 1), new nn.ReLU(),
    new nn.Conv2d(outChannels, outChannels, 1), new nn.ReLU(),
  );
}

export function nin(): nn.Sequential {
  return new nn.Sequential(
    ninBlock(1, 96, 11, 4, 0),
    new nn.MaxPool2d(3, { stride: 2 }),
    ninBlock(96, 256, 5, 1, 2),
    new nn.MaxPool2d(3, { stride: 2 }),
    ninBlock(256, 384, 3, 1, 1),
    new nn.MaxPool2d(3, { stride: 2 }),
    new nn.Dropout(0.5),
    // 10 output channels, one per class.
    ninBlock(384, 10, 3, 1, 1),
    new nn.AdaptiveAvgPool2d([1, 1]),
    // [batch, 10, 1, 1] → [batch, 10]
    new nn.Flatten(),
  );
}
