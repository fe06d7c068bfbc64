/**
 * Kept for code that imports it for its side effect: the registry itself now
 * registers the `cpu` loader (see registry.ts), so every entry point — the
 * library, the CLI, a test importing ops directly — gets the native backend
 * when it is built. Registering again is harmless.
 */
import { registerBackendLoader } from '../registry.js';
import { loadCpuBackend } from './index.js';

registerBackendLoader('cpu', loadCpuBackend);
