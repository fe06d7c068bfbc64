/**
 * Traced ops as ONNX operators (opset 13). One converter per op the tracer
 * reports; an op without one is an export error naming it and its module.
 */
import type { TraceAttr } from '../../ops/trace.js';
import { BOOL, FLOAT, type Attr, type GraphBuilder } from './graph.js';
import type { LocatedOp } from './trace-forward.js';

type Converter = (b: GraphBuilder, op: LocatedOp) => string;

function num(op: LocatedOp, key: string): number {
  const v: TraceAttr | undefined = op.attrs[key];
  if (typeof v !== 'number') throw new Error(`onnx export: ${op.op} is missing its '${key}' attribute`);
  return v;
}

function nums(op: LocatedOp, key: string): readonly number[] {
  const v: TraceAttr | undefined = op.attrs[key];
  if (!Array.isArray(v)) throw new Error(`onnx export: ${op.op} is missing its '${key}' attribute`);
  return v as readonly number[];
}

const ints = (values: readonly number[]): Attr => ({ ints: values });
const int = (i: number): Attr => ({ i });

/** Conv and BatchNorm may carry a fused activation: emit it as its own node after. */
function withActivation(b: GraphBuilder, op: LocatedOp, y: string): string {
  const act = op.attrs.activation;
  if (act === null || act === undefined) return y;
  const opType = ({ relu: 'Relu', sigmoid: 'Sigmoid', tanh: 'Tanh' } as Record<string, string>)[String(act)];
  if (!opType) b.unsupported(`fused activation '${String(act)}' has no ONNX operator`);
  return b.node(opType, [y]);
}

/** [ph, pw] → ONNX's [begin_h, begin_w, end_h, end_w]. */
const pads2d = (p: readonly number[]): number[] => [p[0], p[1], p[0], p[1]];

const unary = (opType: string): Converter => (b, op) => b.node(opType, [b.value(op.inputs[0])]);
const binary = (opType: string): Converter => (b, op) => b.node(opType, [b.value(op.inputs[0]), b.value(op.inputs[1])]);
/** torchlet's comparisons give 0/1 floats; ONNX's give booleans, cast back here. */
const comparison = (opType: string, negate = false): Converter => (b, op) => {
  let y = b.node(opType, [b.value(op.inputs[0]), b.value(op.inputs[1])]);
  if (negate) y = b.node('Not', [y]);
  return b.node('Cast', [y], { to: int(FLOAT) });
};
const identity: Converter = (b, op) => b.node('Identity', [b.value(op.inputs[0])]);

function reduceAxes(op: LocatedOp): { axes: readonly number[]; keepdims: number } {
  return { axes: nums(op, 'axes'), keepdims: op.attrs.keepdim ? 1 : 0 };
}

const converters: Record<string, Converter> = {
  conv2d: (b, op) => {
    const [x, w, bias] = op.inputs;
    const inputs = [b.value(x), b.value(w), ...(bias ? [b.value(bias)] : [])];
    const y = b.node('Conv', inputs, {
      kernel_shape: ints(nums(op, 'kernel')), strides: ints(nums(op, 'stride')), pads: ints(pads2d(nums(op, 'padding'))),
      dilations: ints([1, 1]), group: int(1),
    });
    return withActivation(b, op, y);
  },
  linear: (b, op) => {
    const [x, w, bias] = op.inputs;
    if (x.ndim === 2) {
      return b.node('Gemm', [b.value(x), b.value(w), ...(bias ? [b.value(bias)] : [])], { transB: int(1) });
    }
    const wt = b.node('Transpose', [b.value(w)], { perm: ints([1, 0]) });
    const y = b.node('MatMul', [b.value(x), wt]);
    return bias ? b.node('Add', [y, b.value(bias)]) : y;
  },
  matmul: binary('MatMul'),

  relu: unary('Relu'), sigmoid: unary('Sigmoid'), tanh: unary('Tanh'),
  exp: unary('Exp'), log: unary('Log'), sqrt: unary('Sqrt'), neg: unary('Neg'), abs: unary('Abs'),
  reciprocal: unary('Reciprocal'), sign: unary('Sign'),
  square: (b, op) => {
    const x = b.value(op.inputs[0]);
    return b.node('Mul', [x, x]);
  },
  clone: identity, detach: identity, to: identity, float: identity,

  add: binary('Add'), sub: binary('Sub'), mul: binary('Mul'), div: binary('Div'), pow: binary('Pow'),
  maximum: binary('Max'), minimum: binary('Min'),
  eq: comparison('Equal'), ne: comparison('Equal', true), lt: comparison('Less'), le: comparison('LessOrEqual'),
  gt: comparison('Greater'), ge: comparison('GreaterOrEqual'),
  where: (b, op) => {
    const [cond, x, y] = op.inputs;
    const c = b.node('Cast', [b.value(cond)], { to: int(BOOL) });
    return b.node('Where', [c, b.value(x), b.value(y)]);
  },
  clamp: (b, op) => b.node('Clip', [b.value(op.inputs[0]), b.scalar(num(op, 'min'), 'Min'), b.scalar(num(op, 'max'), 'Max')]),

  reshape: (b, op) => {
    const x = op.inputs[0];
    const shape = nums(op, 'shape').map((d, i) => (i === 0 ? b.batchDim(d, x.shape[0], 0) : d));
    return b.node('Reshape', [b.value(x), b.int64s(shape, 'Shape')]);
  },
  flatten: (b, op) => {
    const x = op.inputs[0];
    const start = normDim(num(op, 'startDim'), x.ndim);
    const end = normDim(num(op, 'endDim'), x.ndim);
    // ONNX's Flatten always gives 2-D [prod(dims < axis), prod(dims ≥ axis)].
    if (end === x.ndim - 1 && start <= 1) return b.node('Flatten', [b.value(x)], { axis: int(start) });
    // Otherwise: keep the leading dims as they come (0 copies a dim), merge start..end.
    const shape = [...x.shape.slice(0, start).map(() => 0), -1, ...x.shape.slice(end + 1)];
    return b.node('Reshape', [b.value(x), b.int64s(shape, 'Shape')]);
  },
  permute: (b, op) => b.node('Transpose', [b.value(op.inputs[0])], { perm: ints(nums(op, 'perm')) }),
  expand: (b, op) => {
    const x = op.inputs[0];
    const target = nums(op, 'shape');
    const carried = x.ndim === target.length ? x.shape[0] : undefined;
    const shape = target.map((d, i) => (i === 0 ? b.batchDim(d, carried, 1) : d));
    return b.node('Expand', [b.value(x), b.int64s(shape, 'Shape')]);
  },
  slice: (b, op) => {
    const x = op.inputs[0];
    const dim = num(op, 'dim');
    // A slice that ends at the dim's end stays valid when that dim (the batch) changes.
    const end = num(op, 'end') === x.shape[dim] && dim === 0 && b.dynamicBatch !== null ? Number.MAX_SAFE_INTEGER : num(op, 'end');
    return b.node('Slice', [b.value(x), b.int64s([num(op, 'start')], 'Starts'), b.int64s([end], 'Ends'), b.int64s([dim], 'Axes')]);
  },
  cat: (b, op) => b.node('Concat', op.inputs.map((t) => b.value(t)), { axis: int(num(op, 'dim')) }),

  max_pool2d: (b, op) => b.node('MaxPool', [b.value(op.inputs[0])], {
    kernel_shape: ints(nums(op, 'kernel')), strides: ints(nums(op, 'stride')), pads: ints(pads2d(nums(op, 'padding'))),
  }),
  avg_pool2d: (b, op) => b.node('AveragePool', [b.value(op.inputs[0])], {
    kernel_shape: ints(nums(op, 'kernel')), strides: ints(nums(op, 'stride')), pads: ints(pads2d(nums(op, 'padding'))),
    count_include_pad: int(op.attrs.countIncludePad ? 1 : 0),
  }),
  global_avg_pool2d: unary('GlobalAveragePool'),

  sum: (b, op) => {
    const { axes, keepdims } = reduceAxes(op);
    return b.node('ReduceSum', [b.value(op.inputs[0]), b.int64s(axes, 'Axes')], { keepdims: int(keepdims) });
  },
  mean: (b, op) => {
    const { axes, keepdims } = reduceAxes(op);
    return b.node('ReduceMean', [b.value(op.inputs[0])], { axes: ints(axes), keepdims: int(keepdims) });
  },
  amax: (b, op) => {
    const { axes, keepdims } = reduceAxes(op);
    return b.node('ReduceMax', [b.value(op.inputs[0])], { axes: ints(axes), keepdims: int(keepdims) });
  },
  amin: (b, op) => {
    const { axes, keepdims } = reduceAxes(op);
    return b.node('ReduceMin', [b.value(op.inputs[0])], { axes: ints(axes), keepdims: int(keepdims) });
  },
  softmax: (b, op) => b.node('Softmax', [b.value(op.inputs[0])], { axis: int(num(op, 'dim')) }),
  log_softmax: (b, op) => b.node('LogSoftmax', [b.value(op.inputs[0])], { axis: int(num(op, 'dim')) }),

  batch_norm: (b, op) => {
    const [x, ...stats] = op.inputs;
    const inputs = [b.value(x), ...stats.map((t) => b.value(t))];
    const y = b.node('BatchNormalization', inputs, { epsilon: { f: num(op, 'eps') } });
    return withActivation(b, op, y);
  },
  batch_norm_batch_stats: (b) => b.unsupported('batch_norm normalises with the batch\'s own statistics here (no running statistics, or training mode); give the layer running statistics (trackRunningStats) to export it'),
};

function normDim(d: number, rank: number): number {
  return d < 0 ? d + rank : d;
}

/** Why an op has no converter, where that is more useful than "unsupported". */
const reasons: Record<string, string> = {
  nll_loss: 'a loss is not part of an exported model; export the network and apply the loss outside',
  argmax: 'argmax gives class indices, which exported models leave to the caller; export the logits',
  int: 'integer tensors are not exported; the graph is float32 throughout',
};

export function convertOp(b: GraphBuilder, op: LocatedOp): void {
  const fn = converters[op.op] ?? ((g: GraphBuilder): string => {
    const supported = Object.keys(converters).filter((k) => k !== 'batch_norm_batch_stats').join(', ');
    return g.unsupported(reasons[op.op] ?? `'${op.op}' has no ONNX mapping in torchlet yet; supported ops: ${supported}`);
  });
  b.convert(op, fn);
}
