/** Max, average and adaptive-average pooling over NCHW tensors. */
import { kernelsOn } from './dispatch.js';
import type { Pool2dDesc } from '../backend/kernels.js';
import { Tensor, fromOp } from '../tensor.js';
import { shapeStr } from '../shape.js';
import { pair, type Pair } from './conv.js';
import { cat } from './movement.js';
import { asOneOp, recordOp, tracingOn } from './trace.js';

export function poolDesc(kind: 'max' | 'avg', x: Pick<Tensor, 'ndim' | 'shape'>, kernel: Pair, stride: Pair | null, padding: Pair, countIncludePad: boolean): Pool2dDesc {
  const name = kind === 'max' ? 'max_pool2d' : 'avg_pool2d';
  if (x.ndim !== 4) throw new Error(`${name}: expected a 4-D input [N,C,H,W], got shape ${shapeStr(x.shape)}`);
  const [kh, kw] = pair(kernel);
  const [sh, sw] = pair(stride ?? kernel);
  const [ph, pw] = pair(padding);
  if (ph > kh / 2 || pw > kw / 2) throw new Error(`${name}: padding (${ph},${pw}) should be at most half the kernel size (${kh},${kw})`);
  const [n, c, h, w] = x.shape;
  const oh = Math.floor((h + 2 * ph - kh) / sh) + 1;
  const ow = Math.floor((w + 2 * pw - kw) / sw) + 1;
  if (oh < 1 || ow < 1) throw new Error(`${name}: input ${h}x${w} is smaller than the ${kh}x${kw} window (input ${shapeStr(x.shape)})`);
  return { kind, n, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow, countIncludePad };
}

function pool(d: Pool2dDesc, x: Tensor): Tensor {
  const k = kernelsOn(d.kind === 'max' ? 'max_pool2d' : 'avg_pool2d', x);
  const y = k.pool2d(x.storage, d);
  const out = fromOp(y, [d.n, d.c, d.oh, d.ow], [x], d.kind === 'max' ? 'MaxPool2DWithIndices' : 'AvgPool2D', (g) => [
    new Tensor(k.pool2dBackward(x.storage, out.storage, g.storage, d), x.shape),
  ]);
  if (tracingOn()) {
    const attrs = { kernel: [d.kh, d.kw], stride: [d.sh, d.sw], padding: [d.ph, d.pw], countIncludePad: d.countIncludePad };
    recordOp(d.kind === 'max' ? 'max_pool2d' : 'avg_pool2d', [x], out, attrs);
  }
  return out;
}

export function maxPool2d(x: Tensor, kernel: Pair, stride: Pair | null = null, padding: Pair = 0): Tensor {
  return pool(poolDesc('max', x, kernel, stride, padding, true), x);
}

export function avgPool2d(x: Tensor, kernel: Pair, stride: Pair | null = null, padding: Pair = 0, countIncludePad = true): Tensor {
  return pool(poolDesc('avg', x, kernel, stride, padding, countIncludePad), x);
}

/**
 * PyTorch's adaptive windows: cell i spans [floor(i·H/oh), ceil((i+1)·H/oh)).
 * When H divides evenly that is a plain average pool, which is the fast path.
 */
export function adaptiveAvgPool2d(x: Tensor, outputSize: Pair): Tensor {
  if (x.ndim !== 4) throw new Error(`adaptive_avg_pool2d: expected a 4-D input [N,C,H,W], got shape ${shapeStr(x.shape)}`);
  const [oh, ow] = pair(outputSize);
  const [, , h, w] = x.shape;
  // A 1×1 output is a global average, one op of its own in exported graphs.
  if (oh === 1 && ow === 1 && tracingOn()) return asOneOp('global_avg_pool2d', [x], {}, () => adaptiveAvgPool2d(x, outputSize));
  if (h % oh === 0 && w % ow === 0) return avgPool2d(x, [h / oh, w / ow], [h / oh, w / ow], 0);
  const rows: Tensor[] = [];
  for (let i = 0; i < oh; i++) {
    const y0 = Math.floor((i * h) / oh);
    const y1 = Math.ceil(((i + 1) * h) / oh);
    const cells: Tensor[] = [];
    for (let j = 0; j < ow; j++) {
      const x0 = Math.floor((j * w) / ow);
      const x1 = Math.ceil(((j + 1) * w) / ow);
      cells.push(x.slice(2, y0, y1).slice(3, x0, x1).mean([2, 3], true));
    }
    rows.push(cat(cells, 3));
  }
  return cat(rows, 2);
}
