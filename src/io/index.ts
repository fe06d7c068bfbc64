/** torchlet.io — checkpoints in the safetensors format, with PyTorch key names and dtypes. */
export {
  saveSafetensors, loadSafetensors, readSafetensorsHeader, serialize, deserialize, saveModel, loadModel,
  SafetensorsError, MAX_HEADER_SIZE,
  type SafetensorsContent, type SafetensorsDType, type Metadata, type TensorInfo,
} from './safetensors.js';
