/**
 * torch.onnx.export for torchlet modules, to bytes: trace one eval-mode
 * forward, convert each op, encode. With a dynamic batch the forward is traced
 * a second time at another batch size and both graphs must agree, so a shape
 * that froze the batch into the model is an error instead of a file that fails
 * later in onnxruntime.
 */
import { Tensor } from '../../tensor.js';
import { Module } from '../../nn/module.js';
import { rand } from '../../creation.js';
import { Generator } from '../../random.js';
import { shapeStr } from '../../shape.js';
import { VERSION } from '../../version.js';
import { traceForward, type ForwardTrace } from './trace-forward.js';
import { GraphBuilder, type OnnxNode } from './graph.js';
import { convertOp } from './operators.js';

export interface OnnxExportOptions {
  /**
   * Let the batch dimension vary (ONNX dim_param 'batch'), as torch.onnx.export's
   * dynamic_axes={'input': {0: 'batch'}} does. Default false: the example's batch is fixed.
   */
  dynamicBatch?: boolean;
  /** Graph input and output names (torch's input_names / output_names); default 'input' and 'output'. */
  inputName?: string;
  outputName?: string;
  /** The graph's name in the file; default the module's class name. */
  graphName?: string;
}

interface BuiltGraph {
  builder: GraphBuilder;
  nodes: OnnxNode[];
}

function build(trace: ForwardTrace, dynamicBatch: number | null, inputName: string, outputName: string): BuiltGraph {
  const b = new GraphBuilder(trace, dynamicBatch, inputName);
  for (const op of trace.ops) convertOp(b, op);
  // The output is the value of the last op that made it; name it as asked. Identity covers a
  // model that returns its input or a parameter unchanged.
  let out = b.value(trace.output);
  if (out === inputName || !b.nodes.some((n) => n.outputs.includes(out))) out = b.node('Identity', [out]);
  const rename = (v: string): string => (v === out ? outputName : v);
  const live = liveNodes(b.nodes, out);
  const nodes = live.map((n) => ({ ...n, inputs: n.inputs.map(rename), outputs: n.outputs.map(rename) }));
  const used = new Set(nodes.flatMap((n) => n.inputs));
  b.initializers.splice(0, b.initializers.length, ...b.initializers.filter((i) => used.has(i.name)));
  return { builder: b, nodes };
}

/**
 * The nodes the output depends on. A forward may compute what it does not return (the book's
 * BatchNorm returns its moving statistics beside Y); those nodes are dropped.
 */
function liveNodes(nodes: readonly OnnxNode[], output: string): OnnxNode[] {
  const needed = new Set([output]);
  const keep: OnnxNode[] = [];
  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i];
    if (!n.outputs.some((o) => needed.has(o))) continue;
    keep.push(n);
    for (const v of n.inputs) needed.add(v);
  }
  return keep.reverse();
}

/** What must not change with the batch size: every node, and every initializer's shape and integers. */
function signature(g: BuiltGraph): string[] {
  const inits = g.builder.initializers.map((i) => JSON.stringify([i.name, i.dims, 'int64' in i ? i.int64 : null]));
  return [...g.nodes.map((n) => JSON.stringify(n)), ...inits];
}

function checkArguments(net: unknown, input: unknown): asserts input is Tensor {
  if (!(net instanceof Module)) throw new TypeError('onnx.export: the first argument must be an nn.Module, such as createModel(\'lenet\')');
  if (!(input instanceof Tensor)) throw new TypeError('onnx.export: the second argument must be an example input tensor, such as torch.rand([1, 1, 28, 28])');
  if (input.dtype !== 'float32') throw new TypeError(`onnx.export: the example input must be float32, got ${input.dtype}`);
  if (input.ndim < 1 || input.shape[0] < 1) throw new TypeError(`onnx.export: the example input needs a batch dimension of at least 1, got shape ${shapeStr(input.shape)}`);
}

/** Export net as an ONNX model (opset 13) and return the file's bytes. */
export async function exportOnnxBytes(net: Module, exampleInput: Tensor, opts: OnnxExportOptions = {}): Promise<Uint8Array> {
  checkArguments(net, exampleInput);
  const inputName = opts.inputName ?? 'input';
  const outputName = opts.outputName ?? 'output';
  if (inputName === outputName) throw new Error(`onnx.export: the input and output need different names, both are '${inputName}'`);
  const batch = exampleInput.shape[0];
  const dynamic = opts.dynamicBatch ?? false;
  const trace = traceForward(net, exampleInput);
  try {
    const graph = build(trace, dynamic ? batch : null, inputName, outputName);
    if (dynamic) checkBatchFree(net, exampleInput, graph, inputName, outputName);
    const values = await Promise.all(graph.builder.initializers.map(async (init) => {
      if (!('tensor' in init)) return { init, values: null };
      const t = init.tensor;
      return { init, values: trace.constants.get(t) ?? (await t.data()) };
    }));
    const dims = (shape: readonly number[]): Array<number | string> => shape.map((d, i) => (i === 0 && dynamic ? 'batch' : d));
    // Loaded here, not with torchlet: protobufjs and the ONNX schema serve this call alone, and
    // `torchlet bench lenet` measured slower with them loaded (a median of 14.1k against 16.9k ex/s, 8 alternating runs).
    const { encodeModel } = await import('./model.js');
    return encodeModel({
      graphName: opts.graphName ?? net.constructor.name,
      producerVersion: VERSION,
      nodes: graph.nodes,
      initializers: values,
      input: { name: inputName, dims: dims(exampleInput.shape) },
      output: { name: outputName, dims: dims(trace.output.shape) },
    });
  } finally {
    trace.release();
  }
}

function checkBatchFree(net: Module, exampleInput: Tensor, graph: BuiltGraph, inputName: string, outputName: string): void {
  const batch = exampleInput.shape[0];
  // A generator of its own: exporting must not move the caller's random stream.
  const other = rand([batch + 1, ...exampleInput.shape.slice(1)], { device: exampleInput.device, generator: new Generator(0) });
  let trace: ForwardTrace;
  try {
    trace = traceForward(net, other);
  } catch (err) {
    other.dispose();
    throw new Error(`onnx.export: the model does not run at batch ${batch + 1}, so the batch cannot be dynamic (${(err as Error).message}); write batch-dependent shapes with -1 (x.view(-1, …)) or export with a fixed batch`, { cause: err });
  }
  try {
    const again = build(trace, batch + 1, inputName, outputName);
    const a = signature(graph);
    const b = signature(again);
    const at = a.findIndex((s, i) => s !== b[i]);
    if (at >= 0 || a.length !== b.length) {
      const node = graph.nodes[at] ?? graph.nodes[graph.nodes.length - 1];
      throw new Error(`onnx.export: the graph changes with the batch size (first at node ${node?.name ?? '?'}), so the batch cannot be dynamic: some shape in forward() holds the batch as a number; write it as -1 (x.view(-1, …)) or export with a fixed batch`);
    }
    if (trace.output.shape[0] !== batch + 1) {
      throw new Error(`onnx.export: the output's first dim is ${trace.output.shape[0]} for a batch of ${batch + 1}, so it is not the batch; export with a fixed batch`);
    }
  } finally {
    trace.release();
    other.dispose();
  }
}
