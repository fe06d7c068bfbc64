// Every examples/ file runs and prints the seed's layer listing (SHAPES_ONLY skips the training part).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const distExamples = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'examples');

/** The seed's printed listings (layer names and final dims), where the seed gives them. */
const expected: Record<string, { first: string; last: string; lines: number }> = {
  lenet: { first: 'Reshape output shape: \t [ 1, 1, 28, 28 ]', last: 'Linear output shape: \t [ 1, 10 ]', lines: 13 },
  alexnet: { first: 'Conv2d output shape:\t [ 1, 96, 54, 54 ]', last: 'Linear output shape:\t [ 1, 10 ]', lines: 21 },
  vgg: { first: 'Sequential output shape: \t [ 1, 64, 112, 112 ]', last: 'Linear output shape: \t [ 1, 10 ]', lines: 13 },
  nin: { first: 'Sequential output shape:\t [ 1, 96, 54, 54 ]', last: 'Flatten output shape:\t [ 1, 10 ]', lines: 10 },
  googlenet: { first: 'Sequential output shape:\t [ 1, 64, 24, 24 ]', last: 'Linear output shape:\t [ 1, 10 ]', lines: 6 },
  batchnorm: { first: 'Conv2d output shape:\t [ 1, 6, 24, 24 ]', last: 'Linear output shape:\t [ 1, 10 ]', lines: 16 },
};

for (const [name, want] of Object.entries(expected)) {
  test(`examples/${name}.ts prints the seed's shapes`, () => {
    const r = spawnSync(process.execPath, [path.join(distExamples, `${name}.js`)], { encoding: 'utf8', env: { ...process.env, SHAPES_ONLY: '1' } });
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, want.lines);
    assert.equal(lines[0], want.first);
    assert.equal(lines.at(-1), want.last);
  });
}
