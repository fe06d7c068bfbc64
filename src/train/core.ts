/** The part of torchlet.train that runs anywhere (no files, no terminal): fit, evaluation, early stopping, metrics. */
export {
  fit, initWeightsXavier, NonFiniteLossError, setVerboseDisplay,
  type FitOptions, type FitResult, type FitEvent, type FitState, type Callback, type FitContext, type Monitor,
} from './fit.js';
export { earlyStopping, type EarlyStoppingOptions } from './early-stopping.js';
export { consoleLines, formatEpochLine, formatBatchLine } from './progress-lines.js';
export { evaluate, evaluateAccuracy, type EvaluateResult } from './evaluate.js';
export { Accumulator, Timer, accuracy } from './metrics.js';
export type { TrainPoint, RunHistory } from './series.js';
export { chartSpec, type ChartOptions } from './chart-spec.js';
