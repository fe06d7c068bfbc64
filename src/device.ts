/**
 * Devices: where a tensor's storage lives (torch.device). A device is a place,
 * not an implementation: `cpu` is served by the oneDNN addon or the reference
 * kernels, `gpu` by WebGPU. Which backend serves a device is the registry's
 * business (backend/registry.ts).
 */

export type DeviceType = 'cpu' | 'gpu';

export class Device {
  private constructor(readonly type: DeviceType, readonly index: number) {}

  private static readonly known = new Map<string, Device>();

  /** One object per place, so devices compare with ===. */
  static of(type: DeviceType, index = 0): Device {
    const key = `${type}:${index}`;
    let d = Device.known.get(key);
    if (!d) {
      d = new Device(type, index);
      Device.known.set(key, d);
    }
    return d;
  }

  toString(): string {
    return this.index === 0 ? this.type : `${this.type}:${this.index}`;
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `device(type='${this.type}'${this.index ? `, index=${this.index}` : ''})`;
  }
}

export type DeviceLike = Device | string;

/** Names seed code uses for a GPU, all of which mean torchlet's WebGPU device. */
const GPU_ALIASES = new Set(['gpu', 'cuda', 'webgpu', 'mps']);

/** torch.device('cpu' | 'gpu' | 'gpu:0' | 'cuda:0'). */
export function device(spec: DeviceLike): Device {
  if (spec instanceof Device) return spec;
  if (typeof spec !== 'string') throw new TypeError(`device: expected a device or a name like 'cpu' or 'gpu', got ${typeof spec}`);
  const m = /^([a-z]+)(?::(\d+))?$/.exec(spec.trim().toLowerCase());
  const type = m?.[1];
  const index = m?.[2] === undefined ? 0 : Number(m[2]);
  if (type === 'cpu') return Device.of('cpu', index);
  if (type !== undefined && GPU_ALIASES.has(type)) return Device.of('gpu', index);
  throw new Error(`device: unknown device '${spec}'; expected 'cpu' or 'gpu' (also 'gpu:N', 'cuda')`);
}

export const CPU = Device.of('cpu');
