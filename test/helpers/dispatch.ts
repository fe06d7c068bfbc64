/**
 * Maps the op and layer names used in the fixtures to torchlet calls, so that
 * the parity tests (and any other test) can replay a fixture case.
 */
import { Tensor } from '../../src/tensor.js';
import { cat, stack } from '../../src/ops/movement.js';
import { where } from '../../src/ops/elementwise.js';
import { matmul, linear } from '../../src/ops/matmul.js';
import { softmax, logSoftmax, crossEntropy, nllLoss, mseLoss, type Reduction } from '../../src/ops/softmax.js';
import { avgPool2d } from '../../src/ops/pool.js';
import * as nn from '../../src/nn/index.js';
import { fill, fillValues } from './fill.js';
import type { InputSpec, LayerCase } from './fixtures.js';

type Args = Record<string, unknown>;

export function makeInput(spec: InputSpec, withGrad = true): Tensor {
  if (spec.values) return new Tensor(Float32Array.from(spec.values), spec.shape, { dtype: 'int32' });
  return fill(spec.shape, spec.fill!, { requiresGrad: withGrad && spec.grad !== false });
}

const BINARY = new Set(['add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum', 'eq', 'ne', 'lt', 'le', 'gt', 'ge']);
const UNARY = new Set(['neg', 'exp', 'log', 'sqrt', 'abs', 'sigmoid', 'relu', 'tanh', 'square', 'reciprocal', 'sign', 'clone']);

type BinaryName = 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'maximum' | 'minimum' | 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge';
type UnaryName = 'neg' | 'exp' | 'log' | 'sqrt' | 'abs' | 'sigmoid' | 'relu' | 'tanh' | 'square' | 'reciprocal' | 'sign' | 'clone';

const dimArg = (a: Args): number | number[] | undefined => a.dim as number | number[] | undefined;

/** Run a fixture op on torchlet tensors. */
export function runOp(op: string, xs: Tensor[], a: Args): Tensor {
  if (BINARY.has(op)) {
    const name = op as BinaryName;
    if (typeof a.scalar === 'number') {
      if (a.left) return new Tensor(new Float32Array([a.scalar]), [])[name](xs[0]);
      return xs[0][name](a.scalar);
    }
    return xs[0][name](xs[1]);
  }
  if (UNARY.has(op)) return xs[0][op as UnaryName]();
  const keepdim = (a.keepdim as boolean | undefined) ?? false;
  switch (op) {
    case 'matmul': return matmul(xs[0], xs[1]);
    case 'linear': return linear(xs[0], xs[1], xs[2] ?? null);
    case 'sum': return xs[0].sum(dimArg(a), keepdim);
    case 'mean': return xs[0].mean(dimArg(a), keepdim);
    case 'amax': return xs[0].max(a.dim as number | undefined, keepdim);
    case 'amin': return xs[0].min(a.dim as number | undefined, keepdim);
    case 'var': return xs[0].var(dimArg(a), { keepdim, unbiased: a.unbiased as boolean | undefined });
    case 'argmax': return xs[0].argmax(a.dim as number | undefined, keepdim);
    case 'where': return where(xs[0].gt(0), xs[1], xs[2]);
    case 'clamp': return xs[0].clamp((a.min as number | undefined) ?? null, (a.max as number | undefined) ?? null);
    case 'reshape': return xs[0].reshape(a.shape as number[]);
    case 'view': return xs[0].view(a.shape as number[]);
    case 'flatten': return xs[0].flatten((a.start as number | undefined) ?? 0, (a.end as number | undefined) ?? -1);
    case 'transpose': return xs[0].transpose(a.d0 as number, a.d1 as number);
    case 'T': return xs[0].T;
    case 'permute': return xs[0].permute(a.dims as number[]);
    case 'squeeze': return xs[0].squeeze(a.dim as number | undefined);
    case 'unsqueeze': return xs[0].unsqueeze(a.dim as number);
    case 'expand': return xs[0].expand(a.shape as number[]);
    case 'cat': return cat(xs, a.dim as number);
    case 'stack': return stack(xs, a.dim as number);
    case 'slice': return xs[0].slice(a.dim as number, a.start as number, a.end as number | undefined);
    case 'select': return xs[0].select(a.dim as number, a.index as number);
    case 'softmax': return softmax(xs[0], a.dim as number);
    case 'log_softmax': return logSoftmax(xs[0], a.dim as number);
    case 'cross_entropy': return crossEntropy(xs[0], xs[1], a.reduction as Reduction);
    case 'nll_loss': return nllLoss(xs[0], xs[1], a.reduction as Reduction);
    case 'mse_loss': return mseLoss(xs[0], xs[1], a.reduction as Reduction);
  }
  throw new Error(`dispatch: unknown op '${op}'`);
}

type Pairish = number | [number, number];
const p2 = (v: unknown): Pairish => (Array.isArray(v) ? [v[0] as number, v[1] as number] : (v as number));

/** Build a torchlet module from a fixture constructor spec. */
export function buildModule(kind: string, c: Args): nn.Module {
  switch (kind) {
    case 'Conv2d':
      return new nn.Conv2d(c.in as number, c.out as number, p2(c.k), { stride: p2(c.stride ?? 1), padding: p2(c.padding ?? 0), bias: (c.bias as boolean | undefined) ?? true });
    case 'Linear': return new nn.Linear(c.in as number, c.out as number, (c.bias as boolean | undefined) ?? true);
    case 'AvgPool2d': return new nn.AvgPool2d(p2(c.k), { stride: c.stride === undefined ? null : p2(c.stride), padding: p2(c.padding ?? 0) });
    case 'MaxPool2d': return new nn.MaxPool2d(p2(c.k), { stride: c.stride === undefined ? null : p2(c.stride), padding: p2(c.padding ?? 0) });
    case 'AdaptiveAvgPool2d': return new nn.AdaptiveAvgPool2d(p2(c.out));
    case 'Flatten': return new nn.Flatten((c.start as number | undefined) ?? 1, (c.end as number | undefined) ?? -1);
    case 'BatchNorm1d':
    case 'BatchNorm2d': {
      const opts = { eps: c.eps as number | undefined, momentum: c.momentum as number | undefined, affine: c.affine as boolean | undefined };
      return kind === 'BatchNorm1d' ? new nn.BatchNorm1d(c.num as number, opts) : new nn.BatchNorm2d(c.num as number, opts);
    }
    case 'ReLU': return new nn.ReLU();
    case 'Sigmoid': return new nn.Sigmoid();
    case 'Tanh': return new nn.Tanh();
  }
  throw new Error(`dispatch: unknown module '${kind}'`);
}

/** Build, fill parameters and buffers, and set the mode, as the fixture did. */
export function moduleForCase(c: LayerCase): { module: nn.Module; forward: (x: Tensor) => Tensor } {
  const m = buildModule(c.module, c.ctor);
  const params = new Map(m.namedParameters());
  for (const [name, spec] of Object.entries(c.params)) {
    const p = params.get(name);
    if (!p) throw new Error(`${c.name}: module has no parameter '${name}' (has ${[...params.keys()].join(', ')})`);
    p.hostView().set(fillValues(p.numel(), spec.fill));
  }
  const buffers = new Map(m.namedBuffers());
  for (const [name, spec] of Object.entries(c.buffers_init)) {
    const b = buffers.get(name);
    if (!b) throw new Error(`${c.name}: module has no buffer '${name}'`);
    b.hostView().set(fillValues(b.numel(), spec));
  }
  m.train(c.train);
  if (c.functional && c.module === 'AvgPool2d') {
    const k = c.ctor;
    return { module: m, forward: (x) => avgPool2d(x, p2(k.k), k.stride === undefined ? null : p2(k.stride), p2(k.padding ?? 0), (k.countIncludePad as boolean | undefined) ?? true) };
  }
  return { module: m, forward: (x) => m.forward(x) };
}
