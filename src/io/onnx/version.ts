/** ONNX IR version 7 goes with opset 13, which onnxruntime and onnx ≥ 1.8 read. */
export const IR_VERSION = 7;
export const OPSET = 13;
