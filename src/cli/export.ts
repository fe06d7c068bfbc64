/** `torchlet export`: saved weights as an ONNX model that onnxruntime (and anything else reading ONNX) runs. */
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { statSync } from 'node:fs';
import { getModelSpec } from '../models/index.js';
import { useDevice } from '../node/use-device.js';
import { rand } from '../creation.js';
import { Generator } from '../random.js';
import { loadNet } from './evaluate.js';
import { parseInputShape } from './summary.js';

/** --batch: 'dynamic' (any batch size at run time) or a fixed size. */
export function batchArg(value: string): number | 'dynamic' {
  if (value === 'dynamic') return value;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`expected 'dynamic' or a positive integer, got '${value}'`);
  return n;
}

interface ExportFlags {
  weights: string;
  onnx: string;
  input?: string;
  batch: number | 'dynamic';
}

export function registerExportCommand(program: Command): void {
  program
    .command('export')
    .description('write saved weights as an ONNX model (opset 13) for onnxruntime and other runtimes')
    .argument('<model>', 'model name (see `torchlet models`)')
    .requiredOption('--weights <file>', 'model.safetensors (torchlet run or PyTorch state_dict)')
    .requiredOption('--onnx <file>', 'the .onnx file to write')
    .option('--input <CxHxW>', "input size of one example (default: the book's for this model)")
    .option('--batch <dynamic|N>', "batch size: 'dynamic' lets it vary at run time", batchArg, 'dynamic')
    .action(async (modelName: string, flags: ExportFlags) => {
      const spec = getModelSpec(modelName);
      await useDevice('cpu');
      const input = flags.input ? parseInputShape(flags.input) : spec.inputShape;
      const net = loadNet(modelName, flags.weights);
      const dynamic = flags.batch === 'dynamic';
      const example = rand([dynamic ? 1 : (flags.batch as number), ...input], { generator: new Generator(0) });
      // Loaded here, not with the CLI: the exporter and its protobuf encoder are needed by this
      // command alone, and with them loaded the other commands' LeNet steps measured slower.
      const { export: exportOnnx } = await import('../io/onnx-file.js');
      await exportOnnx(net, example, flags.onnx, { dynamicBatch: dynamic, graphName: spec.name });
      const mb = (statSync(flags.onnx).size / 1e6).toFixed(2);
      console.log(`wrote ${flags.onnx} (${mb} MB): ${spec.name}, input [${dynamic ? 'batch' : flags.batch}, ${input.join(', ')}], opset 13`);
    });
}
