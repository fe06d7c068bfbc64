/**
 * torch.onnx.export(net, exampleInput, path): the core's export, written to a
 * file atomically (readers never see half a model; a failed write leaves any
 * old file as it was).
 */
import type { Module } from '../nn/module.js';
import type { Tensor } from '../tensor.js';
import { atomicWriteFileSync } from '../util/atomic-write.js';
import { exportOnnxBytes, type OnnxExportOptions } from './onnx/export.js';

async function exportOnnx(net: Module, exampleInput: Tensor, file: string, opts: OnnxExportOptions = {}): Promise<void> {
  if (typeof file !== 'string' || file === '') throw new TypeError('onnx.export: the third argument must be the path of the .onnx file to write');
  const bytes = await exportOnnxBytes(net, exampleInput, opts);
  try {
    atomicWriteFileSync(file, bytes, { createDir: false });
  } catch (err) {
    throw new Error(`onnx.export: cannot write ${file}: ${(err as Error).message}`, { cause: err });
  }
}

export { exportOnnx as export };
export * from './onnx/index.js';
