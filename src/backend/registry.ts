/**
 * Kernel registry: which backend computes on each device.
 *
 * Backends register by name (or by a loader, so that one nobody asks for, like
 * the oneDNN addon or Dawn, is never loaded). Each device type is served by one
 * backend at a time: the one set with setBackend, else the first that loads
 * from the device's preference list. A host-memory backend's missing kernels
 * are filled from `reference`; a device backend must bring every kernel, and
 * one that does not is refused when it registers.
 */
import { KERNEL_NAMES, type Backend, type Kernels, type KernelName } from './kernels.js';
import type { Storage } from './storage.js';
import { referenceBackend } from './reference/index.js';
import { CPU, Device, type DeviceType } from '../device.js';

export type AnyKernels = Kernels<Storage>;
type AnyBackend = Backend<unknown>;

const backends = new Map<string, AnyBackend>([[referenceBackend.name, referenceBackend as AnyBackend]]);
const loaders = new Map<string, () => AnyBackend | null>();
/** Backends tried in order for a device type when none was chosen. */
const preference: Record<DeviceType, string[]> = { cpu: ['cpu', 'reference'], gpu: ['webgpu'] };
const chosen = new Map<DeviceType, AnyBackend>();
const tables = new Map<AnyBackend, AnyKernels>();
let wrapTable: ((k: AnyKernels) => AnyKernels) | null = null;

export class KernelMissingError extends Error {
  constructor(backend: string, missing: readonly string[]) {
    super(`backend '${backend}' is missing kernels: ${missing.join(', ')}; a device backend must implement every kernel (only host-memory backends may fall back to reference)`);
    this.name = 'KernelMissingError';
  }
}

/** Refuse a device backend whose kernel table is incomplete. */
function checkComplete(b: AnyBackend): void {
  if (b.hostMemory) return;
  const missing = KERNEL_NAMES.filter((n) => typeof b.kernels[n] !== 'function');
  if (missing.length > 0) throw new KernelMissingError(b.name, missing);
}

export function registerBackend<B>(backend: Backend<B>): void {
  const b = backend as AnyBackend;
  checkComplete(b);
  backends.set(b.name, b);
  tables.delete(b);
}

/** Forget a backend (a GPU device that was destroyed); its device type picks again on next use. */
export function unregisterBackend(name: string): void {
  const b = backends.get(name);
  if (!b || name === referenceBackend.name) return;
  backends.delete(name);
  tables.delete(b);
  if (chosen.get(b.device.type) === b) chosen.delete(b.device.type);
}

export function registerBackendLoader<B>(name: string, load: () => Backend<B> | null): void {
  loaders.set(name, load as () => AnyBackend | null);
}

/** The preference list for a device type (the Node entry puts TORCHLET_BACKEND first). */
export function setBackendPreference(type: DeviceType, names: readonly string[]): void {
  preference[type] = [...names];
  chosen.delete(type);
}

/** Wrap every kernel table (the Node entry's kernel profiler). */
export function setKernelTableWrapper(wrap: ((k: AnyKernels) => AnyKernels) | null): void {
  wrapTable = wrap;
  tables.clear();
}

export function getBackend(name: string): AnyBackend | null {
  const known = backends.get(name);
  if (known) return known;
  const load = loaders.get(name);
  if (!load) return null;
  loaders.delete(name);
  const loaded = load();
  if (loaded) registerBackend(loaded);
  return loaded;
}

export function listBackends(): string[] {
  return [...new Set([...backends.keys(), ...loaders.keys()])];
}

/** The backend computing on this device (loading it on first use). */
export function backendFor(device: Device): AnyBackend {
  const have = chosen.get(device.type);
  if (have) return have;
  for (const name of preference[device.type]) {
    const b = getBackend(name);
    if (b && b.device.type === device.type) {
      chosen.set(device.type, b);
      return b;
    }
  }
  const hint = device.type === 'gpu' ? '; open it first with `await torch.initGpu()` (torch.tryGpu() then returns it, or cpu when there is none)' : '';
  throw new Error(`device '${device}': no backend available (tried ${preference[device.type].join(', ') || 'none'})${hint}`);
}

/** Whether some backend can serve this device type here. */
export function hasDevice(type: DeviceType): boolean {
  try {
    backendFor(Device.of(type));
    return true;
  } catch {
    return false;
  }
}

/** A backend's kernels, with reference filling the gaps of a host-memory backend. */
function tableOf(b: AnyBackend): AnyKernels {
  let t = tables.get(b);
  if (!t) {
    const base = b.hostMemory ? { ...(referenceBackend.kernels as AnyKernels), ...stripUndefined(b.kernels) } : (b.kernels as AnyKernels);
    t = wrapTable ? wrapTable(base) : base;
    tables.set(b, t);
  }
  return t;
}

function stripUndefined(k: Partial<AnyKernels>): Partial<AnyKernels> {
  return Object.fromEntries(Object.entries(k).filter(([, f]) => f !== undefined)) as Partial<AnyKernels>;
}

/** The kernel table for tensors on this device. */
export function kernelsFor(device: Device): AnyKernels {
  return tableOf(backendFor(device));
}

/** Make `name` serve its device type from now on. */
export function setBackend(name: string): AnyBackend {
  const b = getBackend(name);
  if (!b) throw new Error(`unknown backend '${name}'; available: ${listBackends().join(', ')}`);
  chosen.set(b.device.type, b);
  return b;
}

/** The cpu device's backend (what `torchlet bench` and the CLI report). */
export function activeBackend(): AnyBackend {
  return backendFor(CPU);
}

/** Run fn with another backend serving its device, restoring the previous one afterwards (tests compare backends this way). */
export function withBackend<T>(name: string, fn: () => T): T {
  const b = getBackend(name);
  if (!b) throw new Error(`unknown backend '${name}'; available: ${listBackends().join(', ')}`);
  const type = b.device.type;
  const prev = chosen.get(type);
  chosen.set(type, b);
  try {
    return fn();
  } finally {
    if (prev) chosen.set(type, prev);
    else chosen.delete(type);
  }
}

export type { KernelName };
