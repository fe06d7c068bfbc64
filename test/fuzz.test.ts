/** The fast, seeded run of the parser fuzzer (test/fuzz/harness.ts); `npm run fuzz` runs the long one. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fuzz } from './fuzz/harness.js';

for (const parser of ['safetensors', 'idx'] as const) {
  test(`fuzz ${parser}: 400 hostile inputs, every one accepted or refused with a clean error naming the file`, (t) => {
    const s = fuzz(parser, 20261201, 400);
    t.diagnostic(`${parser}: ${s.cases} cases, ${s.ok} accepted, ${s.clean} clean errors, ${s.crashes.length} crashes; worst RSS growth ${(s.worstRssGrowth / 2 ** 20).toFixed(1)} MiB on a ${s.worstInputBytes}-byte input`);
    assert.deepEqual(s.crashes.slice(0, 5), [], `${s.crashes.length} crashes`);
    assert.ok(s.clean > s.cases / 4, 'most mutations are refused (the fuzzer reaches the checks)');
  });
}
