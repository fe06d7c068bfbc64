/**
 * Side-effect module: makes the native `cpu` backend available to the
 * registry. Loading is lazy (first getBackend('cpu')), and a missing addon
 * just means the registry keeps using `reference`.
 */
import { registerBackendLoader } from '../registry.js';
import { loadCpuBackend } from './index.js';

registerBackendLoader('cpu', loadCpuBackend);
