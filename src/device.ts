/**
 * Devices as users name them (`--device cpu`) mapped to backends. `cpu` is the
 * fastest CPU backend present: the oneDNN addon when it is built, else the
 * reference kernels. TORCHLET_BACKEND overrides the choice everywhere.
 */
import { activeBackend, defaultBackendName, getBackend, setBackend } from './backend/registry.js';
import type { Backend } from './backend/kernels.js';

export const DEVICES = ['cpu', 'reference'] as const;

let warnedFallback = false;

export function useDevice(device = 'cpu', opts: { threads?: number } = {}): Backend {
  const forced = process.env.TORCHLET_BACKEND;
  let name: string;
  if (forced) name = forced;
  else if (device === 'cpu') name = defaultBackendName();
  else if (device === 'reference') name = 'reference';
  else if (['gpu', 'cuda', 'webgpu'].includes(device)) {
    throw new Error(`device '${device}': the WebGPU backend is not available in this build; use --device cpu`);
  } else throw new Error(`unknown device '${device}'; choose one of: ${DEVICES.join(', ')}`);
  if (device === 'cpu' && name === 'reference' && !forced && !warnedFallback && !getBackend('cpu')) {
    warnedFallback = true;
    process.stderr.write('torchlet: native cpu backend (oneDNN) not available; using the reference backend. Install it with: apt-get install libdnnl-dev && npm rebuild torchlet\n');
  }
  const backend = setBackend(name);
  const threads = opts.threads ?? (process.env.TORCHLET_NUM_THREADS ? Number(process.env.TORCHLET_NUM_THREADS) : undefined);
  if (threads !== undefined) {
    if (!Number.isInteger(threads) || threads < 1) throw new Error(`--threads must be a positive integer, got ${threads}`);
    backend.setNumThreads?.(threads);
  }
  return backend;
}

/** The string printed after "examples/sec on". */
export function deviceLabel(): string {
  return activeBackend().describe();
}

/** d2l's try_gpu(): the best device available here. */
export function tryGpu(): string {
  return 'cpu';
}
