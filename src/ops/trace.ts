/**
 * Op tracing: while a tracer is installed, each op reports what it computed —
 * its name, tensor inputs, output and attributes — so exporters (ONNX) can
 * rebuild the graph a forward pass ran, whatever mix of modules and tensor
 * code produced it.
 *
 * Each op the user called is reported once. An op built from other ops (flatten
 * from reshape, mean from sum and div) reports itself and hides its parts, by
 * running its body through `asOneOp`. Training never installs a tracer, so the
 * ops' cost is one check of `tracingOn()`.
 */
import type { Tensor } from '../tensor.js';

export type TraceAttr = number | boolean | string | null | readonly number[];
export type TraceAttrs = Readonly<Record<string, TraceAttr>>;

export interface TracedOp {
  /** The op's own name: conv2d, linear, relu, add, reshape, max_pool2d, … */
  readonly op: string;
  /** Tensor arguments in the op's order; numbers combined with tensors arrive as 0-d tensors. */
  readonly inputs: readonly Tensor[];
  readonly output: Tensor;
  readonly attrs: TraceAttrs;
}

export type Tracer = (op: TracedOp) => void;

let tracer: Tracer | null = null;
/** How many composite ops are running: their parts are not reported. */
let hidden = 0;

/** True when an op should report itself (a tracer is installed and no composite op hides it). */
export function tracingOn(): boolean {
  return tracer !== null && hidden === 0;
}

/** Report an op that ran (ops call this only when tracingOn()). */
export function recordOp(op: string, inputs: readonly Tensor[], output: Tensor, attrs: TraceAttrs = {}): void {
  if (tracer !== null && hidden === 0) tracer({ op, inputs, output, attrs });
}

/** Run a composite op's body with its parts unreported, then report it as one op. */
export function asOneOp(op: string, inputs: readonly Tensor[], attrs: TraceAttrs, body: () => Tensor): Tensor {
  hidden++;
  let out: Tensor;
  try {
    out = body();
  } finally {
    hidden--;
  }
  recordOp(op, inputs, out, attrs);
  return out;
}

/** Run fn with every op it runs reported to onOp. Tracers do not nest. */
export function withTracer<T>(onOp: Tracer, fn: () => T): T {
  if (tracer !== null) throw new Error('trace: a trace is already running; exports and summaries cannot nest');
  tracer = onOp;
  hidden = 0;
  try {
    return fn();
  } finally {
    tracer = null;
    hidden = 0;
  }
}
