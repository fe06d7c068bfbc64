/**
 * The real `gpu` device for tests: opened once per test file, destroyed when
 * the file's tests end (a live Dawn device keeps the process running). Where
 * no adapter opens (no Vulkan driver, no `webgpu` package) the tests skip and
 * say why; CI installs Mesa's lavapipe, so there they run.
 */
import { after } from 'node:test';
import { initGpu, releaseGpu, gpuContext } from '../../src/gpu.js';
import { backendFor } from '../../src/backend/registry.js';
import { Device } from '../../src/device.js';
import type { GpuBackend } from '../../src/backend/webgpu/index.js';

export const GPU = Device.of('gpu');

export interface TestGpu {
  backend: GpuBackend | null;
  skip: string | false;
}

export async function openTestGpu(): Promise<TestGpu> {
  try {
    await initGpu();
    after(() => releaseGpu());
    return { backend: backendFor(GPU) as GpuBackend, skip: false };
  } catch (e) {
    // CI has lavapipe: there a GPU that fails to open is a failure, not a skip.
    if (process.env.TORCHLET_REQUIRE_GPU === '1') throw e;
    return { backend: null, skip: `no gpu: ${(e as Error).message.split('\n')[0]}` };
  }
}

export { gpuContext };
