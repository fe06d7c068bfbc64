/**
 * The backends a parity test should run on: `reference` always, plus every
 * other registered backend that loads (the registry knows the native `cpu`
 * backend; it loads when the addon is built).
 */
import { getBackend, listBackends } from '../../src/backend/registry.js';

export interface BackendInfo {
  name: string;
  /** Reason to skip, when the backend is registered but does not load. */
  skip?: string;
}

let cached: Promise<BackendInfo[]> | null = null;

export function testBackends(): Promise<BackendInfo[]> {
  cached ??= (async () => {
    const names = listBackends();
    const out: BackendInfo[] = [];
    for (const name of names) {
      let skip: string | undefined;
      try {
        if (!getBackend(name)) skip = `backend '${name}' is registered but did not load (native addon missing?)`;
      } catch (err) {
        skip = `backend '${name}' failed to load: ${(err as Error).message.split('\n')[0]}`;
      }
      out.push({ name, skip });
    }
    if (!names.includes('cpu')) out.push({ name: 'cpu', skip: "backend 'cpu' is not registered" });
    return out;
  })();
  return cached;
}
