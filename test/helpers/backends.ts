/**
 * The backends a parity test should run on: `reference` always, plus every
 * other registered backend that loads (the native `cpu` backend registers
 * itself from src/backend/cpu/register.js when that module exists).
 */
import { getBackend, listBackends } from '../../src/backend/registry.js';

export interface BackendInfo {
  name: string;
  /** Reason to skip, when the backend is registered but does not load. */
  skip?: string;
}

let cached: Promise<BackendInfo[]> | null = null;

async function registerOptional(): Promise<string | null> {
  // A computed specifier keeps tsc from requiring the module at build time.
  const spec = ['..', '..', 'src', 'backend', 'cpu', 'register.js'].join('/');
  try {
    await import(spec);
    return null;
  } catch (err) {
    return `src/backend/cpu/register.js not importable: ${(err as Error).message.split('\n')[0]}`;
  }
}

export function testBackends(): Promise<BackendInfo[]> {
  cached ??= (async () => {
    const cpuImportError = await registerOptional();
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
    if (!names.includes('cpu')) out.push({ name: 'cpu', skip: cpuImportError ?? "backend 'cpu' is not registered" });
    return out;
  })();
  return cached;
}
