/** torchlet.train: fit (train_ch6), callbacks, the run writer, evaluation, metrics, charts. */
export {
  fit, initWeightsXavier, NonFiniteLossError,
  type FitOptions, type FitResult, type FitEvent, type FitState, type Callback, type FitContext, type Monitor,
} from './fit.js';
export { trainCh6 } from './train-ch6.js';
export {
  earlyStopping, bestCheckpoint, metricsLogger,
  type EarlyStoppingOptions, type BestCheckpointOptions, type MetricsLoggerOptions,
} from './callbacks.js';
export { runWriter, type RunWriter, type RunWriterOptions } from './run-writer.js';
export { consoleProgress } from './verbose.js';
export { evaluate, evaluateAccuracy, type EvaluateResult } from './evaluate.js';
export { Accumulator, Timer, accuracy } from './metrics.js';
export { benchTrainSteps, median, type BenchOptions, type BenchResult } from './bench.js';
export type { TrainPoint, RunHistory } from './history.js';
export { writeChart, renderChartSvg } from './charts.js';
export { predictionGridSvg, predictionGridPng } from './prediction-grid.js';
