/**
 * `npm run bench`: torchlet's cpu backend against PyTorch (Debian's
 * python3-torch) on every seed network, same batch, threads and input,
 * run alternately in one session so machine noise hits both. Prints
 * examples/sec, the ratio and each process's peak RSS, and writes
 * bench/results.md.
 *
 *   npm run bench -- [--models lenet,nin] [--rounds 3] [--steps 10] [--warmup 4] [--threads 2]
 *
 * Both sides get the same untimed warm-up steps; torchlet's cpu backend times its candidate
 * convolution plans during its first steps (see native/conv.cc), so the default leaves room.
 */
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileSync } from 'node:fs';

interface Measurement {
  examplesPerSec: number;
  peakRssBytes: number;
  device: string;
}

interface Case {
  model: string;
  batch: number;
  target: number;
}

const CASES: Case[] = [
  { model: 'lenet', batch: 256, target: 2.0 },
  { model: 'lenet-bn', batch: 256, target: 2.0 },
  { model: 'alexnet', batch: 128, target: 1.2 },
  { model: 'vgg11-small', batch: 128, target: 1.2 },
  { model: 'nin', batch: 128, target: 1.2 },
  { model: 'googlenet', batch: 128, target: 1.2 },
];

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

function runJson(cmd: string, args: string[]): Measurement {
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', maxBuffer: 1 << 24, env: { ...process.env, TORCHLET_BACKEND: '' } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stderr}`);
  const line = r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop();
  if (!line) throw new Error(`${cmd} printed no JSON:\n${r.stdout}\n${r.stderr}`);
  return JSON.parse(line) as Measurement;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const mib = (b: number): string => `${(b / 2 ** 20).toFixed(0)} MiB`;

function main(): void {
  const models = arg('models', CASES.map((c) => c.model).join(',')).split(',');
  const rounds = Number(arg('rounds', '3'));
  const steps = arg('steps', '8');
  const warmup = arg('warmup', '4');
  const threads = arg('threads', String(cpus().length));
  const rows: string[] = [];
  const header = `| model | batch | torchlet ex/s | PyTorch ex/s | ratio | target | torchlet peak RSS | PyTorch peak RSS |`;
  console.log(`threads ${threads}, ${rounds} alternating rounds of ${warmup} warm-up + ${steps} timed steps each; medians over rounds`);
  for (const c of CASES.filter((x) => models.includes(x.model))) {
    const ours: Measurement[] = [];
    const theirs: Measurement[] = [];
    for (let r = 0; r < rounds; r++) {
      ours.push(runJson(process.execPath, ['bin/torchlet.js', 'bench', c.model, '--batch', String(c.batch), '--steps', steps, '--warmup', warmup, '--threads', threads, '--json']));
      theirs.push(runJson('/usr/bin/python3', ['bench/torch_bench.py', '--model', c.model, '--batch', String(c.batch), '--steps', steps, '--warmup', warmup, '--threads', threads]));
    }
    const a = median(ours.map((m) => m.examplesPerSec));
    const b = median(theirs.map((m) => m.examplesPerSec));
    const ratio = a / b;
    const rssA = Math.max(...ours.map((m) => m.peakRssBytes));
    const rssB = Math.max(...theirs.map((m) => m.peakRssBytes));
    const row = `| ${c.model} | ${c.batch} | ${a.toFixed(1)} | ${b.toFixed(1)} | ${ratio.toFixed(2)}× | ≥ ${c.target}× ${ratio >= c.target ? '✓' : '✗'} | ${mib(rssA)} | ${mib(rssB)} |`;
    console.log(`${c.model.padEnd(12)} batch ${c.batch}: torchlet ${a.toFixed(1)} ex/s, PyTorch ${b.toFixed(1)} ex/s, ratio ${ratio.toFixed(2)}x (target ${c.target}x), peak RSS ${mib(rssA)} vs ${mib(rssB)}`);
    rows.push(row);
  }
  const device = `torchlet cpu backend vs PyTorch (Debian python3-torch), ${threads} threads, ${new Date().toISOString()}`;
  const md = `# Benchmark: train steps, examples/sec (median of ${rounds} alternating rounds × ${steps} steps, after ${warmup} warm-up steps)\n\n${device}\n\n${header}\n|---|---|---|---|---|---|---|---|\n${rows.join('\n')}\n`;
  writeFileSync(path.join(root, 'bench', 'results.md'), md);
  console.log('\nwrote bench/results.md');
}

main();
