/**
 * Print tensors the way PyTorch does (torch/_tensor_str.py, default print
 * options): `tensor([[0.1000, 2.0000], ...])`, integer-valued floats as `1.`,
 * scientific notation when magnitudes span too far, rows wrapped at 80
 * columns, and summarisation with `...` above 1000 elements. The formatter
 * (fixed/integer/scientific mode and column width) is chosen from the nonzero
 * finite values of the printed (summarised) elements only, as torch does, and
 * numbers round half-to-even like Python's format().
 */
import type { Tensor } from './tensor.js';

const EDGE = 3;
const THRESHOLD = 1000;
const LINEWIDTH = 80;
const PRECISION = 4;

// ---------- Python-compatible number formatting ----------

/** Round a digit string to `keep` digits, half to even; carry is true when it grew a digit (e.g. 999 → 1000). */
function roundDigits(digits: string, keep: number): { digits: string; carry: boolean } {
  if (keep >= digits.length) return { digits: digits.padEnd(keep, '0'), carry: false };
  const head = digits.slice(0, keep);
  const next = digits.charCodeAt(keep) - 48;
  const restNonZero = /[1-9]/.test(digits.slice(keep + 1));
  const lastOdd = keep > 0 && (head.charCodeAt(keep - 1) - 48) % 2 === 1;
  const up = next > 5 || (next === 5 && (restNonZero || lastOdd));
  if (!up) return { digits: head, carry: false };
  const d = head.split('').map(Number);
  let i = d.length - 1;
  while (i >= 0 && d[i] === 9) d[i--] = 0;
  if (i < 0) return { digits: '1' + d.join(''), carry: true };
  d[i]++;
  return { digits: d.join(''), carry: false };
}

/** Exact decimal digits and exponent of a positive finite double: v = d0.d1d2… × 10^exp. */
function decimalParts(v: number): { digits: string; exp: number } {
  const s = v.toExponential(99);
  const e = s.indexOf('e');
  return { digits: s.slice(0, e).replace('.', ''), exp: Number(s.slice(e + 1)) };
}

/** Python's '{:.Nf}'.format(v) for finite v. */
function formatFixed(v: number, decimals: number): string {
  const sign = v < 0 || Object.is(v, -0) ? '-' : '';
  const a = Math.abs(v);
  let digits = '';
  if (a !== 0) {
    const p = decimalParts(a);
    const keep = p.exp + 1 + decimals;
    if (keep >= 0) digits = roundDigits(p.digits, keep).digits;
  }
  const padded = digits.padStart(decimals + 1, '0');
  const int = padded.slice(0, padded.length - decimals);
  return sign + int + (decimals > 0 ? '.' + padded.slice(padded.length - decimals) : '');
}

/** Python's '{:.Ne}'.format(v) for finite v. */
function formatSci(v: number, decimals: number): string {
  const sign = v < 0 || Object.is(v, -0) ? '-' : '';
  const a = Math.abs(v);
  let mant = '0'.repeat(decimals + 1);
  let exp = 0;
  if (a !== 0) {
    const p = decimalParts(a);
    const r = roundDigits(p.digits, decimals + 1);
    exp = p.exp + (r.carry ? 1 : 0);
    mant = r.digits.slice(0, decimals + 1);
  }
  const e = `${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  return `${sign}${mant[0]}${decimals > 0 ? '.' + mant.slice(1) : ''}e${e}`;
}

function special(v: number): string | null {
  return Number.isNaN(v) ? 'nan' : v === Infinity ? 'inf' : v === -Infinity ? '-inf' : null;
}

// ---------- torch's _Formatter ----------

interface Formatter {
  width: number;
  format(v: number): string;
}

function makeFormatter(values: ArrayLike<number>, isInt: boolean): Formatter {
  let width = 1;
  if (isInt) {
    for (let i = 0; i < values.length; i++) width = Math.max(width, String(values[i]).length);
    return { width, format: (v) => String(v).padStart(width) };
  }
  const nz: number[] = [];
  for (let i = 0; i < values.length; i++) if (Number.isFinite(values[i]) && values[i] !== 0) nz.push(values[i]);
  let intMode = true;
  let sciMode = false;
  if (nz.length > 0) {
    let min = Infinity;
    let max = 0;
    for (const v of nz) {
      const a = Math.abs(v);
      if (a < min) min = a;
      if (a > max) max = a;
      if (v !== Math.ceil(v)) intMode = false;
    }
    if (intMode) {
      sciMode = max / min > 1000 || max > 1e8;
      for (const v of nz) width = Math.max(width, sciMode ? formatSci(v, PRECISION).length : formatFixed(v, 0).length + 1);
    } else {
      sciMode = max / min > 1000 || max > 1e8 || min < 1e-4;
      for (const v of nz) width = Math.max(width, (sciMode ? formatSci(v, PRECISION) : formatFixed(v, PRECISION)).length);
    }
  }
  const w = width;
  return {
    width: w,
    format: (v) => {
      let s: string;
      const sp = special(v);
      if (sciMode) s = sp ?? formatSci(v, PRECISION);
      else if (intMode) s = sp ?? `${formatFixed(v, 0)}.`;
      else s = sp ?? formatFixed(v, PRECISION);
      return s.padStart(w);
    },
  };
}

// ---------- layout ----------

/** A view of the printed elements: shape plus an accessor by flat row-major index. */
interface View {
  shape: readonly number[];
  get(offset: number): number;
}

function stridesOf(shape: readonly number[]): number[] {
  return shape.map((_, i) => shape.slice(i + 1).reduce((p, d) => p * d, 1));
}

/** The elements torch's get_summarized_data keeps (the first and last EDGE along each long dim). */
function summarisedValues(data: Float32Array, shape: readonly number[], summarise: boolean): number[] {
  if (!summarise) return Array.from(data);
  const strides = stridesOf(shape);
  const out: number[] = [];
  const walk = (dim: number, offset: number): void => {
    if (dim === shape.length) {
      out.push(data[offset]);
      return;
    }
    for (const i of edgeIndices(shape[dim], true)) if (i >= 0) walk(dim + 1, offset + i * strides[dim]);
  };
  walk(0, 0);
  return out;
}

function edgeIndices(n: number, summarise: boolean): number[] {
  if (summarise && n > 2 * EDGE) return [...Array(EDGE).keys(), -1, ...Array.from({ length: EDGE }, (_, i) => n - EDGE + i)];
  return [...Array(n).keys()];
}

function render(view: View, fmt: Formatter, summarise: boolean, indent: number): string {
  const { shape } = view;
  const strides = stridesOf(shape);
  const vector = (offset: number, ind: number): string => {
    const n = shape[shape.length - 1];
    const items = edgeIndices(n, summarise).map((i) => (i < 0 ? ' ...' : fmt.format(view.get(offset + i))));
    const perLine = Math.max(1, Math.floor((LINEWIDTH - ind) / (fmt.width + 2)));
    const lines: string[] = [];
    for (let i = 0; i < items.length; i += perLine) lines.push(items.slice(i, i + perLine).join(', '));
    return `[${lines.join(',\n' + ' '.repeat(ind + 1))}]`;
  };
  const rec = (dim: number, offset: number, ind: number): string => {
    if (dim === shape.length - 1) return vector(offset, ind);
    const slices = edgeIndices(shape[dim], summarise).map((i) => (i < 0 ? '...' : rec(dim + 1, offset + i * strides[dim], ind + 1)));
    const rank = shape.length - dim;
    return `[${slices.join(',' + '\n'.repeat(rank - 1) + ' '.repeat(ind + 1))}]`;
  };
  return rec(0, 0, indent);
}

/** torch's _add_suffixes: `, suffix` on the last line, or on a new line past 80 columns. */
function addSuffixes(body: string, suffixes: string[], indent: number): string {
  const parts = [body];
  let lastLineLen = body.length - body.lastIndexOf('\n') + 1;
  for (const s of suffixes) {
    if (lastLineLen + s.length + 2 > LINEWIDTH) {
      parts.push(',\n' + ' '.repeat(indent) + s);
      lastLineLen = indent + s.length;
    } else {
      parts.push(', ' + s);
      lastLineLen += s.length + 2;
    }
  }
  parts.push(')');
  return parts.join('');
}

export function formatTensor(t: Tensor): string {
  if (t.isDisposed) return `tensor(<disposed>, size=(${t.shape.join(', ')}))`;
  if (!t.storage.backend.readSync) {
    // A GPU tensor cannot be read without waiting; say where it is rather than block.
    return `tensor(<${t.numel()} values on ${t.device}; await t.data() to read>, size=(${t.shape.join(', ')}), device='${t.device}')`;
  }
  const data = t.hostView('printing');
  const shape = t.shape;
  const isInt = t.dtype === 'int32';
  const prefix = 'tensor(';
  const indent = prefix.length;
  const suffixes: string[] = [];
  let body: string;
  if (data.length === 0) {
    if (shape.length !== 1) suffixes.push(`size=(${shape.join(', ')}${shape.length === 1 ? ',' : ''})`);
    body = '[]';
  } else {
    const summarise = data.length > THRESHOLD;
    const fmt = makeFormatter(summarisedValues(data, shape, summarise), isInt);
    body = shape.length === 0 ? fmt.format(data[0]).trimStart() : render({ shape, get: (o) => data[o] }, fmt, summarise, indent);
  }
  if (isInt) suffixes.push('dtype=torchlet.int32');
  if (t.gradFn) suffixes.push(`grad_fn=<${t.gradFn.name}Backward0>`);
  else if (t.requiresGrad) suffixes.push('requires_grad=True');
  return addSuffixes(prefix + body, suffixes, indent);
}
