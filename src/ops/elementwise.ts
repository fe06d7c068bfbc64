/** Elementwise ops: forward via kernels, gradient written once here. */
import { K } from '../backend/registry.js';
import type { BinaryOp, UnaryOp } from '../backend/kernels.js';
import { Tensor, fromOp, type TensorLike } from '../tensor.js';
import { broadcastShapes, padShape, sameShape } from '../shape.js';
import { sumTo } from './reduce.js';

export function scalarTensor(v: number): Tensor {
  return new Tensor(new Float32Array([v]), []);
}

export function asTensor(x: TensorLike): Tensor {
  return typeof x === 'number' ? scalarTensor(x) : x;
}

type UnaryName = UnaryOp | 'clone';

export function unaryOp(op: UnaryName, x: Tensor): Tensor {
  const k = K();
  // Unary ops are elementwise, so they run on a backend-layout buffer as it is (rawStorage).
  const y = op === 'clone' ? x.storage.slice() : k.unary(op, x.rawStorage);
  const out = fromOp(y, x.shape, [x], capital(op), (g) => [unaryGrad(op, x, out, g)]);
  return out;
}

function unaryGrad(op: UnaryName, x: Tensor, y: Tensor, g: Tensor): Tensor {
  const k = K();
  switch (op) {
    case 'clone': return g;
    case 'neg': return g.neg();
    case 'exp': return g.mul(y);
    case 'log': return g.div(x);
    case 'sqrt': return g.div(y.mul(2));
    case 'abs': return g.mul(unaryOp('sign', x));
    case 'square': return g.mul(x).mul(2);
    case 'reciprocal': return g.mul(y).mul(y).neg();
    case 'sign': return g.mul(0);
    case 'relu':
    case 'sigmoid':
    case 'tanh':
      return new Tensor(k.activationBackward(op, x.rawStorage, y.rawStorage, g.rawStorage), x.shape);
  }
}

export function binaryOp(op: BinaryOp, aIn: TensorLike, bIn: TensorLike): Tensor {
  const a = asTensor(aIn);
  const b = asTensor(bIn);
  const outShape = sameShape(a.shape, b.shape) ? [...a.shape] : broadcastShapes(a.shape, b.shape, op);
  const rank = outShape.length;
  // Same-shaped operands may stay in a backend's layout (elementwise); broadcasting needs row-major.
  const same = sameShape(a.shape, b.shape);
  const buf = K().binary(op, same ? a.rawStorage : a.storage, padShape(a.shape, rank), same ? b.rawStorage : b.storage, padShape(b.shape, rank), outShape);
  const comparison = op === 'eq' || op === 'ne' || op === 'lt' || op === 'le' || op === 'gt' || op === 'ge';
  if (comparison) return new Tensor(buf, outShape);
  const out = fromOp(buf, outShape, [a, b], capital(op), (g) => {
    const [ga, gb] = binaryGrad(op, a, b, out, g);
    return [ga && sumTo(ga, a.shape), gb && sumTo(gb, b.shape)];
  });
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
  const a = asTensor(aIn);
  const b = asTensor(bIn);
  const shape = broadcastShapes(broadcastShapes(cond.shape, a.shape, 'where'), b.shape, 'where');
  const ex = (t: Tensor): Float32Array => (sameShape(t.shape, shape) ? t.storage : K().expand(t.storage, padShape(t.shape, shape.length), shape));
  const buf = K().where(ex(cond), ex(a), ex(b));
  return fromOp(buf, shape, [a, b], 'Where', (g) => {
    const zero = scalarTensor(0);
    return [
      a.requiresGrad ? sumTo(where(cond, g, zero), a.shape) : null,
      b.requiresGrad ? sumTo(where(cond, zero, g), b.shape) : null,
    ];
  });
}

export function clamp(x: Tensor, min: number, max: number): Tensor {
  const buf = K().clamp(x.storage, min, max);
  return fromOp(buf, x.shape, [x], 'Clamp', (g) => [g.mul(x.ge(min).mul(x.le(max)))]);
}

function capital(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
