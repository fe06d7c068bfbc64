/**
 * Print tensors the way PyTorch does: `tensor([[0.1000, 2.0000], ...])`,
 * integers-valued floats as `1.`, scientific notation when magnitudes span
 * too far, and summarisation with `...` above 1000 elements.
 */
import type { Tensor } from './tensor.js';

const EDGE = 3;
const THRESHOLD = 1000;

function chooseFormatter(values: Float32Array, isInt: boolean): (v: number) => string {
  const finite = Array.from(values).filter((v) => Number.isFinite(v));
  if (isInt) return (v) => String(v);
  const allInts = finite.every((v) => Number.isInteger(v));
  const abs = finite.map(Math.abs).filter((v) => v > 0);
  const maxAbs = abs.length ? Math.max(...abs) : 0;
  const minAbs = abs.length ? Math.min(...abs) : 0;
  const special = (v: number): string | null => (Number.isNaN(v) ? 'nan' : v === Infinity ? 'inf' : v === -Infinity ? '-inf' : null);
  if (allInts && maxAbs < 1e8) return (v) => special(v) ?? `${v.toFixed(0)}.`;
  if (maxAbs >= 1e8 || (minAbs > 0 && (minAbs < 1e-4 || maxAbs / minAbs > 1000))) {
    return (v) => special(v) ?? v.toExponential(4).replace(/e([+-])(\d)$/, 'e$10$2');
  }
  return (v) => special(v) ?? v.toFixed(4);
}

export function formatTensor(t: Tensor): string {
  const data = t.storage;
  const shape = t.shape;
  const summarise = data.length > THRESHOLD;
  const fmt = chooseFormatter(data, t.dtype === 'int32');
  const width = Math.max(1, ...Array.from(data.length > 5000 ? data.subarray(0, 5000) : data, (v) => fmt(v).length));
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((p, d) => p * d, 1));
  const indent = 'tensor('.length;

  const render = (dim: number, offset: number): string => {
    if (dim === shape.length) return fmt(data[offset]).padStart(width);
    const n = shape[dim];
    const idx = summarise && n > 2 * EDGE ? [...Array(EDGE).keys(), -1, ...Array.from({ length: EDGE }, (_, i) => n - EDGE + i)] : [...Array(n).keys()];
    const parts = idx.map((i) => (i < 0 ? '...' : render(dim + 1, offset + i * strides[dim])));
    if (dim === shape.length - 1) return `[${parts.join(', ')}]`;
    const sep = ',' + '\n'.repeat(shape.length - dim - 1) + ' '.repeat(indent + dim + 1);
    return `[${parts.join(sep)}]`;
  };

  const body = shape.length === 0 ? fmt(data[0]) : render(0, 0);
  const extras: string[] = [];
  if (t.dtype === 'int32') extras.push('dtype=torchlet.int32');
  if (t.gradFn) extras.push(`grad_fn=<${t.gradFn.name}Backward0>`);
  else if (t.requiresGrad) extras.push('requires_grad=True');
  return `tensor(${body}${extras.map((e) => ', ' + e).join('')})`;
}
