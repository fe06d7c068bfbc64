import type { Command } from 'commander';
import { getModelSpec } from '../models/index.js';
import { summarize, formatSummary } from '../models/summary.js';
import { summary } from '../models/model-summary.js';
import { useDevice } from '../node/use-device.js';
import { positiveInt } from './args.js';

/** Parse "CxHxW" (or "HxW" for one channel, or "H" for a square single-channel image). */
export function parseInputShape(text: string): [number, number, number] {
  const parts = text.toLowerCase().split('x').map(Number);
  if (parts.some((p) => !Number.isInteger(p) || p < 1) || parts.length < 1 || parts.length > 3) {
    throw new Error(`--input: expected CxHxW such as 1x224x224, got '${text}'`);
  }
  if (parts.length === 1) return [1, parts[0], parts[0]];
  if (parts.length === 2) return [1, parts[0], parts[1]];
  return [parts[0], parts[1], parts[2]];
}

function depthArg(value: string): number {
  return value === '0' ? 0 : positiveInt(value);
}

export function registerSummaryCommand(program: Command): void {
  program
    .command('summary')
    .description("print each top-level layer's output shape, as the book (d2l) does; --table for torchinfo's full summary")
    .argument('<model>', 'model name (see `torchlet models`)')
    .option('--input <CxHxW>', "input size (default: the book's for this model)")
    .option('--table', 'nested rows with output shapes, parameters and mult-adds, totals and a memory estimate (torchinfo)')
    .option('--depth <d>', 'with --table: show modules nested up to this depth', depthArg, 3)
    .action(async (modelName: string, opts: { input?: string; table?: boolean; depth: number }) => {
      const spec = getModelSpec(modelName);
      await useDevice('cpu');
      const input = opts.input ? parseInputShape(opts.input) : spec.inputShape;
      const net = spec.create();
      if (opts.table) {
        console.log(summary(net, [1, ...input], { depth: opts.depth }).toString());
        return;
      }
      console.log(formatSummary(summarize(net, input)));
    });
}
