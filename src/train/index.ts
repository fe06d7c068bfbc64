/** torchlet.train: fit (train_ch6), callbacks, the run writer, evaluation, metrics, charts. */
export * from './core.js';
export { trainCh6 } from './train-ch6.js';
export { bestCheckpoint, metricsLogger, type BestCheckpointOptions, type MetricsLoggerOptions } from './callbacks.js';
export { runWriter, type RunWriter, type RunWriterOptions } from './run-writer.js';
export { consoleProgress } from './verbose.js';
export { benchTrainSteps, median, type BenchOptions, type BenchResult } from './bench.js';
export { writeChart, renderChartSvg } from './charts.js';
export { predictionGridSvg, predictionGridPng } from './prediction-grid.js';
