/**
 * Counts multiply-adds of the ops that dominate convnets (convolutions and
 * matrix products) while enabled. Summaries use it to report per-layer cost
 * without hooks into every module.
 */
let enabled = false;
let macs = 0;

export function countMacs(n: number): void {
  if (enabled) macs += n;
}

/** Run fn and return its result together with the multiply-adds it performed. */
export function withMacCount<T>(fn: () => T): { result: T; macs: number } {
  const prevEnabled = enabled;
  const prevMacs = macs;
  enabled = true;
  macs = 0;
  try {
    const result = fn();
    return { result, macs };
  } finally {
    enabled = prevEnabled;
    macs = prevMacs + (prevEnabled ? macs : 0);
  }
}
