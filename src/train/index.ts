/** torchlet.train: fit (train_ch6), evaluation, metrics, charts. */
export { fit, initWeightsXavier, NonFiniteLossError, type FitOptions, type FitResult, type FitEvent, type FitState } from './fit.js';
export { trainCh6 } from './train-ch6.js';
export { evaluate, evaluateAccuracy, type EvaluateResult } from './evaluate.js';
export { Accumulator, Timer, accuracy } from './metrics.js';
export { benchTrainSteps, median, type BenchOptions, type BenchResult } from './bench.js';
export type { TrainPoint, RunHistory } from './history.js';
export { writeChart, renderChartSvg } from './charts.js';
