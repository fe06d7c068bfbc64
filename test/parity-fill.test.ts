/**
 * The TS filler reproduces scripts/gen_fixtures.py's filler bit for bit:
 * the parity fixtures store only fill specs, so every parity test depends on it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fillValues, fill } from './helpers/fill.js';
import { loadFixture } from './helpers/fixtures.js';

interface FillCheck { fill: number[]; n: number; first: number[]; at: Record<string, number>; sum: number }
const { cases } = loadFixture<{ cases: FillCheck[] }>('fill.json');

test('fill: matches the Python filler exactly (float32 values, quantised specs too)', () => {
  assert.ok(cases.length >= 4);
  for (const c of cases) {
    const v = fillValues(c.n, c.fill);
    assert.deepEqual(Array.from(v.subarray(0, c.first.length)), c.first, `first values of ${JSON.stringify(c.fill)}`);
    for (const [i, e] of Object.entries(c.at)) assert.equal(v[Number(i)], e, `value ${i} of ${JSON.stringify(c.fill)}`);
    let s = 0;
    for (const x of v) s += x;
    assert.ok(Math.abs(s - c.sum) <= 1e-9 * Math.max(1, Math.abs(c.sum)), `sum of ${JSON.stringify(c.fill)}: ${s} vs ${c.sum}`);
  }
});

test('fill: tensors are row-major over the flat index', () => {
  const t = fill([2, 3], [1, 0, 0]);
  assert.deepEqual([...t.shape], [2, 3]);
  assert.equal(t.dataSync()[4], Math.fround(Math.sin(0.7 * 4)));
});
