import type { Command } from 'commander';
import { getModelSpec } from '../models/index.js';
import { benchTrainSteps } from '../train/bench.js';
import { useDevice, deviceLabel } from '../node/use-device.js';
import { manualSeed } from '../random.js';
import { positiveInt } from './args.js';
import { webgpu } from '../backends.js';

/**
 * --allow-f16: the f16 GEMM tier, demanded. The library setting is a quiet no-op without
 * shader-f16 (as allow_tf32 is); a benchmark asked for f16 must not quietly time f32 instead.
 */
function allowF16(device: string, type: string): void {
  if (type !== 'gpu') throw new Error(`--allow-f16 applies to the gpu device's GEMMs; add --device gpu (got --device ${device})`);
  webgpu.requireF16();
}

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
    .option('--allow-f16', 'gpu only: matmul and convolution GEMMs stage tiles as f16, accumulating in f32 (torch.backends.webgpu.allowF16)')
    .option('--json', 'print the result as JSON')
    .action(async (modelName: string, opts: { batch?: number; steps: number; warmup: number; device: string; threads?: number; allowF16?: boolean; json?: boolean }) => {
      const spec = getModelSpec(modelName);
      const dev = await useDevice(opts.device, { threads: opts.threads });
      if (opts.allowF16) allowF16(opts.device, dev.type);
      manualSeed(0);
      const batch = opts.batch ?? spec.train.batchSize;
      const net = spec.create();
      const r = await benchTrainSteps(net, { batch, steps: opts.steps, warmup: opts.warmup, inputShape: spec.inputShape, device: dev });
      const label = `${deviceLabel(dev)}${opts.allowF16 ? ', f16 GEMM tiles' : ''}`;
      if (opts.json) {
        console.log(JSON.stringify({
          model: spec.name, batch, device: label, ...(opts.allowF16 ? { allowF16: true } : {}), examplesPerSec: r.examplesPerSec, stepSeconds: r.stepSeconds,
          ...(r.recordSeconds !== undefined ? { recordSeconds: r.recordSeconds, recordMinSeconds: r.recordMinSeconds } : {}), peakRssBytes: process.resourceUsage().maxRSS * 1024,
        }));
      } else {
        const record = r.recordSeconds !== undefined ? ` (JavaScript records a step in ${(r.recordSeconds * 1000).toFixed(2)} ms median, ${((r.recordMinSeconds ?? r.recordSeconds) * 1000).toFixed(2)} ms fastest)` : '';
        console.log(`torchlet ${spec.name} batch ${batch}: ${r.examplesPerSec.toFixed(1)} examples/sec on ${label}${record}`);
      }
    });
}
