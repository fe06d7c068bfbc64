/**
 * The GPU bench's program, bundled by bench/gpu/pack.sh into one file: time
 * train steps of a zoo network on a device and print one JSON line, as
 * `torchlet bench --json` does, without the rest of the CLI (charts, data).
 */
import '../../src/node/setup.js';
import { getModelSpec } from '../../src/models/index.js';
import { benchTrainSteps } from '../../src/train/bench.js';
import { useDevice, deviceLabel } from '../../src/node/use-device.js';
import { releaseGpu } from '../../src/gpu.js';
import { manualSeed } from '../../src/random.js';
import { webgpu } from '../../src/backends.js';

async function main(argv: string[]): Promise<void> {
  const [model, ...rest] = argv;
  const opt = (name: string, dflt: string): string => {
    const i = rest.indexOf(`--${name}`);
    return i >= 0 && rest[i + 1] !== undefined ? rest[i + 1] : dflt;
  };
  const spec = getModelSpec(model);
  const device = await useDevice(opt('device', 'gpu'));
  // --allow-f16: the f16 GEMM tier, which must not silently fall back to f32 in a benchmark.
  const f16 = rest.includes('--allow-f16');
  if (f16) webgpu.requireF16();
  manualSeed(0);
  const batch = Number(opt('batch', String(spec.train.batchSize)));
  const r = await benchTrainSteps(spec.create(), { batch, steps: Number(opt('steps', '10')), warmup: Number(opt('warmup', '3')), inputShape: spec.inputShape, device });
  console.log(JSON.stringify({ model: spec.name, batch, device: deviceLabel(device), allowF16: f16, examplesPerSec: r.examplesPerSec, recordSeconds: r.recordSeconds ?? null, stepSeconds: r.stepSeconds }));
}

main(process.argv.slice(2)).then(() => {
  releaseGpu();
  process.exit(0);
}, (e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`, () => process.exit(1));
});
