/**
 * Devices as the CLI names them (`--device cpu|gpu|reference`). `cpu` is the
 * fastest CPU backend present: the oneDNN addon when it is built, else the
 * reference kernels (said once on stderr). TORCHLET_BACKEND overrides the
 * cpu choice everywhere.
 */
import { backendFor, getBackend, setBackend } from '../backend/registry.js';
import { CPU, device as toDevice, type Device, type DeviceLike } from '../device.js';
import { initGpu } from '../gpu.js';

export const DEVICES = ['cpu', 'gpu', 'reference'] as const;

let warnedFallback = false;

/**
 * Make `name` the device to compute on; returns it (move the net and batches there).
 * Async because opening a GPU is: `gpu` (also 'webgpu') opens it first.
 */
export async function useDevice(name = 'cpu', opts: { threads?: number } = {}): Promise<Device> {
  const forced = process.env.TORCHLET_BACKEND || undefined;
  let dev: Device;
  if (name === 'reference') {
    setBackend(forced ?? 'reference');
    dev = CPU;
  } else {
    // The CLI names devices as torchlet has them; PyTorch's names say where to look instead.
    if (/^(cuda|mps)(:\d+)?$/i.test(name)) {
      throw new Error(`no device '${name}'; torchlet's GPU device is 'gpu' (WebGPU, on any vendor's GPU): use --device gpu. Devices: ${DEVICES.join(', ')}`);
    }
    try {
      dev = toDevice(name);
    } catch {
      throw new Error(`unknown device '${name}'; choose one of: ${DEVICES.join(', ')}`);
    }
    if (dev.type === 'cpu') setBackend(forced ?? (getBackend('cpu') ? 'cpu' : 'reference'));
    else {
      try {
        await initGpu();
      } catch (e) {
        throw new Error(`--device ${name}: ${(e as Error).message}`);
      }
    }
  }
  const backend = backendFor(dev);
  if (dev.type === 'cpu' && backend.name === 'reference' && name !== 'reference' && !forced && !warnedFallback) {
    warnedFallback = true;
    process.stderr.write('torchlet: native cpu backend (oneDNN) not available; using the reference backend. Install it with: apt-get install libdnnl-dev && npm rebuild torchlet\n');
  }
  const threads = opts.threads ?? (process.env.TORCHLET_NUM_THREADS ? Number(process.env.TORCHLET_NUM_THREADS) : undefined);
  if (threads !== undefined) {
    if (!Number.isInteger(threads) || threads < 1) throw new Error(`--threads must be a positive integer, got ${threads}`);
    backend.setNumThreads?.(threads);
  }
  return dev;
}

/** The string printed after "examples/sec on". */
export function deviceLabel(where: DeviceLike = CPU): string {
  return backendFor(toDevice(where)).describe();
}
