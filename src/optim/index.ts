export { Optimizer, type OptimizerState, type ParamState } from './optimizer.js';
export { SGD, type SGDOptions } from './sgd.js';
export { Adam, AdamW, type AdamOptions } from './adam.js';
export {
  LRScheduler, StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR, OneCycleLR, ReduceLROnPlateau,
  type OneCycleOptions, type ReduceLROnPlateauOptions, type SchedulerState,
} from './lr-scheduler.js';
export * as lr_scheduler from './lr-scheduler.js';
