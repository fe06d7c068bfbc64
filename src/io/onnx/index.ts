/** torchlet.onnx in the core: export to bytes (the Node entry adds export to a file). */
export { exportOnnxBytes as exportBytes, type OnnxExportOptions } from './export.js';
export { UnsupportedOpError } from './graph.js';
export { UntraceableError } from './trace-forward.js';
export { OPSET, IR_VERSION } from './version.js';
