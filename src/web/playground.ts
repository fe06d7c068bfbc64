/**
 * The playground page: pick a network from the zoo, see its layers, train it
 * on Fashion-MNIST in a Web Worker (train-worker.ts) and watch d2l's curves,
 * the confusion matrix and predictions arrive. The page only draws; torchlet
 * runs in the worker.
 */
import { liveChart } from './live-chart.js';
import type { FromWorker, SamplePrediction, ToWorker, TrainSettings } from './protocol.js';
import type { RunHistory, TrainPoint } from '../train/series.js';

type Torch = typeof import('../browser.js');

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`playground: the page has no #${id}`);
  return el as T;
};
const num = (id: string): number => Number($<HTMLInputElement>(id).value);
const fixed = (x: number, d = 3): string => (Number.isFinite(x) ? x.toFixed(d) : '–');

/** What tests (and the curious, from the console) can read of the page's state. */
interface PlaygroundState {
  state: 'idle' | 'loading' | 'training' | 'paused' | 'done' | 'error';
  backend: string | null;
  points: TrainPoint[];
  /** The loss of the batches before each curve point, in order. */
  batchLosses: number[];
  epochs: { epoch: number; testAcc: number; examplesPerSec: number }[];
  error: string | null;
  done: string | null;
}
const state: PlaygroundState = { state: 'idle', backend: null, points: [], batchLosses: [], epochs: [], error: null, done: null };
(window as unknown as { torchletPlayground: PlaygroundState }).torchletPlayground = state;

const worker = new Worker('/train-worker.js', { type: 'module', name: 'torchlet-train' });
const send = (m: ToWorker): void => worker.postMessage(m);
const chart = liveChart($('chart'));
let history: RunHistory = { model: 'lenet', device: '', epochs: 1, points: [] };

function setState(s: PlaygroundState['state'], text?: string): void {
  state.state = s;
  if (text !== undefined) $('status').textContent = text;
  const running = s === 'training' || s === 'paused' || s === 'loading';
  $<HTMLButtonElement>('train').disabled = running;
  $<HTMLButtonElement>('pause').disabled = !(s === 'training' || s === 'paused');
  $<HTMLButtonElement>('pause').textContent = s === 'paused' ? 'Resume' : 'Pause';
  $<HTMLButtonElement>('stop').disabled = !running;
  $<HTMLButtonElement>('download').disabled = !(s === 'done' || s === 'paused');
}

function showError(message: string): void {
  state.error = message;
  const el = $('error');
  el.textContent = message;
  el.hidden = false;
  setState('error', 'stopped by an error');
}

function drawSummary(m: Extract<FromWorker, { type: 'summary' }>): void {
  const body = $('summary').querySelector('tbody') as HTMLTableSectionElement;
  body.replaceChildren(...m.rows.map((r) => {
    const tr = document.createElement('tr');
    for (const [text, cls] of [[r.name, `depth-${r.depth}`], [`[${r.outputShape.join(', ')}]`, ''], [r.params.toLocaleString('en-US'), 'num']]) {
      const td = document.createElement('td');
      td.textContent = text;
      if (cls) td.className = cls;
      tr.append(td);
    }
    return tr;
  }));
  $('input-shape').textContent = `input [${m.inputShape.join(', ')}]`;
  $('total-params').textContent = `${m.totalParams.toLocaleString('en-US')} parameters`;
}

function drawConfusion(matrix: number[][], labels: readonly string[]): void {
  const table = $('confusion');
  const max = Math.max(1, ...matrix.flat());
  const head = document.createElement('tr');
  head.append(document.createElement('th'), ...labels.map((l, j) => Object.assign(document.createElement('th'), { textContent: String(j), title: l })));
  const rows = matrix.map((row, i) => {
    const tr = document.createElement('tr');
    tr.append(Object.assign(document.createElement('th'), { scope: 'row', textContent: labels[i] }));
    row.forEach((v, j) => {
      const td = document.createElement('td');
      td.textContent = String(v);
      const a = v / max;
      td.style.background = i === j ? `rgba(31,119,180,${a.toFixed(3)})` : `rgba(179,38,30,${(a * 1.5).toFixed(3)})`;
      if (a > 0.55) td.style.color = '#fff';
      td.title = `${labels[i]} predicted as ${labels[j]}: ${v}`;
      tr.append(td);
    });
    return tr;
  });
  table.replaceChildren(head, ...rows);
}

function drawSamples(samples: SamplePrediction[]): void {
  $('samples').replaceChildren(...samples.map((s) => {
    const fig = document.createElement('figure');
    const canvas = document.createElement('canvas');
    canvas.width = 28;
    canvas.height = 28;
    const ctx = canvas.getContext('2d') as CanvasRenderingContext2D;
    const img = ctx.createImageData(28, 28);
    s.pixels.forEach((v, i) => img.data.set([v, v, v, 255], i * 4));
    ctx.putImageData(img, 0, 0);
    const cap = document.createElement('figcaption');
    cap.className = s.predicted === s.label ? 'right' : 'wrong';
    cap.textContent = s.predicted === s.label ? s.label : `${s.predicted} (is ${s.label})`;
    fig.append(canvas, cap);
    return fig;
  }));
}

worker.onmessage = (e: MessageEvent<FromWorker>) => {
  const m = e.data;
  switch (m.type) {
    case 'summary': return drawSummary(m);
    case 'backend':
      state.backend = m.label;
      $('backend').textContent = `backend: ${m.label}`;
      return;
    case 'status': return void ($('status').textContent = m.text);
    case 'start':
      // The chart draws the page state's own points array, so each point is kept once.
      history = { model: m.settings.model, device: state.backend ?? m.settings.device, epochs: m.settings.epochs, points: state.points };
      chart.update(history);
      return setState('training', `training: ${m.numBatches} batches per epoch`);
    case 'batch':
      $('stat-epoch').textContent = `${m.epoch + 1} · ${m.batch + 1}/${m.numBatches}`;
      $('stat-speed').textContent = Number.isFinite(m.examplesPerSec) ? Math.round(m.examplesPerSec).toLocaleString('en-US') : '–';
      return;
    case 'point':
      state.points.push(m.point);
      if (m.batchLoss !== null) state.batchLosses.push(m.batchLoss);
      if (m.point.trainLoss !== undefined) $('stat-loss').textContent = fixed(m.point.trainLoss);
      if (m.point.trainAcc !== undefined) $('stat-train-acc').textContent = fixed(m.point.trainAcc);
      if (m.point.testAcc !== undefined) $('stat-test-acc').textContent = fixed(m.point.testAcc);
      chart.update(history);
      return;
    case 'epoch':
      state.epochs.push({ epoch: m.epoch + 1, testAcc: m.testAcc, examplesPerSec: m.examplesPerSec });
      $('stat-speed').textContent = Math.round(m.examplesPerSec).toLocaleString('en-US');
      drawConfusion(m.confusion, labels);
      drawSamples(m.samples);
      return;
    case 'paused': return setState(m.paused ? 'paused' : 'training', m.paused ? 'paused: Resume to go on' : 'training');
    case 'done':
      state.done = m.reason;
      return setState('done', `${m.reason}: loss ${fixed(m.trainLoss)}, train acc ${fixed(m.trainAcc)}, test acc ${fixed(m.testAcc)}, ${fixed(m.examplesPerSec, 1)} examples/sec`);
    case 'weights': {
      const url = URL.createObjectURL(new Blob([m.bytes as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }));
      const a = Object.assign(document.createElement('a'), { href: url, download: `${m.model}.safetensors` });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      return;
    }
    case 'error': return showError(m.message);
  }
};
worker.onerror = (e) => showError(`the training worker failed: ${e.message}`);

let labels: readonly string[] = [];

function settings(): TrainSettings {
  return {
    model: $<HTMLSelectElement>('model').value,
    epochs: num('epochs'), lr: num('lr'), batchSize: num('batch-size'), resize: num('resize'),
    device: $<HTMLSelectElement>('device').value === 'reference' ? 'reference' : 'gpu',
    trainExamples: num('train-examples'), testExamples: num('test-examples'), seed: num('seed'),
  };
}

/** The settings' problems, said as the field and what it needs (the worker would fail later, less clearly). */
function invalid(s: TrainSettings): string | null {
  const checks: [string, number, boolean][] = [
    ['epochs', s.epochs, Number.isInteger(s.epochs) && s.epochs >= 1],
    ['lr', s.lr, Number.isFinite(s.lr) && s.lr > 0],
    ['batch size', s.batchSize, Number.isInteger(s.batchSize) && s.batchSize >= 1],
    ['resize', s.resize, Number.isInteger(s.resize) && s.resize >= 8 && s.resize <= 512],
    ['train examples', s.trainExamples, Number.isInteger(s.trainExamples) && s.trainExamples >= 1 && s.trainExamples <= 60000],
    ['test examples', s.testExamples, Number.isInteger(s.testExamples) && s.testExamples >= 1 && s.testExamples <= 10000],
    ['seed', s.seed, Number.isInteger(s.seed) && s.seed >= 0],
  ];
  const bad = checks.find(([, , ok]) => !ok);
  return bad ? `${bad[0]}: '${bad[1]}' is not allowed (epochs, batch size and seed are whole numbers; resize 8–512; examples up to the split's size)` : null;
}

async function start(): Promise<void> {
  const torch = (await import(`${location.origin}/torchlet.js`)) as Torch;
  labels = torch.data.FASHION_MNIST_LABELS;
  const select = $<HTMLSelectElement>('model');
  select.replaceChildren(...torch.listModels().map((m) => Object.assign(document.createElement('option'), { value: m.name, textContent: m.name })));
  const params = new URLSearchParams(location.search);
  const choose = (name: string): void => {
    const spec = torch.getModelSpec(name);
    $('model-description').textContent = spec.description;
    $<HTMLInputElement>('lr').value = String(spec.train.lr);
    $<HTMLInputElement>('batch-size').value = String(spec.train.batchSize);
    $<HTMLInputElement>('resize').value = String(spec.train.resize ?? spec.inputShape[1]);
    send({ type: 'summary', model: name, resize: num('resize') });
  };
  select.value = params.get('model') ?? 'lenet';
  choose(select.value);
  select.onchange = () => choose(select.value);
  $<HTMLInputElement>('resize').onchange = () => send({ type: 'summary', model: select.value, resize: num('resize') });
  $('train').onclick = () => {
    const s = settings();
    const why = invalid(s);
    if (why) return showError(why);
    $('error').hidden = true;
    Object.assign(state, { points: [], batchLosses: [], epochs: [], error: null, done: null });
    setState('loading', 'starting…');
    send({ type: 'train', settings: s });
  };
  $('pause').onclick = () => send({ type: state.state === 'paused' ? 'resume' : 'pause' });
  $('stop').onclick = () => send({ type: 'stop' });
  $('download').onclick = () => send({ type: 'weights' });
  $('backend').textContent = `backend: ${'gpu' in navigator ? 'webgpu available' : 'reference (no WebGPU here)'}`;
  if (!('gpu' in navigator)) $<HTMLSelectElement>('device').value = 'reference';
  setState('idle', 'ready');
}

start().catch((e: unknown) => showError(e instanceof Error ? e.message : String(e)));
