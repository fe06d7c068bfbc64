import type { Command } from 'commander';
import { getModelSpec } from '../models/index.js';
import { benchTrainSteps } from '../train/bench.js';
import { useDevice, deviceLabel } from '../node/use-device.js';
import { manualSeed } from '../random.js';
import { positiveInt } from './args.js';

export function registerBenchCommand(program: Command): void {
  program
    .command('bench')
    .description("time train steps (forward, backward, SGD) on random data at the book's input size")
    .argument('<model>', 'model name')
    .option('--batch <B>', 'batch size (default: the book\'s)', positiveInt)
    .option('--steps <S>', 'timed steps after warm-up', positiveInt, 10)
    .option('--warmup <W>', 'untimed warm-up steps', positiveInt, 2)
    .option('--device <D>', 'cpu (fastest available), gpu, or reference', 'cpu')
    .option('--threads <T>', 'compute threads (default: all cores)', positiveInt)
    .option('--json', 'print the result as JSON')
    .action(async (modelName: string, opts: { batch?: number; steps: number; warmup: number; device: string; threads?: number; json?: boolean }) => {
      const spec = getModelSpec(modelName);
      const dev = await useDevice(opts.device, { threads: opts.threads });
      manualSeed(0);
      const batch = opts.batch ?? spec.train.batchSize;
      const net = spec.create();
      const r = await benchTrainSteps(net, { batch, steps: opts.steps, warmup: opts.warmup, inputShape: spec.inputShape, device: dev });
      const label = deviceLabel(dev);
      if (opts.json) {
        console.log(JSON.stringify({
          model: spec.name, batch, device: label, examplesPerSec: r.examplesPerSec, stepSeconds: r.stepSeconds,
          ...(r.recordSeconds !== undefined ? { recordSeconds: r.recordSeconds, recordMinSeconds: r.recordMinSeconds } : {}), peakRssBytes: process.resourceUsage().maxRSS * 1024,
        }));
      } else {
        const record = r.recordSeconds !== undefined ? ` (JavaScript records a step in ${(r.recordSeconds * 1000).toFixed(2)} ms median, ${((r.recordMinSeconds ?? r.recordSeconds) * 1000).toFixed(2)} ms fastest)` : '';
        console.log(`torchlet ${spec.name} batch ${batch}: ${r.examplesPerSec.toFixed(1)} examples/sec on ${label}${record}`);
      }
    });
}
