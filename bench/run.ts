/**
 * `npm run bench`: torchlet's cpu backend against PyTorch (Debian's
 * python3-torch) on every seed network, same batch, threads and input,
 * run alternately in one session so machine noise hits both. Prints
 * examples/sec, the ratio and each process's peak RSS, and writes
 * bench/results.md.
 *
 *   npm run bench -- [--models lenet,nin] [--rounds 3] [--steps 10] [--warmup 4] [--threads 2] [--e2e-rounds 3]
 *
 * Then the end-to-end row: `torchlet train lenet` (10 epochs, real Fashion-MNIST)
 * against the seed's PyTorch script (bench/seed_lenet.py), wall time from start
 * to exit, same threads, with each side's final test accuracy and peak RSS
 * (GNU time, Debian's `time` package), median of 3 alternating rounds. `--e2e-rounds 0` leaves it out.
 * fit's examples/sec there is compared with the LeNet row's rate over total step time (as fit
 * measures it: examples over the sum of its step times); the row's own figure is the median
 * step's, which a few slow steps on a noisy machine do not move.
 *
 * Both sides get the same untimed warm-up steps; torchlet's cpu backend times its candidate
 * convolution plans during its first steps (see native/conv.cc), so the default leaves room.
 */
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';

interface Measurement {
  /** From the median step. */
  examplesPerSec: number;
  stepSeconds: number[];
  peakRssBytes: number;
  device: string;
}

/** Examples per second of total step time: what fit reports (d2l's train_ch6 divides by the timer's sum). */
const meanRate = (batch: number, m: Measurement): number => (batch * m.stepSeconds.length) / m.stepSeconds.reduce((a, b) => a + b, 0);

interface Case {
  model: string;
  batch: number;
  target: number;
}

const CASES: Case[] = [
  // The CPU issue's targets: 3x for the LeNets, and for the others no lower than the ratios of
  // the 2026-12-01 run the issue quotes.
  { model: 'lenet', batch: 256, target: 3.0 },
  { model: 'lenet-bn', batch: 256, target: 3.0 },
  { model: 'alexnet', batch: 128, target: 1.62 },
  { model: 'vgg11-small', batch: 128, target: 1.78 },
  { model: 'nin', batch: 128, target: 1.64 },
  { model: 'googlenet', batch: 128, target: 1.49 },
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

interface WallRun {
  seconds: number;
  testAcc: number;
  /** The training loop's examples/sec as the run prints it (d2l's figure), when it does. */
  examplesPerSec: number | null;
  peakRssBytes: number | null;
}

/** One whole run of a command, timed from spawn to exit; GNU time reports its peak RSS. */
function wallRun(cmd: string, args: string[]): WallRun {
  const gnuTime = existsSync('/usr/bin/time');
  const rssFile = path.join(tmpdir(), `torchlet-bench-rss-${process.pid}.txt`);
  const full = gnuTime ? ['/usr/bin/time', ['-f', '%M', '-o', rssFile, cmd, ...args]] as const : [cmd, args] as const;
  const t0 = performance.now();
  const r = spawnSync(full[0], [...full[1]], { cwd: root, encoding: 'utf8', maxBuffer: 1 << 26, env: { ...process.env, TORCHLET_BACKEND: '' } });
  const seconds = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stderr}`);
  const acc = /test acc (\d\.\d+)\s*$/m.exec(r.stdout.split('\n').filter((l) => /^loss .*test acc/.test(l)).pop() ?? '');
  if (!acc) throw new Error(`${cmd} printed no final 'loss …, test acc …' line:\n${r.stdout}`);
  // The run's own figure is its closing line, as d2l's train_ch6 prints it ("N examples/sec on
  // DEVICE"); each epoch's progress line carries a rate too, and the first of those is epoch 1's.
  const speed = /^([\d.]+) examples\/sec on /m.exec(r.stdout);
  let peakRssBytes: number | null = null;
  if (gnuTime) {
    peakRssBytes = Number(readFileSync(rssFile, 'utf8').trim().split('\n').pop()) * 1024;
    rmSync(rssFile, { force: true });
  }
  return { seconds, testAcc: Number(acc[1]), examplesPerSec: speed ? Number(speed[1]) : null, peakRssBytes };
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
  /** LeNet's train-step rates at batch 256, over total step time and from the median step (fit's rate is compared with them). */
  let benchLenet: { mean: number; median: number } | null = null;
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
    if (c.model === 'lenet') benchLenet = { mean: median(ours.map((m) => meanRate(c.batch, m))), median: a };
    const rssA = Math.max(...ours.map((m) => m.peakRssBytes));
    const rssB = Math.max(...theirs.map((m) => m.peakRssBytes));
    const row = `| ${c.model} | ${c.batch} | ${a.toFixed(1)} | ${b.toFixed(1)} | ${ratio.toFixed(2)}× | ≥ ${c.target}× ${ratio >= c.target ? '✓' : '✗'} | ${mib(rssA)} | ${mib(rssB)} |`;
    console.log(`${c.model.padEnd(12)} batch ${c.batch}: torchlet ${a.toFixed(1)} ex/s, PyTorch ${b.toFixed(1)} ex/s, ratio ${ratio.toFixed(2)}x (target ${c.target}x), peak RSS ${mib(rssA)} vs ${mib(rssB)}`);
    rows.push(row);
  }
  const e2eRounds = Number(arg('e2e-rounds', '3'));
  let e2e = '';
  if (e2eRounds > 0) {
    const ours: WallRun[] = [];
    const theirs: WallRun[] = [];
    for (let r = 0; r < e2eRounds; r++) {
      const out = mkdtempSync(path.join(tmpdir(), 'torchlet-bench-run-'));
      try {
        ours.push(wallRun(process.execPath, ['bin/torchlet.js', 'train', 'lenet', '--epochs', '10', '--threads', threads, '--out', path.join(out, 'run')]));
      } finally {
        rmSync(out, { recursive: true, force: true });
      }
      theirs.push(wallRun('/usr/bin/python3', ['bench/seed_lenet.py', '--threads', threads]));
    }
    const a = median(ours.map((m) => m.seconds));
    const b = median(theirs.map((m) => m.seconds));
    const ratio = b / a;
    const accA = median(ours.map((m) => m.testAcc));
    const accB = median(theirs.map((m) => m.testAcc));
    const rss = (xs: WallRun[]): string => (xs.every((m) => m.peakRssBytes !== null) ? mib(Math.max(...xs.map((m) => m.peakRssBytes as number))) : '?');
    const fitSpeed = median(ours.map((m) => m.examplesPerSec ?? NaN));
    const fitShare = benchLenet !== null
      ? ` (${((100 * fitSpeed) / benchLenet.mean).toFixed(0)}% of bench's ${benchLenet.mean.toFixed(0)} over total step time; ${((100 * fitSpeed) / benchLenet.median).toFixed(0)}% of its median-step ${benchLenet.median.toFixed(0)})`
      : '';
    const line = `torchlet train lenet (10 epochs, real data): ${a.toFixed(1)} s wall, test acc ${accA.toFixed(3)}; seed_lenet.py: ${b.toFixed(1)} s, test acc ${accB.toFixed(3)}; ${ratio.toFixed(2)}× faster (target 3×); fit ${fitSpeed.toFixed(0)} ex/s${fitShare}; peak RSS ${rss(ours)} vs ${rss(theirs)}`;
    console.log(line);
    e2e = `\n## End to end: the seed's 10-epoch LeNet run (median of ${e2eRounds}, wall time from start to exit, ${threads} threads)\n\n| run | wall s | test acc | fit ex/s | peak RSS |\n|---|---|---|---|---|\n` +
      `| \`torchlet train lenet\` | ${a.toFixed(1)} | ${accA.toFixed(3)} | ${fitSpeed.toFixed(0)}${fitShare} | ${rss(ours)} |\n` +
      `| \`bench/seed_lenet.py\` (PyTorch) | ${b.toFixed(1)} | ${accB.toFixed(3)} | ${median(theirs.map((m) => m.examplesPerSec ?? NaN)).toFixed(0)} | ${rss(theirs)} |\n\n` +
      `torchlet is ${ratio.toFixed(2)}× faster end to end (target ≥ 3× ${ratio >= 3 ? '✓' : '✗'}; both test acc ≥ 0.78 ${accA >= 0.78 && accB >= 0.78 ? '✓' : '✗'}).\n`;
  }
  const device = `torchlet cpu backend vs PyTorch (Debian python3-torch), ${threads} threads, ${new Date().toISOString()}`;
  const md = `# Benchmark: train steps, examples/sec (median of ${rounds} alternating rounds × ${steps} steps, after ${warmup} warm-up steps)\n\n${device}\n\n${header}\n|---|---|---|---|---|---|---|---|\n${rows.join('\n')}\n${e2e}`;
  writeFileSync(path.join(root, 'bench', 'results.md'), md);
  console.log('\nwrote bench/results.md');
}

main();
