/** torchlet.io for the core and browsers: the safetensors format as bytes (no files). */
export { serialize, deserialize, SafetensorsError, MAX_HEADER_SIZE, type SafetensorsContent, type SafetensorsDType, type Metadata, type TensorInfo } from './safetensors.js';
