/** d2l's try_gpu(): the GPU device when a backend for one loads here, else cpu. */
import { hasDevice } from './backend/registry.js';
import { CPU, Device } from './device.js';

export function tryGpu(i = 0): Device {
  return hasDevice('gpu') ? Device.of('gpu', i) : CPU;
}
