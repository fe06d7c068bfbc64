/**
 * Tensor's op methods (x.add(y), x.conv…, x.reshape(…)), installed on the
 * prototype here rather than written in tensor.ts, so that tensor.ts imports
 * no op and ops import tensor.ts without a cycle. Every entry point (core.ts,
 * and node/setup.ts before it in Node) imports this module first.
 */
import { Tensor, type TensorLike } from './tensor.js';
import { noGrad } from './autograd/grad-mode.js';
import { device as toDevice, CPU, type DeviceLike } from './device.js';
import * as ew from './ops/elementwise.js';
import * as red from './ops/reduce.js';
import * as mv from './ops/movement.js';
import * as mm from './ops/matmul.js';
import { toDeviceAsync, toDeviceOp } from './ops/transfer.js';
import { asOneOp, recordOp, tracingOn } from './ops/trace.js';

declare module './tensor.js' {
  interface Tensor {
    clone(): Tensor;
    add(other: TensorLike): Tensor;
    sub(other: TensorLike): Tensor;
    mul(other: TensorLike): Tensor;
    div(other: TensorLike): Tensor;
    pow(exponent: TensorLike): Tensor;
    maximum(other: TensorLike): Tensor;
    minimum(other: TensorLike): Tensor;
    eq(other: TensorLike): Tensor;
    ne(other: TensorLike): Tensor;
    lt(other: TensorLike): Tensor;
    le(other: TensorLike): Tensor;
    gt(other: TensorLike): Tensor;
    ge(other: TensorLike): Tensor;
    neg(): Tensor;
    exp(): Tensor;
    log(): Tensor;
    sqrt(): Tensor;
    abs(): Tensor;
    sigmoid(): Tensor;
    relu(): Tensor;
    tanh(): Tensor;
    square(): Tensor;
    reciprocal(): Tensor;
    sign(): Tensor;
    clamp(min: number | null, max?: number | null): Tensor;
    sum(dim?: number | readonly number[], keepdim?: boolean): Tensor;
    mean(dim?: number | readonly number[], keepdim?: boolean): Tensor;
    max(dim?: number, keepdim?: boolean): Tensor;
    min(dim?: number, keepdim?: boolean): Tensor;
    argmax(dim?: number, keepdim?: boolean): Tensor;
    var(dim?: number | readonly number[], opts?: { correction?: number; unbiased?: boolean; keepdim?: boolean }): Tensor;
    matmul(other: Tensor): Tensor;
    reshape(...shape: number[] | [readonly number[]]): Tensor;
    view(...shape: number[] | [readonly number[]]): Tensor;
    flatten(startDim?: number, endDim?: number): Tensor;
    transpose(dim0: number, dim1: number): Tensor;
    readonly T: Tensor;
    permute(...dims: number[] | [readonly number[]]): Tensor;
    squeeze(dim?: number): Tensor;
    unsqueeze(dim: number): Tensor;
    expand(...shape: number[] | [readonly number[]]): Tensor;
    /** Elements [start, end) along dim (Python's x[:, start:end] for dim 1). */
    slice(dim: number, start: number, end?: number): Tensor;
    narrow(dim: number, start: number, length: number): Tensor;
    /** Element i along dim 0, dropping that dim (x[i]). */
    index(i: number): Tensor;
    select(dim: number, i: number): Tensor;
    float(): Tensor;
    int(): Tensor;
    /** This tensor on another device (itself when it is there already); gradients flow back across the copy. */
    to(device: DeviceLike): Tensor;
    cpu(): Tensor;
    /** to() for any pair of devices, a GPU tensor to cpu included: waits for the read-back. Not recorded for autograd. */
    toAsync(device: DeviceLike): Promise<Tensor>;
    /**
     * Move the values to another device in place, keeping this object (module.to does this to
     * parameters and buffers, as torch's `param.data = param.data.to(device)`). Not recorded.
     */
    moveTo_(where: DeviceLike): this;
  }
}

function flatArgs(args: number[] | [readonly number[]]): number[] {
  return args.length === 1 && Array.isArray(args[0]) ? [...(args[0] as readonly number[])] : (args as number[]);
}

const methods = {
  clone(this: Tensor): Tensor {
    return ew.unaryOp('clone', this);
  },
  add(this: Tensor, other: TensorLike): Tensor { return ew.binaryOp('add', this, other); },
  sub(this: Tensor, other: TensorLike): Tensor { return ew.binaryOp('sub', this, other); },
  mul(this: Tensor, other: TensorLike): Tensor { return ew.binaryOp('mul', this, other); },
  div(this: Tensor, other: TensorLike): Tensor { return ew.binaryOp('div', this, other); },
  pow(this: Tensor, exponent: TensorLike): Tensor { return ew.binaryOp('pow', this, exponent); },
  maximum(this: Tensor, other: TensorLike): Tensor { return ew.binaryOp('maximum', this, other); },
  minimum(this: Tensor, other: TensorLike): Tensor { return ew.binaryOp('minimum', this, other); },
  eq(this: Tensor, other: TensorLike): Tensor { return ew.binaryOp('eq', this, other); },
  ne(this: Tensor, other: TensorLike): Tensor { return ew.binaryOp('ne', this, other); },
  lt(this: Tensor, other: TensorLike): Tensor { return ew.binaryOp('lt', this, other); },
  le(this: Tensor, other: TensorLike): Tensor { return ew.binaryOp('le', this, other); },
  gt(this: Tensor, other: TensorLike): Tensor { return ew.binaryOp('gt', this, other); },
  ge(this: Tensor, other: TensorLike): Tensor { return ew.binaryOp('ge', this, other); },
  neg(this: Tensor): Tensor { return ew.unaryOp('neg', this); },
  exp(this: Tensor): Tensor { return ew.unaryOp('exp', this); },
  log(this: Tensor): Tensor { return ew.unaryOp('log', this); },
  sqrt(this: Tensor): Tensor { return ew.unaryOp('sqrt', this); },
  abs(this: Tensor): Tensor { return ew.unaryOp('abs', this); },
  sigmoid(this: Tensor): Tensor { return ew.unaryOp('sigmoid', this); },
  relu(this: Tensor): Tensor { return ew.unaryOp('relu', this); },
  tanh(this: Tensor): Tensor { return ew.unaryOp('tanh', this); },
  square(this: Tensor): Tensor { return ew.unaryOp('square', this); },
  reciprocal(this: Tensor): Tensor { return ew.unaryOp('reciprocal', this); },
  sign(this: Tensor): Tensor { return ew.unaryOp('sign', this); },
  clamp(this: Tensor, min: number | null, max: number | null = null): Tensor { return ew.clamp(this, min ?? -Infinity, max ?? Infinity); },
  sum(this: Tensor, dim?: number | readonly number[], keepdim = false): Tensor { return red.sum(this, dim, keepdim); },
  mean(this: Tensor, dim?: number | readonly number[], keepdim = false): Tensor { return red.mean(this, dim, keepdim); },
  max(this: Tensor, dim?: number, keepdim = false): Tensor { return red.amax(this, dim, keepdim); },
  min(this: Tensor, dim?: number, keepdim = false): Tensor { return red.amin(this, dim, keepdim); },
  argmax(this: Tensor, dim?: number, keepdim = false): Tensor { return red.argmax(this, dim, keepdim); },
  var(this: Tensor, dim?: number | readonly number[], opts: { correction?: number; unbiased?: boolean; keepdim?: boolean } = {}): Tensor {
    return red.variance(this, dim, opts);
  },
  matmul(this: Tensor, other: Tensor): Tensor { return mm.matmul(this, other); },
  reshape(this: Tensor, ...shape: number[] | [readonly number[]]): Tensor { return mv.reshape(this, flatArgs(shape)); },
  view(this: Tensor, ...shape: number[] | [readonly number[]]): Tensor { return mv.reshape(this, flatArgs(shape)); },
  flatten(this: Tensor, startDim = 0, endDim = -1): Tensor { return mv.flatten(this, startDim, endDim); },
  transpose(this: Tensor, dim0: number, dim1: number): Tensor { return mv.transpose(this, dim0, dim1); },
  permute(this: Tensor, ...dims: number[] | [readonly number[]]): Tensor { return mv.permute(this, flatArgs(dims)); },
  squeeze(this: Tensor, dim?: number): Tensor { return mv.squeeze(this, dim); },
  unsqueeze(this: Tensor, dim: number): Tensor { return mv.unsqueeze(this, dim); },
  expand(this: Tensor, ...shape: number[] | [readonly number[]]): Tensor { return mv.expand(this, flatArgs(shape)); },
  slice(this: Tensor, dim: number, start: number, end?: number): Tensor { return mv.slice(this, dim, start, end); },
  narrow(this: Tensor, dim: number, start: number, length: number): Tensor { return mv.slice(this, dim, start, start + length); },
  index(this: Tensor, i: number): Tensor { return mv.select(this, 0, i); },
  select(this: Tensor, dim: number, i: number): Tensor { return mv.select(this, dim, i); },
  float(this: Tensor): Tensor {
    if (this.dtype === 'float32') return this;
    const out = new Tensor(this.storage, this.shape);
    if (tracingOn()) recordOp('float', [this], out);
    return out;
  },
  int(this: Tensor): Tensor {
    if (tracingOn()) return asOneOp('int', [this], {}, () => this.int());
    return noGrad(() => new Tensor(ew.unaryOp('trunc', this).storage, this.shape, { dtype: 'int32' }));
  },
  to(this: Tensor, device: DeviceLike): Tensor { return toDeviceOp(this, toDevice(device)); },
  cpu(this: Tensor): Tensor { return this.to(CPU); },
  toAsync(this: Tensor, device: DeviceLike): Promise<Tensor> { return toDeviceAsync(this, toDevice(device)); },
  moveTo_<T extends Tensor>(this: T, where: DeviceLike): T {
    const dev = toDevice(where);
    if (dev === this.device) return this;
    const moved = noGrad(() => toDeviceOp(this, dev));
    const s = moved.storage;
    s.retain();
    this.store.release();
    this.store = s;
    moved.dispose();
    return this;
  },
};

for (const [name, fn] of Object.entries(methods)) {
  Object.defineProperty(Tensor.prototype, name, { value: fn, writable: true, configurable: true });
}
Object.defineProperty(Tensor.prototype, 'T', {
  get(this: Tensor): Tensor { return mv.permute(this, [...this.shape.keys()].reverse()); },
  configurable: true,
});
