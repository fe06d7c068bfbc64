/** Elementwise ops: forward via kernels, gradient written once here. */
import { CPU, type Device } from '../device.js';
import { kernelsOn } from './dispatch.js';
import { activationGrad } from './activation-grad.js';
import type { BinaryOp, UnaryOp } from '../backend/kernels.js';
import { Tensor, fromOp, type TensorLike } from '../tensor.js';
import type { Storage } from '../backend/storage.js';
import { broadcastShapes, padShape, sameShape } from '../shape.js';
import { sumTo } from './reduce.js';
import { recordOp, tracingOn } from './trace.js';

/** A 0-d tensor on a device (host values are borrowed on cpu, uploaded elsewhere). */
export function scalarTensor(v: number, device: Device = CPU): Tensor {
  return new Tensor(new Float32Array([v]), [], { device });
}

/** A tensor for an op argument: a plain number follows the tensor it is combined with. */
export function asTensor(x: TensorLike, like?: Tensor): Tensor {
  return typeof x === 'number' ? scalarTensor(x, like?.device ?? CPU) : x;
}

type UnaryName = UnaryOp | 'clone';

export function unaryOp(op: UnaryName, x: Tensor): Tensor {
  const k = kernelsOn(op, x);
  const y = op === 'clone' ? k.affine(x.storage, 1, 0) : k.unary(op, x.storage);
  const out = fromOp(y, x.shape, [x], capital(op), (g, spare) => [unaryGrad(op, x, out, g, spare)]);
  if (tracingOn()) recordOp(op, [x], out);
  return out;
}

function unaryGrad(op: UnaryName, x: Tensor, y: Tensor, g: Tensor, spare: boolean): Tensor {
  switch (op) {
    case 'clone': return g;
    case 'neg': return g.neg();
    case 'exp': return g.mul(y);
    case 'log': return g.div(x);
    case 'sqrt': return g.div(y.mul(2));
    case 'abs': return g.mul(unaryOp('sign', x));
    case 'square': return g.mul(x).mul(2);
    case 'reciprocal': return g.mul(y).mul(y).neg();
    case 'sign':
    case 'trunc':
      return g.mul(0);
    case 'relu':
    case 'sigmoid':
    case 'tanh':
      return activationGrad(kernelsOn(op, x, y, g), op, x.storage, y.storage, g, spare);
  }
}

export function binaryOp(op: BinaryOp, aIn: TensorLike, bIn: TensorLike): Tensor {
  const [a, b] = operands(aIn, bIn);
  const k = kernelsOn(op, a, b);
  const outShape = sameShape(a.shape, b.shape) ? [...a.shape] : broadcastShapes(a.shape, b.shape, op);
  const rank = outShape.length;
  const buf = k.binary(op, a.storage, padShape(a.shape, rank), b.storage, padShape(b.shape, rank), outShape);
  const comparison = op === 'eq' || op === 'ne' || op === 'lt' || op === 'le' || op === 'gt' || op === 'ge';
  if (comparison) {
    const mask = new Tensor(buf, outShape);
    if (tracingOn()) recordOp(op, [a, b], mask);
    return mask;
  }
  const out = fromOp(buf, outShape, [a, b], capital(op), (g) => {
    const [ga, gb] = binaryGrad(op, a, b, out, g);
    return [ga && sumTo(ga, a.shape), gb && sumTo(gb, b.shape)];
  });
  if (tracingOn()) recordOp(op, [a, b], out);
  return out;
}

function binaryGrad(op: BinaryOp, a: Tensor, b: Tensor, y: Tensor, g: Tensor): [Tensor | null, Tensor | null] {
  const needA = a.requiresGrad;
  const needB = b.requiresGrad;
  switch (op) {
    case 'add': return [g, g];
    case 'sub': return [g, needB ? g.neg() : null];
    case 'mul': return [needA ? g.mul(b) : null, needB ? g.mul(a) : null];
    case 'div': return [needA ? g.div(b) : null, needB ? g.mul(y).div(b).neg() : null];
    case 'pow': return [
      needA ? g.mul(b).mul(a.pow(b.sub(1))) : null,
      needB ? g.mul(y).mul(a.log()) : null,
    ];
    case 'maximum':
    case 'minimum': {
      // Ties split the gradient evenly, as PyTorch does.
      const pickA = op === 'maximum' ? a.gt(b) : a.lt(b);
      const tie = a.eq(b).mul(0.5);
      const wa = pickA.add(tie);
      return [needA ? g.mul(wa) : null, needB ? g.mul(wa.neg().add(1)) : null];
    }
    default:
      return [null, null];
  }
}

export function where(cond: Tensor, aIn: TensorLike, bIn: TensorLike): Tensor {
  const a = asTensor(aIn, cond);
  const b = asTensor(bIn, cond);
  const k = kernelsOn('where', cond, a, b);
  const shape = broadcastShapes(broadcastShapes(cond.shape, a.shape, 'where'), b.shape, 'where');
  const ex = (t: Tensor): Storage => (sameShape(t.shape, shape) ? t.storage : k.expand(t.storage, padShape(t.shape, shape.length), shape));
  const buf = k.where(ex(cond), ex(a), ex(b));
  // cond is read again by the backward, so the graph holds it as an input (it gets no gradient).
  const out = fromOp(buf, shape, [a, b, cond], 'Where', (g) => {
    const zero = scalarTensor(0, g.device);
    return [
      a.requiresGrad ? sumTo(where(cond, g, zero), a.shape) : null,
      b.requiresGrad ? sumTo(where(cond, zero, g), b.shape) : null,
      null,
    ];
  });
  if (tracingOn()) recordOp('where', [cond, a, b], out);
  return out;
}

export function clamp(x: Tensor, min: number, max: number): Tensor {
  const buf = kernelsOn('clamp', x).clamp(x.storage, min, max);
  const out = fromOp(buf, x.shape, [x], 'Clamp', (g) => [g.mul(x.ge(min).mul(x.le(max)))]);
  if (tracingOn()) recordOp('clamp', [x], out, { min, max });
  return out;
}

/** Both operands as tensors; a number takes the device of the tensor beside it. */
function operands(aIn: TensorLike, bIn: TensorLike): [Tensor, Tensor] {
  if (typeof aIn === 'number' && typeof bIn === 'number') return [scalarTensor(aIn), scalarTensor(bIn)];
  const like = typeof aIn === 'number' ? (bIn as Tensor) : aIn;
  return [asTensor(aIn, like), asTensor(bIn, like)];
}

function capital(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
