import type { Tensor } from '../../tensor.js';
import { empty } from './util.js';
import { Module } from '../module.js';
import { Parameter } from '../parameter.js';
import { LayerError } from '../errors.js';
import { conv2d, pair, type Pair } from '../../ops/conv.js';
import { conv2dActivationPool, type PoolSpec } from '../../ops/conv-pool.js';
import { kaimingUniform_, uniform_, calculateFanInAndFanOut } from '../init.js';
import { shapeStr } from '../../shape.js';
import type { ActivationOp } from '../../backend/kernels.js';

export interface Conv2dOptions {
  stride?: Pair;
  padding?: Pair;
  bias?: boolean;
}

/** torch.nn.Conv2d (groups = dilation = 1). Positional arguments follow torch's order. */
export class Conv2d extends Module {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];
  weight: Parameter;
  bias: Parameter | null;

  constructor(inChannels: number, outChannels: number, kernelSize: Pair, stride: Pair | Conv2dOptions = 1, padding: Pair = 0, bias = true) {
    super();
    const opts: Conv2dOptions = typeof stride === 'object' && !Array.isArray(stride) ? stride as Conv2dOptions : { stride: stride as Pair, padding, bias };
    this.inChannels = inChannels;
    this.outChannels = outChannels;
    this.kernelSize = pair(kernelSize);
    this.stride = pair(opts.stride ?? 1);
    this.padding = pair(opts.padding ?? 0);
    this.weight = new Parameter(empty([outChannels, inChannels, ...this.kernelSize]));
    this.bias = opts.bias ?? true ? new Parameter(empty([outChannels])) : null;
    this.resetParameters();
  }

  /** PyTorch's default: kaiming_uniform_(a=√5) for the weight, U(±1/√fan_in) for the bias. */
  resetParameters(): void {
    kaimingUniform_(this.weight, { a: Math.sqrt(5) });
    if (this.bias) {
      const { fanIn } = calculateFanInAndFanOut(this.weight);
      const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
      uniform_(this.bias, -bound, bound);
    }
  }

  override extraRepr(): string {
    const [kh, kw] = this.kernelSize;
    const parts = [`${this.inChannels}, ${this.outChannels}, kernel_size=(${kh}, ${kw}), stride=(${this.stride.join(', ')})`];
    if (this.padding[0] || this.padding[1]) parts.push(`padding=(${this.padding.join(', ')})`);
    if (!this.bias) parts.push('bias=False');
    return parts.join(', ');
  }

  override describe(): string {
    const [kh, kw] = this.kernelSize;
    const k = kh === kw ? `${kh}` : `${kh}x${kw}`;
    const s = this.stride[0] !== 1 || this.stride[1] !== 1 ? `, s=${this.stride[0]}` : '';
    const p = this.padding[0] || this.padding[1] ? `, p=${this.padding[0]}` : '';
    return `Conv2d(${this.inChannels}→${this.outChannels}, k=${k}${s}${p})`;
  }

  forward(x: Tensor): Tensor {
    return this.forwardWithActivation(x);
  }

  /** This convolution followed by an activation in one kernel (Sequential fuses Conv2d + ReLU/Sigmoid/Tanh this way). */
  forwardWithActivation(x: Tensor, activation?: ActivationOp): Tensor {
    this.checkInput(x);
    return conv2d(x, this.weight, this.bias, this.stride, this.padding, activation);
  }

  /**
   * This convolution, an activation and a pool as one autograd node (Sequential fuses Conv2d +
   * ReLU/Sigmoid/Tanh + AvgPool2d or MaxPool2d this way): the pool's gradient goes through the
   * activation in one pass.
   */
  forwardWithActivationAndPool(x: Tensor, activation: ActivationOp, pool: PoolSpec): Tensor {
    this.checkInput(x);
    return conv2dActivationPool(x, this.weight, this.bias, this.stride, this.padding, activation, pool);
  }

  private checkInput(x: Tensor): void {
    if (x.ndim !== 4) throw new LayerError(this.describe(), `expected a 4-D input [N,C,H,W], got ${shapeStr(x.shape)}`);
    if (x.shape[1] !== this.inChannels) {
      throw new LayerError(this.describe(), `expected ${this.inChannels} input channels, got ${x.shape[1]} (input ${shapeStr(x.shape)})`);
    }
    const [kh, kw] = this.kernelSize;
    const [, , h, w] = x.shape;
    if (h + 2 * this.padding[0] < kh || w + 2 * this.padding[1] < kw) {
      throw new LayerError(this.describe(), `input ${h}x${w} (padded ${h + 2 * this.padding[0]}x${w + 2 * this.padding[1]}) is smaller than the ${kh}x${kw} kernel (input ${shapeStr(x.shape)})`);
    }
  }
}
