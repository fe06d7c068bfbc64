/**
 * `npm run fuzz [-- --cases N --seed S]`: the long fuzz run over both parsers, printing the
 * figures the issue asks for (cases per parser, clean errors, crashes, worst memory).
 */
import { fuzz } from './harness.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const cases = opt('cases', 20000);
const seed = opt('seed', Date.now() % 1e9);
let crashes = 0;
for (const parser of ['safetensors', 'idx'] as const) {
  const t0 = performance.now();
  const s = fuzz(parser, seed, cases);
  crashes += s.crashes.length;
  console.log(`${parser}: ${s.cases} cases (seed ${seed}) in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${s.ok} accepted, ${s.clean} clean errors, ${s.crashes.length} crashes; ` +
    `worst RSS growth ${(s.worstRssGrowth / 2 ** 20).toFixed(1)} MiB on a ${s.worstInputBytes}-byte input (largest input ${s.largestInput} bytes)`);
  for (const c of s.crashes.slice(0, 10)) console.log(`  crash: seed ${c.seed} case ${c.case}: ${c.message}`);
}
process.exitCode = crashes > 0 ? 1 : 0;
