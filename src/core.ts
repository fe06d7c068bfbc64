/**
 * The core: tensors, autograd, ops, nn, optim, models, the reference backend
 * and byte-level safetensors. It imports no Node built-in and no `process`,
 * so it bundles for browsers; the Node entry (index.ts) and the browser entry
 * (browser.ts) build on it.
 */
export { Tensor, type DType, type TensorLike, type TensorOptions } from './tensor.js';
import './tensor-methods.js';
export { tensor, zeros, ones, full, rand, randn, randint, arange, zerosLike, onesLike, type CreateOptions } from './creation.js';
export { noGrad, isGradEnabled, setGradEnabled, enableGrad } from './autograd/grad-mode.js';
export { manualSeed, Generator } from './random.js';
export { cat, stack } from './ops/movement.js';
export { where } from './ops/elementwise.js';
export { matmul } from './ops/matmul.js';
export { DeviceMismatchError } from './ops/dispatch.js';
export { Device, device, CPU, type DeviceLike, type DeviceType } from './device.js';
export { tryGpu } from './try-gpu.js';
export { initGpu, tryGpuAsync, releaseGpu } from './gpu.js';
export * as backends from './backends.js';
export { tidy, keep, memoryStats, resetPeakMemoryStats, emptyCache } from './memory.js';
export type { MemoryStats } from './backend/memory.js';
export {
  setBackend, activeBackend, listBackends, withBackend, registerBackend, registerBackendLoader, backendFor, KernelMissingError,
} from './backend/registry.js';
export { Storage, type Layout } from './backend/storage.js';
export type { Backend, Kernels, KernelName } from './backend/kernels.js';
export * as nn from './nn/index.js';
export * as optim from './optim/index.js';
export * from './functions.js';
export * as models from './models/index.js';
export { createModel, listModels, getModelSpec, MODEL_NAMES, type ModelSpec } from './models/index.js';
export { summarize, formatSummary, type LayerSummary } from './models/summary.js';
export { summary, formatModelSummary, type ModelSummary, type SummaryRow, type SummaryOptions } from './models/model-summary.js';
export * as io from './io/bytes.js';
export * as onnx from './io/onnx/index.js';
