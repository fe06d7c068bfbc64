/**
 * torchlet for Node.js: the core plus what needs Node (the oneDNN cpu backend,
 * Fashion-MNIST files, training with charts and run directories, file io).
 *
 *   import * as torch from 'torchlet';
 *   const { nn } = torch;
 */
import './node/setup.js';
export * from './core.js';
export { useDevice, deviceLabel } from './node/use-device.js';
export * as data from './data/index.js';
export * as train from './train/index.js';
export { fit, trainCh6, evaluateAccuracy, Accumulator, Timer, accuracy } from './train/index.js';
// io: the core's bytes-only io, widened with files
export * as io from './io/index.js';
// onnx: export to bytes from the core, and to a file here (torch.onnx.export)
export * as onnx from './io/onnx-file.js';
