/** torchlet.nn — mirrors torch.nn. */
export { Module, callChild, type StateDict } from './module.js';
export { Parameter } from './parameter.js';
export { LayerError } from './errors.js';
export { Sequential, ModuleList } from './layers/container.js';
export { Conv2d, type Conv2dOptions } from './layers/conv.js';
export { Linear } from './layers/linear.js';
export { ReLU, Sigmoid, Tanh, Softmax, LogSoftmax } from './layers/activation.js';
export { MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, type Pool2dOptions } from './layers/pool.js';
export { Flatten, Identity, Dropout, Lambda } from './layers/misc.js';
export { BatchNorm1d, BatchNorm2d, type BatchNormOptions } from './layers/batchnorm.js';
export { CrossEntropyLoss, MSELoss } from './layers/loss.js';
export * as functional from './functional.js';
export * as init from './init.js';
