/** Free-function forms of common tensor methods (torch.exp(x), torch.sum(x, 1), ...). */
import type { Tensor, TensorLike } from './tensor.js';
import { asTensor } from './ops/elementwise.js';

/** The left operand as a tensor; a number takes the device of the tensor on the right. */
const lhs = (a: TensorLike, b: TensorLike): Tensor => asTensor(a, typeof b === 'number' ? undefined : b);

export const add = (a: TensorLike, b: TensorLike): Tensor => lhs(a, b).add(b);
export const sub = (a: TensorLike, b: TensorLike): Tensor => lhs(a, b).sub(b);
export const mul = (a: TensorLike, b: TensorLike): Tensor => lhs(a, b).mul(b);
export const div = (a: TensorLike, b: TensorLike): Tensor => lhs(a, b).div(b);
export const pow = (a: TensorLike, b: TensorLike): Tensor => lhs(a, b).pow(b);
export const exp = (x: Tensor): Tensor => x.exp();
export const log = (x: Tensor): Tensor => x.log();
export const sqrt = (x: Tensor): Tensor => x.sqrt();
export const abs = (x: Tensor): Tensor => x.abs();
export const sigmoid = (x: Tensor): Tensor => x.sigmoid();
export const relu = (x: Tensor): Tensor => x.relu();
export const tanh = (x: Tensor): Tensor => x.tanh();
export const sum = (x: Tensor, dim?: number | readonly number[], keepdim = false): Tensor => x.sum(dim, keepdim);
export const mean = (x: Tensor, dim?: number | readonly number[], keepdim = false): Tensor => x.mean(dim, keepdim);
export const argmax = (x: Tensor, dim?: number, keepdim = false): Tensor => x.argmax(dim, keepdim);
export const clamp = (x: Tensor, min: number | null, max: number | null = null): Tensor => x.clamp(min, max);
export const flatten = (x: Tensor, startDim = 0, endDim = -1): Tensor => x.flatten(startDim, endDim);
export const transpose = (x: Tensor, d0: number, d1: number): Tensor => x.transpose(d0, d1);
export const reshape = (x: Tensor, shape: readonly number[]): Tensor => x.reshape(shape);
