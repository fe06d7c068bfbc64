// The GPU bench's driver: torchlet on `gpu` (WebGPU through Dawn and Vulkan), in f32 and with its
// f16 GEMM tiles (--allow-f16), against PyTorch CUDA, TF32 on and off, on the seed's networks at the
// seed's batch sizes, in one table.
// Runs from an unpacked bundle (bench/gpu/pack.sh) or from the repository after `npm run build`
// and pack.sh's staging; each measurement is its own process so a GPU is opened fresh.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : dflt;
};
const models = opt('models', 'lenet,lenet-bn,alexnet,vgg11-small,nin,googlenet').split(',');
const scale = Number(opt('batch-scale', '1'));
const steps = opt('steps', '20');
const python = opt('python', process.env.PYTHON ?? 'python3');
const benchJs = path.join(here, 'torchlet', 'bench.mjs');
const torchPy = path.join(here, 'torchlet', 'bench', 'torch_bench.py');
/** d2l's published GPU figures (examples/sec), the goals. */
const D2L = { lenet: 55000, 'lenet-bn': 50000, alexnet: 4150, 'vgg11-small': 2460, nin: 3190, googlenet: 3270 };
const SEED_BATCH = { lenet: 256, 'lenet-bn': 256, alexnet: 128, 'vgg11-small': 128, nin: 128, googlenet: 128 };

function runJson(cmd, argv, env = process.env) {
  const r = spawnSync(cmd, argv, { encoding: 'utf8', timeout: 20 * 60 * 1000, env });
  const line = (r.stdout ?? '').trim().split('\n').filter((l) => l.startsWith('{')).pop();
  if (r.status !== 0 || !line) return { error: ((r.stderr || r.error?.message || `exit ${r.status}`) + '').trim().split('\n').slice(-1)[0] };
  return JSON.parse(line);
}

const rows = [];
for (const model of models) {
  const batch = Math.max(1, Math.round((SEED_BATCH[model] ?? 128) * scale));
  process.stderr.write(`${model} (batch ${batch}) ...\n`);
  const oursArgs = [benchJs, model, '--device', 'gpu', '--batch', String(batch), '--steps', steps];
  const ours = existsSync(benchJs) ? runJson(process.execPath, oursArgs) : { error: `missing ${benchJs}` };
  // Dawn exposes shader-f16 on NVIDIA's Vulkan driver only with this toggle (unless the caller set flags).
  const f16Env = { ...process.env, TORCHLET_DAWN_FLAGS: process.env.TORCHLET_DAWN_FLAGS ?? 'enable-dawn-features=vulkan_enable_f16_on_nvidia' };
  const oursF16 = existsSync(benchJs) ? runJson(process.execPath, [...oursArgs, '--allow-f16'], f16Env) : { error: `missing ${benchJs}` };
  const tf32 = runJson(python, [torchPy, '--model', model, '--batch', String(batch), '--steps', steps, '--device', 'cuda', '--tf32', 'on']);
  const fp32 = runJson(python, [torchPy, '--model', model, '--batch', String(batch), '--steps', steps, '--device', 'cuda', '--tf32', 'off']);
  rows.push({ model, batch, ours, oursF16, tf32, fp32 });
}

const num = (r) => (r && typeof r.examplesPerSec === 'number' ? r.examplesPerSec : null);
const fmt = (v) => (v === null ? '—' : v >= 100 ? v.toFixed(0) : v.toFixed(1));
const ratio = (a, b) => (a === null || b === null ? '—' : `${(a / b).toFixed(2)}×`);
const gpuName = rows.map((r) => r.ours.device).find(Boolean) ?? 'gpu: not available';
const torchName = rows.map((r) => r.tf32.device).find(Boolean) ?? 'PyTorch CUDA: not available';
console.log(`torchlet: ${gpuName}`);
console.log(`PyTorch:  ${torchName}`);
console.log('');
console.log('| model | batch | torchlet gpu ex/s | torchlet gpu f16 GEMM ex/s | record ms/step | PyTorch CUDA TF32 ex/s | PyTorch CUDA FP32 ex/s | vs TF32 | vs FP32 | f16 vs TF32 | d2l goal | vs goal |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  const o = num(r.ours);
  const rec = typeof r.ours.recordSeconds === 'number' ? (r.ours.recordSeconds * 1000).toFixed(2) : '—';
  const h = num(r.oursF16);
  console.log(`| ${r.model} | ${r.batch} | ${fmt(o)} | ${fmt(h)} | ${rec} | ${fmt(num(r.tf32))} | ${fmt(num(r.fp32))} | ${ratio(o, num(r.tf32))} | ${ratio(o, num(r.fp32))} | ${ratio(h, num(r.tf32))} | ${D2L[r.model] ?? '—'} | ${ratio(o, D2L[r.model] ?? null)} |`);
}
const errors = rows.flatMap((r) => [['torchlet', r.ours], ['torchlet f16', r.oursF16], ['PyTorch TF32', r.tf32], ['PyTorch FP32', r.fp32]].filter(([, x]) => x.error).map(([who, x]) => `${r.model} ${who}: ${x.error}`));
if (errors.length) {
  console.log('');
  for (const e of errors) console.log(`note: ${e}`);
}
