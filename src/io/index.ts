/** torchlet.io — checkpoints in the safetensors format, with PyTorch key names and dtypes. */
export { serialize, deserialize, SafetensorsError, MAX_HEADER_SIZE, type SafetensorsContent, type SafetensorsDType, type Metadata, type TensorInfo } from './safetensors.js';
export { saveSafetensors, loadSafetensors, readSafetensorsHeader, saveModel, loadModel } from './safetensors-file.js';
