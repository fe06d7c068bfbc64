import { Tensor } from '../../tensor.js';
import { Module } from '../module.js';
import { Parameter } from '../parameter.js';
import { LayerError } from '../errors.js';
import { batchNorm, type BatchNormOptions as BatchNormOpOptions } from '../../ops/batchnorm.js';
import { batchNormActivationAvgPool, type AvgPoolSpec } from '../../ops/batchnorm-pool.js';
import { kernelsOn } from '../../ops/dispatch.js';
import { shapeStr } from '../../shape.js';
import type { ActivationOp } from '../../backend/kernels.js';

export interface BatchNormOptions {
  eps?: number;
  momentum?: number;
  affine?: boolean;
  trackRunningStats?: boolean;
}

/**
 * torch.nn.BatchNorm{1,2}d. Field names follow torch's state_dict keys
 * (running_mean, running_var, num_batches_tracked) so checkpoints match.
 */
export abstract class BatchNormBase extends Module {
  readonly numFeatures: number;
  readonly eps: number;
  readonly momentum: number;
  weight: Parameter | null;
  bias: Parameter | null;
  declare running_mean: Tensor | null;
  declare running_var: Tensor | null;
  declare num_batches_tracked: Tensor | null;

  constructor(numFeatures: number, opts: BatchNormOptions = {}) {
    super();
    this.numFeatures = numFeatures;
    this.eps = opts.eps ?? 1e-5;
    this.momentum = opts.momentum ?? 0.1;
    const affine = opts.affine ?? true;
    this.weight = affine ? new Parameter(new Tensor(new Float32Array(numFeatures).fill(1), [numFeatures])) : null;
    this.bias = affine ? new Parameter(new Tensor(new Float32Array(numFeatures), [numFeatures])) : null;
    const track = opts.trackRunningStats ?? true;
    this.registerBuffer('running_mean', track ? new Tensor(new Float32Array(numFeatures), [numFeatures]) : null);
    this.registerBuffer('running_var', track ? new Tensor(new Float32Array(numFeatures).fill(1), [numFeatures]) : null);
    this.registerBuffer('num_batches_tracked', track ? new Tensor(new Float32Array(1), [], { dtype: 'int32' }) : null);
  }

  get runningMean(): Tensor | null {
    return this.running_mean;
  }

  get runningVar(): Tensor | null {
    return this.running_var;
  }

  protected abstract checkRank(x: Tensor): void;

  override extraRepr(): string {
    return `${this.numFeatures}, eps=${pyFloat(this.eps)}, momentum=${this.momentum}, affine=${this.weight ? 'True' : 'False'}, track_running_stats=${this.running_mean ? 'True' : 'False'}`;
  }

  override describe(): string {
    return `${this.constructor.name}(${this.numFeatures})`;
  }

  forward(x: Tensor): Tensor {
    return this.forwardWithActivation(x);
  }

  /** This batch norm followed by an activation in one kernel (Sequential fuses BatchNorm + ReLU/Sigmoid/Tanh this way). */
  forwardWithActivation(x: Tensor, activation?: ActivationOp): Tensor {
    return batchNorm(x, this.running_mean, this.running_var, this.weight, this.bias, this.prepare(x, activation));
  }

  /**
   * This batch norm, an activation and then an AvgPool2d as one autograd node (Sequential fuses
   * BatchNorm2d + ReLU/Sigmoid + AvgPool2d this way; see ops/batchnorm-pool.ts).
   */
  forwardWithActivationAndPool(x: Tensor, activation: ActivationOp, pool: AvgPoolSpec): Tensor {
    return batchNormActivationAvgPool(x, this.running_mean, this.running_var, this.weight, this.bias, this.prepare(x, activation), pool);
  }

  /** Checks x, counts the batch when training, and gives the op's options. */
  private prepare(x: Tensor, activation: ActivationOp | undefined): BatchNormOpOptions {
    this.checkRank(x);
    if (x.shape[1] !== this.numFeatures) {
      throw new LayerError(this.describe(), `expected ${this.numFeatures} channels in dim 1, got ${x.shape[1]} (input ${shapeStr(x.shape)})`);
    }
    const nbt = this.num_batches_tracked;
    if (this.training && nbt) nbt.setStorage(kernelsOn('batch_norm', nbt).affine(nbt.storage, 1, 1));
    return {
      training: this.training,
      momentum: this.momentum,
      eps: this.eps,
      ...(activation ? { activation } : {}),
    };
  }
}

export class BatchNorm1d extends BatchNormBase {
  protected checkRank(x: Tensor): void {
    if (x.ndim !== 2 && x.ndim !== 3) throw new LayerError(this.describe(), `expected 2-D or 3-D input, got ${shapeStr(x.shape)}`);
  }
}

export class BatchNorm2d extends BatchNormBase {
  protected checkRank(x: Tensor): void {
    if (x.ndim !== 4) throw new LayerError(this.describe(), `expected 4-D input [N,C,H,W], got ${shapeStr(x.shape)}`);
  }
}

/** A float as Python's repr writes it (1e-05, not 0.00001), for torch-identical module printing. */
function pyFloat(v: number): string {
  if (v !== 0 && Math.abs(v) < 1e-4) return v.toExponential().replace(/e([+-])(\d)$/, 'e$10$2');
  return String(v);
}
