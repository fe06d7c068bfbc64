/** Containers: Sequential (iterable and indexable like torch's) and ModuleList. */
import type { Tensor } from '../../tensor.js';
import { Module, callChild, withLocation } from '../module.js';
import { Conv2d } from './conv.js';
import { AvgPool2d, MaxPool2d } from './pool.js';
import { convOutSize } from '../../ops/conv.js';
import { tracingOn } from '../../ops/trace.js';
import { BatchNorm1d, BatchNorm2d, type BatchNormBase } from './batchnorm.js';
import { ReLU, Sigmoid, Tanh } from './activation.js';
import type { ActivationOp } from '../../backend/kernels.js';
import { releaseIntermediates } from '../../memory.js';
import { isGradEnabled } from '../../autograd/grad-mode.js';

/**
 * Whether a convolution's output (from x) can go straight into this pool inside one fused node:
 * an exact AvgPool2d without padding, or an exact MaxPool2d, whose window fits, so the unfused
 * layers would not have raised an error of their own. Traced graphs keep the layers.
 */
function fusablePool(conv: Conv2d, x: Tensor, m: Module | undefined): m is AvgPool2d | MaxPool2d {
  const avg = m?.constructor === AvgPool2d;
  if (!m || (!avg && m.constructor !== MaxPool2d) || tracingOn() || x.ndim !== 4) return false;
  const p = m as AvgPool2d | MaxPool2d;
  const [ph, pw] = p.padding;
  const [kh, kw] = p.kernelSize;
  if (avg ? ph !== 0 || pw !== 0 : ph > kh / 2 || pw > kw / 2) return false;
  const oh = convOutSize(x.shape[2], conv.kernelSize[0], conv.stride[0], conv.padding[0]);
  const ow = convOutSize(x.shape[3], conv.kernelSize[1], conv.stride[1], conv.padding[1]);
  return oh + 2 * ph >= kh && ow + 2 * pw >= kw;
}

/**
 * Whether a training BatchNorm2d's output (x's shape) can go through its activation straight into
 * this pool inside one fused node: an exact AvgPool2d without padding whose window fits, so the
 * unfused layers would not have raised an error of their own. Traced graphs keep the layers.
 */
function fusableBatchNormPool(bn: BatchNormBase, x: Tensor, m: Module | undefined): m is AvgPool2d {
  if (!m || m.constructor !== AvgPool2d || !bn.training || tracingOn() || x.ndim !== 4) return false;
  const p = m as AvgPool2d;
  const [kh, kw] = p.kernelSize;
  return p.padding[0] === 0 && p.padding[1] === 0 && x.shape[2] >= kh && x.shape[3] >= kw;
}

/** The activation a layer applies, when it is exactly one of the fusable ones. */
function fusableActivation(m: Module | undefined): ActivationOp | undefined {
  if (!m) return undefined;
  const c = m.constructor;
  return c === ReLU ? 'relu' : c === Sigmoid ? 'sigmoid' : c === Tanh ? 'tanh' : undefined;
}

export class Sequential extends Module {
  /**
   * Fuse Conv2d or BatchNorm + ReLU/Sigmoid/Tanh pairs into one kernel in forward(), and a
   * Conv2d + activation + AvgPool2d or MaxPool2d triple, or a training BatchNorm2d + activation +
   * AvgPool2d triple, into one autograd node. Results
   * match the unfused layers within float rounding; tests that trace individual
   * activation calls turn it off.
   */
  static fuseActivations = true;

  /** Children are stored under "0", "1", … exactly as torch names them in state_dict keys. */
  [index: number]: Module;

  constructor(...layers: Module[]) {
    super();
    layers.forEach((layer, i) => this.append(layer, i));
  }

  private append(layer: Module, i: number): void {
    if (!(layer instanceof Module)) throw new Error(`Sequential: argument ${i} is not a Module`);
    (this as unknown as Record<string, Module>)[String(i)] = layer;
  }

  get length(): number {
    return this.children().length;
  }

  /** net.at(-1) for the last layer, like Python's net[-1]. */
  at(i: number): Module {
    const list = this.children();
    const m = list[i < 0 ? i + list.length : i];
    if (!m) throw new Error(`Sequential: index ${i} is out of range for ${list.length} layers`);
    return m;
  }

  push(layer: Module): this {
    this.append(layer, this.length);
    return this;
  }

  [Symbol.iterator](): Iterator<Module> {
    return this.children()[Symbol.iterator]();
  }

  /**
   * Runs the layers in order. A Conv2d or BatchNorm directly followed by ReLU,
   * Sigmoid or Tanh runs as one fused kernel: same values and gradients, one pass over
   * memory fewer; a Conv2d, activation and pool (LeNet's AvgPool2d, AlexNet's MaxPool2d) also
   * share one backward pass.
   * Iterating the layers yourself (`for (const l of net)`) sees
   * every layer separately, as in PyTorch.
   */
  forward(x: Tensor): Tensor {
    return this.forwardThenPool(x).out;
  }

  /**
   * forward(x), and with `pool`, that pool after it, fused with this Sequential's last Conv2d and
   * activation where they can be (NiN's blocks end in Conv2d, ReLU and the network's next layer is
   * a MaxPool2d). `pooled` says whether the pool ran; if not, the caller runs it.
   */
  private forwardThenPool(x: Tensor, pool?: Module): { out: Tensor; pooled: boolean } {
    let pooled = false;
    // The layers' outputs and what they made inside are this call's alone (only the last output
    // is returned), so they go as soon as nothing needs them: at once under noGrad, else when
    // backward() has passed them. Memory then does not wait for the garbage collector.
    const out = releaseIntermediates(() => this.runLayers(x, pool, () => (pooled = true)), isGradEnabled());
    return { out, pooled };
  }

  private runLayers(x: Tensor, trailingPool?: Module, tookPool?: () => void): Tensor {
    let out = x;
    const layers = this.children();
    for (let i = 0; i < layers.length; i++) {
      const layer = layers[i];
      // Exact classes only: a subclass may override forward().
      const fusable = layer.constructor === Conv2d || layer.constructor === BatchNorm1d || layer.constructor === BatchNorm2d;
      const act = Sequential.fuseActivations && fusable ? fusableActivation(layers[i + 1]) : undefined;
      const pool = act && layer.constructor === Conv2d ? (i + 2 < layers.length ? layers[i + 2] : i + 2 === layers.length ? trailingPool : undefined) : undefined;
      const next = layers[i + 1];
      if (act && fusablePool(layer as Conv2d, out, pool)) {
        const input = out;
        const spec = { kind: pool instanceof MaxPool2d ? 'max' as const : 'avg' as const, kernel: pool.kernelSize, stride: pool.stride, padding: pool.padding };
        out = withLocation(layer, `[${i}]`, () => (layer as Conv2d).forwardWithActivationAndPool(input, act, spec));
        if (i + 2 === layers.length) tookPool?.();
        i += 2;
      } else if (act && layer.constructor === BatchNorm2d && fusableBatchNormPool(layer as BatchNorm2d, out, layers[i + 2])) {
        const input = out;
        const pool = layers[i + 2] as AvgPool2d;
        const spec = { kernel: pool.kernelSize, stride: pool.stride, padding: pool.padding };
        out = withLocation(layer, `[${i}]`, () => (layer as BatchNorm2d).forwardWithActivationAndPool(input, act, spec));
        i += 2;
      } else if (Sequential.fuseActivations && layer.constructor === Sequential && (next?.constructor === MaxPool2d || next?.constructor === AvgPool2d)) {
        const input = out;
        const r = withLocation(layer, `[${i}]`, () => (layer as Sequential).forwardThenPool(input, next));
        out = r.out;
        if (r.pooled) i++;
      } else if (act) {
        const input = out;
        out = withLocation(layer, `[${i}]`, () => (layer as Conv2d | BatchNormBase).forwardWithActivation(input, act));
        i++;
      } else out = callChild(layer, `[${i}]`, out);
    }
    return out;
  }
}

export class ModuleList extends Module {
  [index: number]: Module;

  constructor(modules: Module[] = []) {
    super();
    modules.forEach((m, i) => ((this as unknown as Record<string, Module>)[String(i)] = m));
  }

  get length(): number {
    return this.children().length;
  }

  [Symbol.iterator](): Iterator<Module> {
    return this.children()[Symbol.iterator]();
  }

  forward(): Tensor {
    throw new Error('ModuleList has no forward(); iterate over it and call each module');
  }
}
