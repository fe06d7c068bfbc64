import type { Tensor } from '../../tensor.js';
import { Module } from '../module.js';
import { LayerError } from '../errors.js';
import { avgPool2d, maxPool2d, adaptiveAvgPool2d } from '../../ops/pool.js';
import { pair, type Pair } from '../../ops/conv.js';
import { shapeStr } from '../../shape.js';

export interface Pool2dOptions {
  stride?: Pair | null;
  padding?: Pair;
}

abstract class Pool2d extends Module {
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];

  /** (kernel, stride?, padding?) positionally as in torch, or (kernel, { stride, padding }). */
  constructor(kernelSize: Pair, stride: Pair | Pool2dOptions | null = null, padding: Pair = 0) {
    super();
    const opts: Pool2dOptions = stride !== null && typeof stride === 'object' && !Array.isArray(stride) ? stride as Pool2dOptions : { stride: stride as Pair | null, padding };
    this.kernelSize = pair(kernelSize);
    this.stride = pair(opts.stride ?? kernelSize);
    this.padding = pair(opts.padding ?? 0);
  }

  override extraRepr(): string {
    const k = this.kernelSize[0] === this.kernelSize[1] ? this.kernelSize[0] : `(${this.kernelSize.join(', ')})`;
    const s = this.stride[0] === this.stride[1] ? this.stride[0] : `(${this.stride.join(', ')})`;
    const p = this.padding[0] === this.padding[1] ? this.padding[0] : `(${this.padding.join(', ')})`;
    return `kernel_size=${k}, stride=${s}, padding=${p}`;
  }

  override describe(): string {
    return `${this.constructor.name}(k=${this.kernelSize[0]}, s=${this.stride[0]}${this.padding[0] ? `, p=${this.padding[0]}` : ''})`;
  }

  protected check(x: Tensor): void {
    if (x.ndim !== 4) throw new LayerError(this.describe(), `expected a 4-D input [N,C,H,W], got ${shapeStr(x.shape)}`);
    const [, , h, w] = x.shape;
    if (h + 2 * this.padding[0] < this.kernelSize[0] || w + 2 * this.padding[1] < this.kernelSize[1]) {
      throw new LayerError(this.describe(), `input ${h}x${w} is smaller than the ${this.kernelSize.join('x')} window (input ${shapeStr(x.shape)})`);
    }
  }
}

export class MaxPool2d extends Pool2d {
  override extraRepr(): string {
    return `${super.extraRepr()}, dilation=1, ceil_mode=False`;
  }
  forward(x: Tensor): Tensor {
    this.check(x);
    return maxPool2d(x, this.kernelSize, this.stride, this.padding);
  }
}

export class AvgPool2d extends Pool2d {
  forward(x: Tensor): Tensor {
    this.check(x);
    return avgPool2d(x, this.kernelSize, this.stride, this.padding);
  }
}

export class AdaptiveAvgPool2d extends Module {
  readonly outputSize: [number, number];
  constructor(outputSize: Pair) {
    super();
    this.outputSize = pair(outputSize);
  }
  override extraRepr(): string {
    return `output_size=(${this.outputSize.join(', ')})`;
  }
  forward(x: Tensor): Tensor {
    if (x.ndim !== 4) throw new LayerError(this.describe(), `expected a 4-D input [N,C,H,W], got ${shapeStr(x.shape)}`);
    return adaptiveAvgPool2d(x, this.outputSize);
  }
}
