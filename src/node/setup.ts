/**
 * What the Node entry adds to the core before anything runs: the oneDNN
 * backend's loader, the backend choice from TORCHLET_BACKEND, the kernel
 * profiler (TORCHLET_PROFILE_KERNELS=1), async-aware grad mode, and the
 * DataLoader's worker threads.
 * Importing 'torchlet' in Node runs this first; the browser entry does not.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import '../tensor-methods.js';
import { registerBackendLoader, setBackendPreference, setKernelTableWrapper } from '../backend/registry.js';
import { setGradModeStore, type GradModeBox } from '../autograd/grad-mode.js';
import { loadCpuBackend, loadNative } from '../backend/cpu/index.js';
import { setRowGatherLoader } from '../data/batch.js';
import './webgpu.js';
import '../data/worker-pool.js';
import { profileKernels, profilingEnabled } from './profile.js';
import { setVerboseDisplay } from '../train/fit.js';
import { consoleProgress } from '../train/verbose.js';

registerBackendLoader('cpu', loadCpuBackend);
setRowGatherLoader(() => {
  const nat = loadNative();
  return nat ? (images, indices, rowLen, lut, out) => nat.gatherRowsLut(images, indices, rowLen, lut, out) : null;
});

const forced = process.env.TORCHLET_BACKEND;
if (forced) setBackendPreference('cpu', [forced]);

if (profilingEnabled()) setKernelTableWrapper(profileKernels);

// fit({ verbose: true }) shows the CLI's live bar on a terminal.
setVerboseDisplay(() => consoleProgress());

// noGrad(async () => …) then turns recording off only for that function's own continuations.
setGradModeStore(new AsyncLocalStorage<GradModeBox>());
