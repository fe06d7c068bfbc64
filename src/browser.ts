/**
 * torchlet for browsers: the core (tensors, autograd, nn, optim, models, the
 * reference backend, safetensors bytes, ONNX export) and the training loop
 * (fit, evaluate, early stopping), and data from bytes (IDX, in-memory
 * datasets, transforms). Nothing here imports a Node built-in.
 *
 * The gpu device is navigator.gpu (in pages and workers): `await torch.initGpu()`.
 */
/// <reference types="@webgpu/types" preserve="true" />
import { setGpuSource } from './gpu.js';

export * from './core.js';
export * as train from './train/core.js';
export * as data from './data/core.js';
export { fit, evaluateAccuracy, Accumulator, Timer, accuracy } from './train/core.js';

const gpu = typeof navigator !== 'undefined' ? (navigator as Navigator & { gpu?: GPU }).gpu : undefined;
if (gpu) setGpuSource({ gpu: async () => gpu, api: 'WebGPU' });
