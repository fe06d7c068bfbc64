/**
 * The runs view: the runs `torchlet train` wrote to the server's runs
 * directory, with the curves of up to two of them side by side. A run still
 * training streams its new points over server-sent events, so its chart
 * grows without a reload.
 */
import { liveChart, type LiveChart } from './live-chart.js';
import type { RunEvent, RunListEntry } from '../serve/run-files.js';
import type { RunHistory } from '../train/series.js';

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const selected: string[] = [];
const open = new Map<string, { source: EventSource; chart: LiveChart; history: RunHistory; panel: HTMLElement }>();

function showError(message: string): void {
  const el = $('error');
  el.textContent = message;
  el.hidden = message === '';
}

function progressText(r: RunListEntry): string {
  const epochs = `${r.epochsDone}/${r.epochs ?? '?'} epochs`;
  return r.state === 'running' ? `training · ${epochs}` : r.state === 'finished' ? `finished · ${epochs}` : `stopped · ${epochs}`;
}

function openRun(id: string): void {
  const panel = document.createElement('section');
  panel.className = 'panel';
  panel.dataset.run = id;
  const title = document.createElement('h2');
  title.textContent = id;
  const body = document.createElement('div');
  body.className = 'chart';
  panel.append(title, body);
  $('compare').append(panel);
  const entry = { source: new EventSource(`/api/runs/${encodeURIComponent(id)}/events`), chart: liveChart(body), history: { model: id, device: '', epochs: 1, points: [] } as RunHistory, panel };
  open.set(id, entry);
  const redraw = (): void => {
    // The points received so far, for tests and anyone inspecting the page.
    panel.dataset.points = String(entry.history.points.length);
    entry.chart.update(entry.history);
  };
  entry.source.addEventListener('snapshot', (e) => {
    const m = JSON.parse((e as MessageEvent<string>).data) as Extract<RunEvent, { type: 'snapshot' }>;
    entry.history = { model: m.model, device: m.device, epochs: m.epochs, points: m.points };
    const small = document.createElement('small');
    small.textContent = ` ${m.model}, ${m.device}, lr ${m.lr ?? '?'}, batch ${m.batchSize ?? '?'}`;
    title.replaceChildren(id, small);
    redraw();
  });
  entry.source.addEventListener('point', (e) => {
    const m = JSON.parse((e as MessageEvent<string>).data) as Extract<RunEvent, { type: 'point' }>;
    entry.history.points.push(m.point);
    redraw();
  });
  entry.source.addEventListener('problem', (e) => showError((JSON.parse((e as MessageEvent<string>).data) as { message: string }).message));
}

function closeRun(id: string): void {
  const r = open.get(id);
  if (!r) return;
  r.source.close();
  r.panel.remove();
  open.delete(id);
}

function toggle(id: string, on: boolean): void {
  const at = selected.indexOf(id);
  if (on && at < 0) {
    selected.push(id);
    openRun(id);
    // Two side by side: a third replaces the oldest choice.
    while (selected.length > 2) closeRun(selected.shift() as string);
  } else if (!on && at >= 0) {
    selected.splice(at, 1);
    closeRun(id);
  }
  for (const box of document.querySelectorAll<HTMLInputElement>('#run-list input')) box.checked = selected.includes(box.value);
}

function drawList(runs: RunListEntry[]): void {
  const body = $('run-list').querySelector('tbody') as HTMLTableSectionElement;
  $('runs-empty').hidden = runs.length > 0;
  body.replaceChildren(...runs.map((r) => {
    const tr = document.createElement('tr');
    tr.dataset.run = r.id;
    const box = Object.assign(document.createElement('input'), { type: 'checkbox', value: r.id, checked: selected.includes(r.id) });
    box.setAttribute('aria-label', `show ${r.id}`);
    box.onchange = () => toggle(r.id, box.checked);
    const cells = [box, r.id, r.model, progressText(r), r.testAcc === null ? '–' : r.testAcc.toFixed(3)];
    cells.forEach((c, i) => {
      const td = document.createElement('td');
      if (typeof c === 'string') td.textContent = c;
      else td.append(c);
      if (i === 4) td.className = 'num';
      tr.append(td);
    });
    return tr;
  }));
}

let firstList = true;
async function refreshList(): Promise<void> {
  try {
    const r = await fetch('/api/runs');
    if (!r.ok) throw new Error(`the server answered ${r.status}: ${await r.text()}`);
    const { dir, runs } = (await r.json()) as { dir: string; runs: RunListEntry[] };
    $('runs-dir').textContent = dir;
    drawList(runs);
    if (firstList) {
      firstList = false;
      // Start with the newest run shown (and a second one from the address: ?run=ID&run=ID).
      const wanted = new URLSearchParams(location.search).getAll('run');
      for (const id of wanted.length ? wanted : runs.slice(0, 1).map((x) => x.id)) if (runs.some((x) => x.id === id)) toggle(id, true);
    }
    showError('');
  } catch (e) {
    showError(`could not list the runs: ${e instanceof Error ? e.message : String(e)}`);
  }
}

void refreshList();
setInterval(() => void refreshList(), 2000);
