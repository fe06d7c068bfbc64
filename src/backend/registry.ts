/**
 * Kernel registry: which backend runs each kernel.
 *
 * Backends register themselves by name. The active backend's kernel is used
 * when it has one; otherwise the `reference` kernel runs on the same buffers.
 * That fallback is what lets a fast backend start small and grow op by op.
 */
import { RAW_INPUT_KERNELS, type Backend, type Kernels, type KernelName } from './kernels.js';
import { plainOf } from './layout.js';
import { referenceBackend } from './reference/index.js';
import { loadCpuBackend } from './cpu/index.js';
import { profileKernels, profilingEnabled } from './profile.js';

const backends = new Map<string, Backend>([[referenceBackend.name, referenceBackend]]);
/** Lazily-loaded backends (e.g. the native addon), tried on first request. */
const loaders = new Map<string, () => Backend | null>([['cpu', loadCpuBackend]]);

let active: Backend | null = null;
let resolved: Kernels | null = null;

export function registerBackend(backend: Backend): void {
  backends.set(backend.name, backend);
}

export function registerBackendLoader(name: string, load: () => Backend | null): void {
  loaders.set(name, load);
}

export function getBackend(name: string): Backend | null {
  const known = backends.get(name);
  if (known) return known;
  const load = loaders.get(name);
  if (!load) return null;
  const loaded = load();
  if (loaded) backends.set(name, loaded);
  loaders.delete(name);
  return loaded;
}

export function listBackends(): string[] {
  return [...new Set([...backends.keys(), ...loaders.keys()])];
}

/** Row-major copies of any backend-layout buffers among a kernel's arguments (arrays of buffers included). */
function plainArgs(args: unknown[]): unknown[] {
  return args.map((a) => (a instanceof Float32Array ? plainOf(a) : Array.isArray(a) ? a.map((b) => (b instanceof Float32Array ? plainOf(b) : b)) : a));
}

/**
 * Merge a backend's kernels over the reference ones. Implementations that do not read the
 * backend's own layouts get RAW_INPUT_KERNELS' inputs converted to row-major first.
 */
function resolveKernels(backend: Backend): Kernels {
  const ref = referenceBackend.kernels as Kernels;
  const merged = { ...ref } as Record<KernelName, unknown>;
  for (const [name, fn] of Object.entries(backend.kernels)) {
    if (fn) merged[name as KernelName] = fn;
  }
  for (const name of RAW_INPUT_KERNELS) {
    const own = backend.kernels[name] !== undefined && backend.layoutAware?.has(name);
    if (own) continue;
    const fn = merged[name] as (...a: unknown[]) => unknown;
    merged[name] = (...args: unknown[]): unknown => fn(...plainArgs(args));
  }
  return profilingEnabled() ? profileKernels(merged as Kernels) : (merged as Kernels);
}

export function setBackend(name: string): Backend {
  const backend = getBackend(name);
  if (!backend) {
    throw new Error(`unknown backend '${name}'; available: ${listBackends().join(', ')}`);
  }
  active = backend;
  resolved = resolveKernels(backend);
  return backend;
}

/**
 * The backend in use. On first use it honours TORCHLET_BACKEND, else picks the
 * fastest CPU backend present ('cpu' if the native addon loads, else 'reference').
 */
export function activeBackend(): Backend {
  if (!active) setBackend(defaultBackendName());
  return active as Backend;
}

export function defaultBackendName(): string {
  const forced = process.env.TORCHLET_BACKEND;
  if (forced) return forced;
  return getBackend('cpu') ? 'cpu' : 'reference';
}

/** The kernel table of the active backend (with reference fallbacks). */
export function K(): Kernels {
  if (!resolved) activeBackend();
  return resolved as Kernels;
}

/** Run fn with another backend active, restoring the previous one afterwards (tests compare backends this way). */
export function withBackend<T>(name: string, fn: () => T): T {
  const prev = active?.name ?? null;
  setBackend(name);
  try {
    return fn();
  } finally {
    if (prev) setBackend(prev);
    else {
      active = null;
      resolved = null;
    }
  }
}
