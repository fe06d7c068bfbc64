/**
 * torchlet for browsers: the core (tensors, autograd, nn, optim, models, the
 * reference backend, safetensors bytes). Nothing here imports a Node built-in.
 */
export * from './core.js';
