/**
 * The playground's training worker: a module Web Worker, so the page stays
 * responsive while a network trains. It loads torchlet from the stable URL
 * the server gives it (/torchlet.js), Fashion-MNIST from /data/ (gzipped IDX,
 * inflated here), trains with fit() on WebGPU or the reference backend, and
 * streams fit's events to the page (protocol.ts).
 */
import type { Callback, FitContext, FitEvent } from '../train/fit.js';
import type { ImageDataset } from '../data/dataset.js';
import type { Device } from '../device.js';
import type { FromWorker, LayerRow, SamplePrediction, ToWorker, TrainSettings } from './protocol.js';

type Torch = typeof import('../browser.js');
type Module = InstanceType<Torch['nn']['Module']>;

/** What this worker needs of DedicatedWorkerGlobalScope (the DOM lib types `self` as a window). */
interface WorkerScope {
  postMessage(message: FromWorker, transfer?: Transferable[]): void;
  onmessage: ((e: MessageEvent<ToWorker>) => void) | null;
  location: { origin: string };
}
const scope = self as unknown as WorkerScope;
const post = (m: FromWorker, transfer: Transferable[] = []): void => scope.postMessage(m, transfer);

let torchModule: Promise<Torch> | null = null;
/** torchlet itself, from the URL pages use too (so the worker and the tests load the same module). */
function torchlet(): Promise<Torch> {
  const url = `${scope.location.origin}/torchlet.js`;
  torchModule ??= import(url) as Promise<Torch>;
  return torchModule;
}

let splits: Promise<{ train: ImageDataset; test: ImageDataset }> | null = null;
/** Both Fashion-MNIST splits, fetched and decoded once per worker. */
function fashionMNIST(torch: Torch): Promise<{ train: ImageDataset; test: ImageDataset }> {
  const bytes = async (key: string): Promise<Uint8Array> => {
    const r = await fetch(`/data/${key}`);
    if (!r.ok) throw new Error(`Fashion-MNIST: the server answered ${r.status} for /data/${key}: ${await r.text()}`);
    return new Uint8Array(await r.arrayBuffer());
  };
  splits ??= (async () => {
    post({ type: 'status', text: 'loading Fashion-MNIST…' });
    const [ti, tl, vi, vl] = await Promise.all(['trainImages', 'trainLabels', 'testImages', 'testLabels'].map(bytes));
    const train = await torch.data.fashionMNISTFromBytes(ti, tl, { images: 'train images', labels: 'train labels' });
    const test = await torch.data.fashionMNISTFromBytes(vi, vl, { images: 'test images', labels: 'test labels' });
    return { train, test };
  })();
  splits.catch(() => {
    splits = null; // a failed fetch may be retried by the next run
  });
  return splits;
}

/** The first `n` examples of a split (all of it for 0). */
function firstExamples(torch: Torch, ds: ImageDataset, n: number): ImageDataset {
  if (n <= 0 || n >= ds.length) return ds;
  const size = ds.height * ds.width * ds.channels;
  return new torch.data.ArrayImageDataset(ds.images.subarray(0, n * size), Array.from(ds.labels).slice(0, n), ds.height, ds.width, ds.channels);
}

function summaryRows(torch: Torch, net: Module, inputShape: readonly number[]): { rows: LayerRow[]; totalParams: number } {
  const s = torch.summary(net, inputShape, { depth: 2 });
  return {
    rows: s.rows.filter((r) => r.depth > 0).map((r) => ({ name: r.name, depth: r.depth, outputShape: [...r.outputShape], params: r.nestedParams })),
    totalParams: s.totalParams,
  };
}

/** The run in progress: what pause, stop and weights act on. */
interface Run {
  net: Module;
  settings: TrainSettings;
  paused: boolean;
  resume: (() => void) | null;
  stopAsked: boolean;
}
/** The last run started (its weights are what a download gives) and the one training now, if any. */
let run: Run | null = null;
let active: Run | null = null;
/** A stop that came while the data was still loading, before the run existed. */
let stopBeforeStart = false;

/** Predictions for the first test images, with their pixels, for the page's grid. */
async function predictSamples(torch: Torch, net: Module, test: ImageDataset, resize: number, device: Device): Promise<SamplePrediction[]> {
  const count = Math.min(12, test.length);
  const loader = new torch.data.DataLoader(firstExamples(torch, test, count), { batchSize: count, transform: resize === 28 ? {} : { resize: [resize, resize] } });
  const labels = torch.data.FASHION_MNIST_LABELS;
  const out: SamplePrediction[] = [];
  const wasTraining = net.training;
  net.eval();
  for await (const [X, y] of loader) {
    const logits = await torch.noGrad(() => net.forward(X.to(device))).data();
    const truth = await y.data();
    const classes = logits.length / count;
    for (let i = 0; i < count; i++) {
      let best = 0;
      for (let c = 1; c < classes; c++) if (logits[i * classes + c] > logits[i * classes + best]) best = c;
      out.push({ pixels: test.images.slice(i * 784, (i + 1) * 784), label: labels[truth[i]], predicted: labels[best] });
    }
  }
  if (wasTraining) net.train();
  return out;
}

async function train(settings: TrainSettings): Promise<void> {
  const torch = await torchlet();
  const data = await fashionMNIST(torch);
  const device = settings.device === 'gpu' ? await torch.initGpu() : torch.CPU;
  const backend = torch.backendFor(device);
  post({ type: 'backend', label: backend.name === 'webgpu' ? `webgpu: ${backend.describe().replace(/^gpu \((.*)\)$/, '$1')}` : backend.name });
  torch.manualSeed(settings.seed);
  const transform = settings.resize === 28 ? {} : { resize: [settings.resize, settings.resize] as [number, number] };
  const trainSet = firstExamples(torch, data.train, settings.trainExamples);
  const testSet = firstExamples(torch, data.test, settings.testExamples);
  const trainIter = new torch.data.DataLoader(trainSet, { batchSize: settings.batchSize, shuffle: true, seed: settings.seed, transform });
  // Evaluation keeps no activations for backward, so it affords larger batches.
  const testIter = new torch.data.DataLoader(testSet, { batchSize: Math.max(settings.batchSize, 256), transform });
  const net = torch.createModel(settings.model);
  const current: Run = { net, settings, paused: false, resume: null, stopAsked: stopBeforeStart };
  stopBeforeStart = false;
  run = current;
  active = current;
  let batchLoss: number | null = null;
  let examples = 0;
  let busySeconds = 0;
  let stepStart = performance.now();
  const relay: Callback = {
    name: 'playground',
    async onEvent(e: FitEvent, ctx: FitContext) {
      if (e.type === 'start') {
        post({ type: 'start', settings, numBatches: e.numBatches });
        stepStart = performance.now();
      } else if (e.type === 'batch') {
        busySeconds += (performance.now() - stepStart) / 1000;
        examples += Math.min(settings.batchSize, trainSet.length - e.batch * settings.batchSize);
        batchLoss = Number.isFinite(e.loss) ? e.loss : batchLoss;
        post({ type: 'batch', epoch: e.epoch, batch: e.batch, numBatches: e.numBatches, examplesPerSec: examples / busySeconds });
        if (current.stopAsked) ctx.stop('stopped from the page');
        if (current.paused) {
          post({ type: 'paused', paused: true });
          await new Promise<void>((resolve) => {
            current.resume = resolve;
          });
          post({ type: 'paused', paused: false });
          if (current.stopAsked) ctx.stop('stopped from the page');
        }
        stepStart = performance.now();
      } else if (e.type === 'point') {
        post({ type: 'point', point: e.point, batchLoss: e.point.trainLoss !== undefined ? batchLoss : null });
      } else if (e.type === 'epoch') {
        const samples = await predictSamples(torch, net, data.test, settings.resize, device);
        post({ type: 'epoch', epoch: e.epoch, trainLoss: e.trainLoss, trainAcc: e.trainAcc, testAcc: e.testAcc, examplesPerSec: e.examplesPerSec, confusion: e.confusion, samples });
        stepStart = performance.now();
      } else if (e.type === 'end') {
        const r = e.result;
        post({ type: 'done', reason: r.stopReason ?? 'finished', trainLoss: r.trainLoss, trainAcc: r.trainAcc, testAcc: r.testAcc, examplesPerSec: r.examplesPerSec });
      }
    },
  };
  post({ type: 'status', text: `training ${settings.model} on ${trainSet.length} examples` });
  try {
    await torch.fit(net, trainIter, testIter, { epochs: settings.epochs, lr: settings.lr, init: 'xavier', device, pointsPerEpoch: 20, callbacks: [relay] });
  } finally {
    active = null;
  }
}

async function weights(): Promise<void> {
  if (!run) throw new Error('no network has been trained yet: train one first, then download its weights');
  const torch = await torchlet();
  const onHost = new Map(await Promise.all([...run.net.stateDict()].map(async ([k, t]) => [k, await t.toAsync(torch.CPU)] as const)));
  const bytes = torch.io.serialize(onHost, { format: 'pt', model: run.settings.model });
  post({ type: 'weights', model: run.settings.model, bytes }, [bytes.buffer]);
}

async function summaryOf(model: string, resize: number): Promise<void> {
  const torch = await torchlet();
  const spec = torch.getModelSpec(model);
  const inputShape = [1, spec.inputShape[0], resize, resize];
  const { rows, totalParams } = summaryRows(torch, torch.createModel(model), inputShape);
  post({ type: 'summary', model, inputShape, rows, totalParams });
}

const fail = (e: unknown): void => post({ type: 'error', message: e instanceof Error ? e.message : String(e) });

let trainingNow = false;

scope.onmessage = (e: MessageEvent<ToWorker>) => {
  const m = e.data;
  if (m.type === 'summary') summaryOf(m.model, m.resize).catch(fail);
  else if (m.type === 'train') {
    if (trainingNow) return fail(new Error('a run is in progress: stop it (or let it finish) before starting another'));
    trainingNow = true;
    train(m.settings).catch(fail).finally(() => {
      trainingNow = false;
    });
  } else if (m.type === 'pause') {
    if (active) active.paused = true;
  } else if (m.type === 'resume') {
    if (active) {
      active.paused = false;
      active.resume?.();
      active.resume = null;
    }
  } else if (m.type === 'stop') {
    if (!active) {
      if (trainingNow) stopBeforeStart = true;
    } else {
      active.stopAsked = true;
      active.paused = false;
      active.resume?.();
      active.resume = null;
    }
  } else if (m.type === 'weights') weights().catch(fail);
};
