/**
 * Checkpoints under crashes. A training process is killed with SIGKILL at
 * many points across a run (checkpoint writes included) and resumed each
 * time: every resume must succeed, and the resumed run must end with weights
 * bit-identical to an uninterrupted run's, on `reference` and on `cpu`. A run
 * on a disk too small for its checkpoints must fail cleanly, and resuming it
 * elsewhere must continue from the last complete checkpoint.
 *
 * `cpu` runs share one convolution plan cache (TORCHLET_CACHE_DIR): the first
 * run decides each shape's plan and every later process reuses the decision.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { writeTinyFashionMNIST } from './helpers/tiny-data.js';
import { loadNative } from '../src/backend/cpu/index.js';

const bin = path.resolve('bin/torchlet.js');
let work = '';
let dataDir = '';

const TRAIN = ['train', 'lenet', '--epochs', '3', '--batch-size', '50', '--lr', '0.3'];

function envFor(backend: string): NodeJS.ProcessEnv {
  return { ...process.env, TORCHLET_BACKEND: backend, TORCHLET_CACHE_DIR: path.join(work, 'cache'), TORCHLET_NUM_THREADS: '2' };
}

function trainSync(backend: string, extra: string[]): { code: number; out: string; err: string; ms: number } {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [bin, ...TRAIN, '--data-dir', dataDir, ...extra], { encoding: 'utf8', env: envFor(backend) });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr, ms: performance.now() - t0 };
}

function metricLines(dir: string): number {
  try {
    return readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).length;
  } catch {
    return 0;
  }
}

/**
 * Start a run and SIGKILL it once its metrics log has `lines` records, `delayMs` later: kill points
 * follow the run's progress, not the clock, so they land mid-run however fast the machine is.
 * Resolves with its exit code (null when killed).
 */
function trainKilledAt(backend: string, extra: string[], dir: string, lines: number, delayMs: number): Promise<{ code: number | null; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...TRAIN, '--data-dir', dataDir, ...extra], { env: envFor(backend), stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const poll = setInterval(() => {
      if (metricLines(dir) < lines) return;
      clearInterval(poll);
      setTimeout(() => child.kill('SIGKILL'), delayMs);
    }, 2);
    child.on('exit', (code) => {
      clearInterval(poll);
      resolve({ code, err });
    });
  });
}

function weights(dir: string): Buffer {
  // The tensors only: the header's metadata carries a checkpoint id with a timestamp.
  const b = readFileSync(path.join(dir, 'model.safetensors'));
  const n = Number(b.readBigUInt64LE(0));
  return b.subarray(8 + n);
}

function leftovers(dir: string): string[] {
  const found: string[] = [];
  const walk = (d: string): void => {
    for (const n of readdirSync(d, { withFileTypes: true })) {
      if (n.name.includes('.tmp')) found.push(path.join(d, n.name));
      else if (n.isDirectory()) walk(path.join(d, n.name));
    }
  };
  walk(dir);
  return found;
}

before(() => {
  work = mkdtempSync(path.join(tmpdir(), 'torchlet-crash-'));
  dataDir = path.join(work, 'data');
  mkdirSync(dataDir, { recursive: true });
  writeTinyFashionMNIST(dataDir, 400, 100);
});

after(() => rmSync(work, { recursive: true, force: true }));

for (const backend of ['reference', 'cpu']) {
  const skip = backend === 'cpu' && !loadNative() ? 'native cpu addon not built' : false;
  describe(`SIGKILL anywhere, then --resume (${backend})`, { skip }, () => {
    test('every resume succeeds and ends bit-identical to the uninterrupted run', async (t) => {
      const base = path.join(work, `${backend}-base`);
      const full = trainSync(backend, ['--out', base]);
      assert.equal(full.code, 0, full.err);
      const want = weights(base);
      // Kill points spread over the whole run by its progress (metrics records written), some just
      // after an epoch's record, while its checkpoint is being written; some runs are killed twice.
      const total = metricLines(base);
      const kills = [0.05, 0.15, 0.3, 0.34, 0.45, 0.6, 0.67, 0.75, 0.85, 0.95, 1].map((f, i) => ({ lines: Math.max(1, Math.round(f * total)), delay: [0, 3, 15][i % 3] }));
      let resumed = 0;
      for (const [k, at] of kills.entries()) {
        const dir = path.join(work, `${backend}-kill-${k}`);
        const first = await trainKilledAt(backend, ['--out', dir], dir, at.lines, at.delay);
        if (first.code !== null) assert.equal(first.code, 0, `run ${k} exited ${first.code} on its own: ${first.err}`);
        if (!existsSync(path.join(dir, 'config.json'))) {
          // Killed before the run directory existed: there is nothing to resume; start again.
          rmSync(dir, { recursive: true, force: true });
          const again = trainSync(backend, ['--out', dir]);
          assert.equal(again.code, 0, again.err);
        } else {
          if (k % 3 === 0 && first.code === null) {
            const second = await trainKilledAt(backend, ['--resume', dir], dir, metricLines(dir) + 3, 5);
            if (second.code !== null && second.code !== 0) assert.match(second.err, /already finished its 3 epochs/, `resume of run ${k} failed: ${second.err}`);
          }
          const r = trainSync(backend, ['--resume', dir]);
          // A run killed after it finished is already complete: resuming says so (exit 1) without harm.
          if (r.code !== 0) assert.match(r.err, /already finished its 3 epochs/, `resume of run ${k} failed: ${r.err}`);
          else resumed++;
        }
        assert.deepEqual(leftovers(dir), [], `run ${k}: temporary files left behind`);
        assert.ok(weights(dir).equals(want), `run ${k} (killed at metrics record ${at.lines} + ${at.delay} ms): weights differ from the uninterrupted run`);
      }
      t.diagnostic(`${kills.length} runs killed (${resumed} resumed mid-run), all bit-identical to the uninterrupted run (${full.ms.toFixed(0)} ms)`);
      assert.ok(resumed >= kills.length / 2, `only ${resumed} of ${kills.length} kills landed mid-run`);
    });
  });
}

/** A small tmpfs (root only), or null with the reason it could not be made. */
function smallDisk(dir: string, size: string): string | null {
  mkdirSync(dir, { recursive: true });
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { encoding: 'utf8' });
  return r.status === 0 ? null : `cannot mount a tmpfs here (${(r.stderr || r.error?.message || 'not root?').trim()})`;
}

describe('a disk too small for the checkpoints', () => {
  const disk = path.join(tmpdir(), `torchlet-small-disk-${process.pid}`);
  const why = process.platform === 'linux' ? smallDisk(disk, '700k') : 'tmpfs needs Linux';
  after(() => {
    if (!why) spawnSync('umount', [disk]);
    rmSync(disk, { recursive: true, force: true });
  });
  test('the run fails cleanly, keeps its last complete checkpoint, and resumes from it elsewhere', { skip: why ?? false }, () => {
    const base = path.join(work, 'disk-base');
    assert.equal(trainSync('reference', ['--out', base]).code, 0);
    const dir = path.join(disk, 'run');
    const r = trainSync('reference', ['--out', dir]);
    assert.equal(r.code, 1, `expected the run to fail on the full disk: ${r.out}`);
    assert.match(r.err, /saving a checkpoint in .* failed: the disk is full; the previous checkpoint \(generation \d+, epoch \d\) is intact/);
    assert.doesNotMatch(r.err, /^\s+at /m, 'no stack trace');
    assert.deepEqual(leftovers(dir), [], 'temporary files left on the full disk');
    const moved = path.join(work, 'disk-moved');
    cpSync(dir, moved, { recursive: true });
    const again = trainSync('reference', ['--resume', moved]);
    assert.equal(again.code, 0, again.err);
    assert.ok(weights(moved).equals(weights(base)), 'the resumed run ends with the uninterrupted weights');
  });
});
