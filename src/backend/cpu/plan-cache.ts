/**
 * Convolution plans decided once per machine. The addon times the plans a
 * shape is offered on its first call and keeps the fastest (native/conv.cc);
 * plans differ in summation order, so a later process that timed differently
 * would compute different last bits. This file keeps the decisions, per CPU
 * model and thread count, in `${XDG_CACHE_HOME:-~/.cache}/torchlet/conv-plans.json`
 * (or $TORCHLET_CACHE_DIR), hands them to every process, and adds new ones at
 * exit: two runs with the same seed then give bit-identical weights.
 * TORCHLET_DETERMINISTIC=0 turns this off (and the addon's race becomes free).
 */
import { existsSync, readFileSync } from 'node:fs';
import { cpus, homedir } from 'node:os';
import path from 'node:path';
import { atomicWriteFileSync } from '../../util/atomic-write.js';
import type { CpuNative } from './addon.js';

type Choices = Record<string, string>;
interface PlanFile { version: 1; machines: Record<string, Choices> }

export function planCacheFile(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env.TORCHLET_CACHE_DIR || path.join(env.XDG_CACHE_HOME || path.join(homedir(), '.cache'), 'torchlet');
  return path.join(dir, 'conv-plans.json');
}

/**
 * Bumped whenever a plan's kernels change speed (2: the direct plan's lanes kernels), so that
 * decisions timed against the old kernels are not handed to the new ones.
 */
const PLAN_REVISION = 2;

function machineKey(threads: number): string {
  return `${cpus()[0]?.model ?? 'unknown cpu'} | ${threads} threads | plans r${PLAN_REVISION}`;
}

function readPlans(file: string): PlanFile {
  try {
    if (existsSync(file)) {
      const v = JSON.parse(readFileSync(file, 'utf8')) as PlanFile;
      if (v && v.version === 1 && typeof v.machines === 'object' && v.machines !== null) return v;
    }
  } catch {
    // A damaged cache only costs a re-timing; it is rewritten at exit.
  }
  return { version: 1, machines: {} };
}

/** Apply saved plans now and after every thread-count change, and save new decisions at exit. */
export function usePlanCache(nat: CpuNative): void {
  if (process.env.TORCHLET_DETERMINISTIC === '0') return;
  const file = planCacheFile();
  const apply = (): void => {
    const saved = readPlans(file).machines[machineKey(nat.getNumThreads())];
    if (saved) nat.setConvChoices(saved);
  };
  apply();
  const setThreads = nat.setNumThreads.bind(nat);
  nat.setNumThreads = (n: number) => {
    setThreads(n);
    apply(); // the addon forgets its decisions when the thread count changes
  };
  process.on('exit', () => {
    const now = nat.convChoices();
    const key = machineKey(nat.getNumThreads());
    const plans = readPlans(file);
    const before = plans.machines[key] ?? {};
    if (Object.keys(now).every((k) => before[k] === now[k])) return;
    plans.machines[key] = { ...before, ...now };
    try {
      atomicWriteFileSync(file, JSON.stringify(plans));
    } catch {
      // Not writable (a read-only home): the next process times its plans again.
    }
  });
}
