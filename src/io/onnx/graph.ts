/**
 * An ONNX graph under construction: nodes, initializers and value names, in
 * plain objects that map one to one onto onnx.proto's messages (model.ts
 * encodes them). Operator converters (operators.ts) add nodes through it.
 */
import type { Tensor } from '../../tensor.js';
import { describeWhere, type ForwardTrace, type LocatedOp } from './trace-forward.js';

/** onnx.TensorProto.DataType values used here. */
export const FLOAT = 1;
export const INT64 = 7;
export const BOOL = 9;

export type Attr = { f: number } | { i: number } | { ints: readonly number[] } | { floats: readonly number[] } | { s: string };

export interface OnnxNode {
  readonly name: string;
  readonly opType: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attrs: Readonly<Record<string, Attr>>;
}

/** An initializer: float values come from a tensor (read when encoding), int64 values are given. */
export type OnnxInitializer =
  | { readonly name: string; readonly dataType: typeof FLOAT; readonly dims: readonly number[]; readonly tensor: Tensor }
  | { readonly name: string; readonly dataType: typeof INT64; readonly dims: readonly number[]; readonly int64: readonly number[] }
  | { readonly name: string; readonly dataType: typeof FLOAT; readonly dims: readonly number[]; readonly floats: readonly number[] };

export class UnsupportedOpError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsupportedOpError';
  }
}

export class GraphBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxInitializer[] = [];
  private readonly names = new Map<Tensor, string>();
  private readonly taken = new Set<string>();
  /** The op being converted: node names and errors say where it sits. */
  private current: LocatedOp | null = null;

  constructor(
    readonly trace: ForwardTrace,
    /** The batch size the trace ran with, when the exported batch is dynamic (else null). */
    readonly dynamicBatch: number | null,
    inputName: string,
  ) {
    this.names.set(trace.input, inputName);
    this.taken.add(inputName);
  }

  /** Convert one traced op with fn; its output tensor gets the value name fn returns. */
  convert(op: LocatedOp, fn: (b: GraphBuilder, op: LocatedOp) => string): void {
    this.current = op;
    try {
      this.names.set(op.output, fn(this, op));
    } finally {
      this.current = null;
    }
  }

  /** Where the current op sits, for messages: `Conv2d(1→6, k=5) at net.0`. */
  where(): string {
    return this.current ? describeWhere(this.current.module, this.current.where) : 'the model';
  }

  unsupported(detail: string): never {
    throw new UnsupportedOpError(`onnx export: ${this.where()}: ${detail}`);
  }

  /** The value name of a tensor an op reads: the input, an op's output, a parameter or a constant. */
  value(t: Tensor): string {
    const known = this.names.get(t);
    if (known !== undefined) return known;
    const state = this.trace.stateNames.get(t);
    const name = this.unique(state ?? `${this.prefix()}Constant`);
    this.initializers.push({ name, dataType: FLOAT, dims: [...t.shape], tensor: t });
    this.names.set(t, name);
    return name;
  }

  /** Add a node; returns the name of its (first) output. */
  node(opType: string, inputs: readonly string[], attrs: Record<string, Attr> = {}, outputCount = 1): string {
    const name = this.unique(`${this.prefix()}${opType}`);
    const outputs = Array.from({ length: outputCount }, (_, i) => `${name}_output_${i}`);
    this.nodes.push({ name, opType, inputs, outputs, attrs });
    return outputs[0];
  }

  int64s(values: readonly number[], label = 'Constant'): string {
    const name = this.unique(`${this.prefix()}${label}`);
    this.initializers.push({ name, dataType: INT64, dims: [values.length], int64: values });
    return name;
  }

  scalar(value: number, label = 'Constant'): string {
    const name = this.unique(`${this.prefix()}${label}`);
    this.initializers.push({ name, dataType: FLOAT, dims: [], floats: [value] });
    return name;
  }

  /**
   * A shape entry read from the trace: with a dynamic batch, the batch carried over from the
   * input's dim 0 becomes `carried` (0 for Reshape's "copy this dim", 1 for Expand's broadcast).
   */
  batchDim(value: number, inputDim0: number | undefined, carried: number): number {
    return this.dynamicBatch !== null && value === this.dynamicBatch && inputDim0 === this.dynamicBatch ? carried : value;
  }

  private prefix(): string {
    const w = this.current?.where ?? '';
    return w === '' ? '/' : `/${w.split('.').join('/')}/`;
  }

  private unique(base: string): string {
    let name = base;
    for (let k = 1; this.taken.has(name); k++) name = `${base}_${k}`;
    this.taken.add(name);
    return name;
  }
}
