import type { Command } from 'commander';
import { getModelSpec } from '../models/index.js';
import { summarize, formatSummary } from '../models/summary.js';
import { useDevice } from '../node/use-device.js';

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

export function registerSummaryCommand(program: Command): void {
  program
    .command('summary')
    .description("print each top-level layer's output shape, as the book (d2l) does")
    .argument('<model>', 'model name (see `torchlet models`)')
    .option('--input <CxHxW>', "input size (default: the book's for this model)")
    .option('--table', 'also print parameters and multiply-adds per layer')
    .action(async (modelName: string, opts: { input?: string; table?: boolean }) => {
      const spec = getModelSpec(modelName);
      await useDevice('cpu');
      const input = opts.input ? parseInputShape(opts.input) : spec.inputShape;
      const net = spec.create();
      const rows = summarize(net, input);
      const total = net.parameters().reduce((s, p) => s + p.numel(), 0);
      console.log(formatSummary(rows, { table: opts.table, totalParams: total }));
    });
}
