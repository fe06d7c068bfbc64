import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createProgress, formatEpochLine } from '../src/train/progress.js';

function sink(isTTY: boolean): { stream: Writable & { isTTY?: boolean; columns?: number }; text: () => string } {
  let out = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      out += chunk.toString();
      cb();
    },
  }) as Writable & { isTTY?: boolean; columns?: number };
  if (isTTY) {
    stream.isTTY = true;
    stream.columns = 120;
  }
  return { stream, text: () => out };
}

const EPOCH = { loss: 0.5123, trainAcc: 0.8011, testAcc: 0.7884, examplesPerSec: 8123.44 };

test('progress: epoch line in the plain format', () => {
  assert.equal(formatEpochLine(2, 10, EPOCH), 'epoch 3/10: loss 0.512, train acc 0.801, test acc 0.788, 8123.4 examples/sec');
});

test('progress: not a TTY: plain lines, five batch lines and one epoch line per epoch', () => {
  const { stream, text } = sink(false);
  const p = createProgress({ total: 469, epochs: 2, stream });
  for (let e = 0; e < 2; e++) {
    for (let i = 0; i < 469; i++) p.update(i, { loss: 2 / (i + 1), acc: i / 469 });
    p.epochEnd(e, EPOCH);
  }
  p.log('saved');
  p.stop();
  p.update(0, { loss: 1, acc: 0 }); // after stop: nothing
  const out = text();
  assert.ok(!out.includes('\r') && !out.includes('\x1b'), 'no carriage returns or escape codes');
  const lines = out.trimEnd().split('\n');
  assert.equal(lines.length, 2 * 6 + 1);
  assert.equal(lines[0], 'epoch 1/2 [ 94/469] loss 0.021, train acc 0.198');
  assert.equal(lines[4], 'epoch 1/2 [469/469] loss 0.004, train acc 0.998');
  assert.equal(lines[5], 'epoch 1/2: loss 0.512, train acc 0.801, test acc 0.788, 8123.4 examples/sec');
  assert.match(lines[6], /^epoch 2\/2 \[ 94\/469\]/);
  assert.equal(lines[11], 'epoch 2/2: loss 0.512, train acc 0.801, test acc 0.788, 8123.4 examples/sec');
  assert.equal(lines[12], 'saved');
});

test('progress: not a TTY, few batches, a resumed run', () => {
  const { stream, text } = sink(false);
  const p = createProgress({ total: 3, epochs: 10, stream, initialEpoch: 3 });
  for (let i = 1; i < 3; i++) p.update(i, { loss: 1, acc: 0.5 });
  p.epochEnd(3, EPOCH);
  for (let i = 0; i < 3; i++) p.update(i, { loss: 1, acc: 0.5 });
  p.stop();
  const lines = text().trimEnd().split('\n');
  assert.deepEqual(lines.map((l) => l.split(/[ :]/).slice(0, 2).join(' ')), [
    'epoch 4/10', 'epoch 4/10', 'epoch 4/10', 'epoch 5/10', 'epoch 5/10', 'epoch 5/10',
  ]);
  assert.match(lines[2], /^epoch 4\/10: loss/);
});

test('progress: TTY: a live bar with loss and accuracy, replaced by the epoch line', async () => {
  const { stream, text } = sink(true);
  const p = createProgress({ total: 20, epochs: 2, stream });
  for (let i = 0; i < 20; i++) p.update(i, { loss: 0.7, acc: 0.75 });
  p.epochEnd(0, EPOCH);
  p.update(0, { loss: 0.6, acc: 0.8 });
  p.log('a message');
  p.stop();
  p.stop();
  const out = text();
  assert.match(out, /epoch 1\/2 [█░]+ \d+\/20 \| loss 0\.700 \| train acc 0\.750/);
  assert.ok(out.includes('epoch 1/2: loss 0.512, train acc 0.801, test acc 0.788, 8123.4 examples/sec\n'));
  assert.match(out, /epoch 2\/2 [█░]+ 1\/20 \| loss 0\.600/);
  assert.ok(out.includes('a message\n'));
});
