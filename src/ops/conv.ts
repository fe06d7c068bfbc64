/** 2-D convolution (torch.nn.functional.conv2d, groups = dilation = 1). */
import { kernelsOn } from './dispatch.js';
import { activationGrad } from './activation-grad.js';
import type { ActivationOp, Conv2dDesc } from '../backend/kernels.js';
import type { AnyKernels } from '../backend/registry.js';
import type { Storage } from '../backend/storage.js';
import { Tensor, fromOp } from '../tensor.js';
import { shapeStr } from '../shape.js';
import { countMacs } from './counter.js';
import { recordOp, tracingOn } from './trace.js';

export type Pair = number | readonly [number, number];

export function pair(v: Pair): [number, number] {
  return typeof v === 'number' ? [v, v] : [v[0], v[1]];
}

export function convOutSize(size: number, k: number, s: number, p: number): number {
  return Math.floor((size + 2 * p - k) / s) + 1;
}

export function conv2dDesc(x: Tensor, w: Tensor, stride: Pair, padding: Pair): Conv2dDesc {
  if (x.ndim !== 4) throw new Error(`conv2d: expected a 4-D input [N,C,H,W], got shape ${shapeStr(x.shape)}`);
  if (w.ndim !== 4) throw new Error(`conv2d: expected a 4-D weight [OC,C,kH,kW], got shape ${shapeStr(w.shape)}`);
  const [n, c, h, wd] = x.shape;
  const [oc, wc, kh, kw] = w.shape;
  if (c !== wc) throw new Error(`conv2d: expected ${wc} input channels, got ${c} (input ${shapeStr(x.shape)}, weight ${shapeStr(w.shape)})`);
  const [sh, sw] = pair(stride);
  const [ph, pw] = pair(padding);
  const oh = convOutSize(h, kh, sh, ph);
  const ow = convOutSize(wd, kw, sw, pw);
  if (oh < 1 || ow < 1) {
    throw new Error(`conv2d: input ${h}x${wd} (padded ${h + 2 * ph}x${wd + 2 * pw}) is smaller than the ${kh}x${kw} kernel (input ${shapeStr(x.shape)})`);
  }
  return { n, c, h, w: wd, oc, kh, kw, sh, sw, ph, pw, oh, ow };
}

/** The gradients of x, w and bias (as far as each needs one) from the gradient g of the convolution's output. */
export function convGrads(k: AnyKernels, x: Tensor, w: Tensor, bias: Tensor | null, d: Conv2dDesc, g: Tensor): Array<Tensor | null> {
  const gx = x.requiresGrad ? new Tensor(k.conv2dBackwardData(g.storage, w.storage, d), x.shape) : null;
  const weights = w.requiresGrad || bias?.requiresGrad ? k.conv2dBackwardWeight(x.storage, g.storage, d, bias !== null) : null;
  return convGradList(gx, w, bias, weights);
}

/** The [x, w(, bias)] gradient list of a convolution node, from gx and a weight-gradient kernel's result (null: none needed). */
export function convGradList(gx: Tensor | null, w: Tensor, bias: Tensor | null, weights: { dw: Storage; db: Storage | null } | null): Array<Tensor | null> {
  const gw = weights ? new Tensor(weights.dw, w.shape) : null;
  const gb = weights?.db && bias ? new Tensor(weights.db, bias.shape) : null;
  return bias ? [gx, gw, gb] : [gx, gw];
}

/**
 * conv2d, optionally followed by an activation computed in the same kernel
 * (oneDNN post-op). The fused gradient first applies the activation's
 * backward from the saved output — valid for relu, sigmoid and tanh, whose
 * derivatives are functions of their output — then the convolution's.
 */
export function conv2d(x: Tensor, w: Tensor, bias: Tensor | null, stride: Pair = 1, padding: Pair = 0, activation?: ActivationOp): Tensor {
  const d = conv2dDesc(x, w, stride, padding);
  countMacs(d.n * d.oc * d.oh * d.ow * d.c * d.kh * d.kw);
  const fd: Conv2dDesc = activation ? { ...d, activation } : d;
  const k = kernelsOn('conv2d', x, w, bias);
  const buf = k.conv2d(x.storage, w.storage, bias ? bias.storage : null, fd);
  const inputs = bias ? [x, w, bias] : [x, w];
  const name = activation ? `Convolution${activation.charAt(0).toUpperCase()}${activation.slice(1)}` : 'Convolution';
  const out: Tensor = fromOp(buf, [d.n, d.oc, d.oh, d.ow], inputs, name, (gOut, spare) => {
    const g = activation ? activationGrad(k, activation, out.storage, out.storage, gOut, spare) : gOut;
    return convGrads(k, x, w, bias, d, g);
  });
  if (tracingOn()) recordOp('conv2d', inputs, out, { stride: [d.sh, d.sw], padding: [d.ph, d.pw], kernel: [d.kh, d.kw], activation: activation ?? null });
  return out;
}
