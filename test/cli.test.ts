// The torchlet command end to end, on tiny generated Fashion-MNIST files.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeTinyFashionMNIST } from './helpers/tiny-data.js';
import { loadSafetensors } from '../src/io/safetensors-file.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = path.join(root, 'bin', 'torchlet.js');
let work = '';
let dataDir = '';

function torchlet(args: string[], env: Record<string, string> = {}): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, TORCHLET_BACKEND: 'reference', ...env } });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

before(() => {
  work = mkdtempSync(path.join(tmpdir(), 'torchlet-cli-'));
  dataDir = path.join(work, 'data');
  mkdirSync(dataDir, { recursive: true });
  writeTinyFashionMNIST(dataDir, 400, 100);
});

after(() => rmSync(work, { recursive: true, force: true }));

test('--out under a read-only or unwritable directory says which directory refuses writes', () => {
  const ro = path.join(work, 'ro');
  mkdirSync(ro, { recursive: true });
  // Root writes through permissions, so as root the directory is a read-only tmpfs instead.
  const asRoot = process.getuid?.() === 0;
  const mounted = asRoot && spawnSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=64k', 'tmpfs', ro]).status === 0;
  if (!asRoot) chmodSync(ro, 0o555);
  try {
    if (asRoot && !mounted) return; // no way to make a directory root cannot write to here
    const r = torchlet(['train', 'lenet', '--data-dir', dataDir, '--epochs', '1', '--out', path.join(ro, 'a', 'b')]);
    assert.equal(r.code, 1);
    assert.match(r.err, /cannot create the run directory .*: .*ro is not writable \((a read-only file system|permission denied)\); choose another --out/);
  } finally {
    if (mounted) spawnSync('umount', [ro]);
    else if (!asRoot) chmodSync(ro, 0o755);
  }
});

test('--version prints the package version; --device cuda says which device torchlet has', () => {
  const v = torchlet(['--version']);
  assert.equal(v.code, 0);
  assert.equal(v.out.trim(), (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version);
  const c = torchlet(['train', 'lenet', '--device', 'cuda', '--data-dir', dataDir, '--out', path.join(work, 'cuda')]);
  assert.equal(c.code, 1);
  assert.match(c.err, /no device 'cuda'; torchlet's GPU device is 'gpu' \(WebGPU/);
  const help = torchlet(['train', '--help']);
  assert.doesNotMatch(help.out, /\bseed's\b|the seed\b/, 'help speaks of the book, not the project-internal seed');
});

test('summary prints the seed listing for lenet and a table with totals', () => {
  const r = torchlet(['summary', 'lenet']);
  assert.equal(r.code, 0, r.err);
  const lines = r.out.trim().split('\n');
  assert.equal(lines[0], 'Reshape output shape:\t[1, 1, 28, 28]');
  assert.equal(lines[1], 'Conv2d output shape:\t[1, 6, 28, 28]');
  assert.equal(lines.at(-1), 'Linear output shape:\t[1, 10]');
  const t = torchlet(['summary', 'lenet', '--table']);
  assert.match(t.out, /Total params: 61,706\n/);
  const custom = torchlet(['summary', 'nin', '--input', '1x96x96']);
  assert.match(custom.out, /AdaptiveAvgPool2d output shape:\t\[1, 10, 1, 1\]/);
});

test('--seed takes only a whole number (not parseInt\'s silent 0 for "abc")', () => {
  for (const bad of ['abc', '-1', '1.5', '']) {
    const r = torchlet(['train', 'lenet', '--seed', bad, '--epochs', '1', '--data-dir', dataDir, '--out', path.join(work, 'never')]);
    assert.notEqual(r.code, 0, `--seed ${bad} was accepted`);
    assert.match(r.err, /--seed <n>.*expected a whole number from 0 to 4294967295, got '/, `--seed '${bad}'`);
  }
});

test('train refuses a --data-dir without the data, a --resume that is not a run, and a run of another model', () => {
  const none = torchlet(['train', 'lenet', '--data-dir', path.join(work, 'no-such-dir'), '--epochs', '1', '--out', path.join(work, 'never-a')]);
  assert.notEqual(none.code, 0);
  assert.match(none.err, /Fashion-MNIST not found\. Looked in:\n  - \[dataDir\] .*no-such-dir: directory does not exist/);
  const missing = path.join(work, 'no-run-here');
  const r = torchlet(['train', 'lenet', '--resume', missing]);
  assert.notEqual(r.code, 0);
  assert.match(r.err, /--resume .*no-run-here: no such directory \(start a new run with --out instead\)/);
  assert.equal(existsSync(missing), false, 'the directory was not created');
  const other = path.join(work, 'other-model');
  mkdirSync(other);
  writeFileSync(path.join(other, 'config.json'), JSON.stringify({ model: 'lenet-bn', epochs: 1, lr: 0.9, batchSize: 50, resize: null, device: 'cpu', seed: 0, threads: null, dataDir: dataDir, startedAt: '' }));
  const m = torchlet(['train', 'lenet', '--resume', other]);
  assert.notEqual(m.code, 0);
  assert.match(m.err, /that run trains lenet-bn, not lenet; resume it with `torchlet train lenet-bn --resume /);
});

test('train refuses an --out that is a file or already holds a run; eval refuses a directory as --weights', () => {
  const file = path.join(work, 'a-file');
  writeFileSync(file, 'x');
  const f = torchlet(['train', 'lenet', '--data-dir', dataDir, '--out', file]);
  assert.notEqual(f.code, 0);
  assert.match(f.err, /--out .*a-file is a file; name a directory for the run/);
  const taken = path.join(work, 'taken');
  mkdirSync(taken);
  writeFileSync(path.join(taken, 'config.json'), '{}');
  const t = torchlet(['train', 'lenet', '--data-dir', dataDir, '--out', taken]);
  assert.notEqual(t.code, 0);
  assert.match(t.err, /--out .*taken already holds a run; continue it with --resume .*taken, or choose another --out/);
  const w = torchlet(['eval', 'lenet', '--weights', taken, '--data-dir', dataDir]);
  assert.notEqual(w.code, 0);
  assert.match(w.err, /--weights .*taken is a directory; give the weights file \(a \.safetensors file\)/);
});

test('unknown model names list the known ones', () => {
  const r = torchlet(['summary', 'lenett']);
  assert.notEqual(r.code, 0);
  assert.match(r.err, /unknown model 'lenett'; did you mean 'lenet'\? Known models: lenet, alexnet, vgg11/);
});

test('train prints the seed lines, writes the run directory; eval and --logits read it back', () => {
  const out = path.join(work, 'run-a');
  const r = torchlet(['train', 'lenet', '--data-dir', dataDir, '--epochs', '2', '--batch-size', '50', '--out', out]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^training on cpu \(reference/m);
  assert.match(r.out, /^loss \d\.\d{3}, train acc \d\.\d{3}, test acc \d\.\d{3}$/m);
  assert.match(r.out, /^\d+\.\d examples\/sec on cpu/m);
  for (const f of ['config.json', 'metrics.jsonl', 'model.safetensors', 'checkpoint.json', 'checkpoints/000002/model.safetensors', 'checkpoints/000002/optimizer.safetensors', 'checkpoints/000001', 'chart.svg', 'chart.png', 'report.html']) {
    assert.ok(existsSync(path.join(out, f)), `${f} written`);
  }
  assert.deepEqual(readdirSync(out).filter((f) => f.includes('.tmp')), []);
  const testAcc = Number(/test acc (\d\.\d{3})/.exec(r.out)?.[1]);

  const logits = path.join(work, 'logits.safetensors');
  const e = torchlet(['eval', 'lenet', '--weights', path.join(out, 'model.safetensors'), '--data-dir', dataDir, '--limit', '30', '--logits', logits]);
  assert.equal(e.code, 0, e.err);
  assert.match(e.out, /test acc \d\.\d{4} \(30 images/);
  const t = loadSafetensors(logits).tensors.get('logits');
  assert.deepEqual(t?.shape, [30, 10]);

  const all = torchlet(['eval', 'lenet', '--weights', path.join(out, 'model.safetensors'), '--data-dir', dataDir]);
  assert.equal(Number(/test acc (\d\.\d{4})/.exec(all.out)?.[1]).toFixed(3), testAcc.toFixed(3), 'eval agrees with the training run');

  const p = torchlet(['predict', 'lenet', '--weights', path.join(out, 'model.safetensors'), '--data-dir', dataDir, '--images', '4']);
  assert.equal(p.code, 0, p.err);
  assert.equal(p.out.trim().split('\n').length, 4);
  assert.match(p.out, /true \S+\s+pred \S+/);
});

test('eval refuses weights of another model with the reason', () => {
  const r = torchlet(['eval', 'alexnet', '--weights', path.join(work, 'run-a', 'model.safetensors'), '--data-dir', dataDir]);
  assert.notEqual(r.code, 0);
  assert.match(r.err, /does not fit model 'alexnet'.*missing keys/);
});

test('Ctrl-C saves a checkpoint; --resume finishes with exactly the uninterrupted weights', async () => {
  const straight = path.join(work, 'straight');
  const args = ['train', 'lenet', '--data-dir', dataDir, '--epochs', '2', '--batch-size', '20', '--seed', '7'];
  assert.equal(torchlet([...args, '--out', straight]).code, 0);

  const cut = path.join(work, 'cut');
  const child = spawn(process.execPath, [bin, ...args, '--out', cut], { env: { ...process.env, TORCHLET_BACKEND: 'reference' } });
  let stdout = '';
  let signalled = false;
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    // Interrupt during the first epoch, after its first progress line.
    if (!signalled && /epoch 1\/2 \[/.test(stdout)) {
      signalled = true;
      child.kill('SIGINT');
    }
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  assert.equal(code, 130, stdout);
  assert.match(stdout, /--resume/);

  const resumed = torchlet(['train', 'lenet', '--resume', cut]);
  assert.equal(resumed.code, 0, resumed.err);
  const a = loadSafetensors(path.join(straight, 'model.safetensors')).tensors;
  const b = loadSafetensors(path.join(cut, 'model.safetensors')).tensors;
  for (const [k, t] of a) assert.deepEqual(b.get(k)?.hostView(), t.hostView(), `${k} identical after resume`);
  assert.equal(/^loss .*test acc.*$/m.exec(resumed.out)?.[0], /^loss .*test acc.*$/m.exec(torchlet([...args, '--out', path.join(work, 'again')]).out)?.[0]);
});

test('resuming a run that has finished its epochs says so instead of printing loss NaN', () => {
  const out = path.join(work, 'run-a'); // trained for 2 epochs by the test above
  assert.ok(existsSync(path.join(out, 'config.json')), 'the earlier test left its run');
  const r = torchlet(['train', 'lenet', '--resume', out]);
  assert.notEqual(r.code, 0);
  assert.match(r.err, /--resume .*run-a: the run already finished its 2 epochs; raise --epochs to train further/);
  assert.doesNotMatch(r.out, /NaN/);
});

test('train takes the optimiser, schedule, early stopping and augmentation flags; each lands in config.json and the report', () => {
  const out = path.join(work, 'flags');
  const r = torchlet(['train', 'lenet', '--data-dir', dataDir, '--epochs', '3', '--batch-size', '50', '--out', out,
    '--optimizer', 'adam', '--lr', '0.01', '--weight-decay', '0.0001', '--scheduler', 'step:1:0.5', '--early-stop', 'train-loss:5', '--augment', 'crop:2,flip', '--keep-best']);
  assert.equal(r.code, 0, r.err);
  const cfg = JSON.parse(readFileSync(path.join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
  assert.deepEqual(
    [cfg.optimizer, cfg.momentum, cfg.weightDecay, cfg.scheduler, cfg.earlyStop, cfg.augment, cfg.keepBest],
    ['adam', 0, 0.0001, 'step:1:0.5', 'train-loss:5', 'crop:2,flip', true],
  );
  const report = readFileSync(path.join(out, 'report.html'), 'utf8');
  for (const [k, v] of [['optimizer', 'adam'], ['scheduler', 'step:1:0.5'], ['augment', 'crop:2,flip'], ['earlyStop', 'train-loss:5']]) {
    assert.match(report, new RegExp(`<dt>${k}</dt><dd>${v}</dd>`), `${k} in the report`);
  }
  assert.ok(existsSync(path.join(out, 'best.safetensors')));
  // The schedule ran: the lr in metrics.jsonl halves every epoch.
  const lrs = readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { kind: string; lr?: number }).filter((m) => m.kind === 'epoch').map((m) => m.lr);
  assert.deepEqual(lrs, [0.01, 0.005, 0.0025]);
  // Bad values name the flag and say what is expected.
  const bad: Array<[string, string, RegExp]> = [
    ['--optimizer', 'rmsprop', /--optimizer <name>.*expected one of sgd, adam, adamw, got 'rmsprop'/],
    ['--scheduler', 'cosin', /unknown scheduler 'cosin'; expected step:EPOCHS/],
    ['--scheduler', 'step:x', /step: its epochs: got 'x'/],
    ['--early-stop', 'val:3', /expected PATIENCE or MONITOR:PATIENCE/],
    ['--augment', 'rotate', /'rotate' is not an augmentation/],
    ['--momentum', '-1', /expected a number ≥ 0, got '-1'/],
  ];
  for (const [flag, value, message] of bad) {
    const b = torchlet(['train', 'lenet', '--data-dir', dataDir, '--epochs', '1', '--out', path.join(work, 'never-flags'), flag, value]);
    assert.notEqual(b.code, 0, `${flag} ${value} was accepted`);
    assert.match(b.err, message);
  }
  const adamMomentum = torchlet(['train', 'lenet', '--data-dir', dataDir, '--epochs', '1', '--out', path.join(work, 'never-m'), '--optimizer', 'adam', '--momentum', '0.9']);
  assert.match(adamMomentum.err, /--momentum is SGD's; adam has its own betas/);
});

test('predict --png writes an upscaled grid with true and predicted labels', () => {
  const png = path.join(work, 'grid.png');
  const r = torchlet(['predict', 'lenet', '--weights', path.join(work, 'flags', 'model.safetensors'), '--data-dir', dataDir, '--images', '10', '--png', png]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /wrote .*grid\.png/);
  const bytes = readFileSync(png);
  assert.equal(bytes.subarray(1, 4).toString('latin1'), 'PNG');
  // 8 columns of 112 px images (28 px upscaled 4×) in 128 px cells, two rows.
  const width = bytes.readUInt32BE(16);
  const height = bytes.readUInt32BE(20);
  assert.equal(width, 8 * 128 + 16);
  assert.equal(height, 34 + 2 * (112 + 48) + 8);
});
