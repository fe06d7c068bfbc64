/**
 * The graph as an ONNX ModelProto, encoded with onnx-proto (onnx.proto
 * compiled for protobufjs): a maintained schema and wire encoder rather than a
 * hand-written one. export.ts loads this module when an export runs, so
 * importing torchlet does not load protobufjs and the generated schema.
 */
import onnxProto from 'onnx-proto';
import { FLOAT, INT64, type Attr, type OnnxInitializer, type OnnxNode } from './graph.js';

const { onnx } = onnxProto;

import { IR_VERSION, OPSET } from './version.js';

export interface ModelParts {
  graphName: string;
  producerVersion: string;
  nodes: readonly OnnxNode[];
  initializers: ReadonlyArray<{ init: OnnxInitializer; values: Float32Array | null }>;
  input: { name: string; dims: ReadonlyArray<number | string> };
  output: { name: string; dims: ReadonlyArray<number | string> };
}

function attribute(name: string, a: Attr): InstanceType<typeof onnx.AttributeProto> {
  const T = onnx.AttributeProto.AttributeType;
  if ('f' in a) return onnx.AttributeProto.create({ name, type: T.FLOAT, f: a.f });
  if ('i' in a) return onnx.AttributeProto.create({ name, type: T.INT, i: a.i });
  if ('ints' in a) return onnx.AttributeProto.create({ name, type: T.INTS, ints: [...a.ints] });
  if ('floats' in a) return onnx.AttributeProto.create({ name, type: T.FLOATS, floats: [...a.floats] });
  return onnx.AttributeProto.create({ name, type: T.STRING, s: new TextEncoder().encode(a.s) });
}

/** Little-endian bytes, as ONNX's raw_data requires on every platform. */
function rawFloats(values: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i], true);
  return out;
}

function rawInt64s(values: readonly number[]): Uint8Array {
  const out = new Uint8Array(values.length * 8);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => view.setBigInt64(i * 8, BigInt(v), true));
  return out;
}

function initializer(init: OnnxInitializer, values: Float32Array | null): InstanceType<typeof onnx.TensorProto> {
  let raw: Uint8Array;
  if (init.dataType === INT64) raw = rawInt64s(init.int64);
  else if ('floats' in init) raw = rawFloats(init.floats);
  else {
    if (!values) throw new Error(`onnx export: no values read for initializer ${init.name}`);
    raw = rawFloats(values);
  }
  return onnx.TensorProto.create({ name: init.name, dataType: init.dataType, dims: [...init.dims], rawData: raw });
}

function valueInfo(name: string, dims: ReadonlyArray<number | string>): InstanceType<typeof onnx.ValueInfoProto> {
  return onnx.ValueInfoProto.create({
    name,
    type: {
      tensorType: {
        elemType: FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  });
}

export function encodeModel(parts: ModelParts): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: OPSET }],
    producerName: 'torchlet',
    producerVersion: parts.producerVersion,
    graph: {
      name: parts.graphName,
      node: parts.nodes.map((n) => onnx.NodeProto.create({
        name: n.name,
        opType: n.opType,
        input: [...n.inputs],
        output: [...n.outputs],
        attribute: Object.entries(n.attrs).map(([k, a]) => attribute(k, a)),
      })),
      initializer: parts.initializers.map(({ init, values }) => initializer(init, values)),
      input: [valueInfo(parts.input.name, parts.input.dims)],
      output: [valueInfo(parts.output.name, parts.output.dims)],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}
