/// <reference types="@webgpu/types" preserve="true" />
/**
 * The WebGPU device as the kernels see it: one command encoder that many
 * dispatches go into, submitted once per step (or when a read needs it);
 * pipelines and bind-group layouts cached by shader key; small parameters
 * written into a per-submit uniform arena bound at dynamic offsets; uploads
 * staged through a per-submit arena and copied in command order; and the
 * counts the host-overhead tests assert (submits, readbacks, new buffers).
 *
 * Ordering is the subtle part. `queue.writeBuffer` takes effect on the queue
 * timeline at once, before the commands still being recorded. So nothing is
 * ever written straight into a tensor's buffer: a pooled buffer may still be
 * read by a recorded dispatch. Values go into an arena region that this
 * submit alone uses, and a recorded copy moves them into place.
 */
import { paramsLayout, type Binding, type ParamSpec } from './wgsl.js';

/** Parameters of one dispatch, in the order the kernel's `params` lists them. */
export type ParamValues = readonly number[];

/** A compute kernel: its WGSL, the buffers it binds and the scalars it reads. */
export interface KernelSpec {
  /** Unique per distinct WGSL text (the pipeline cache key). */
  readonly key: string;
  /** Storage bindings in order: their WGSL names and access, 'r' read-only or 'w' read-write. */
  readonly bindings: readonly Binding[];
  readonly params: readonly ParamSpec[];
  /** The WGSL text; `struct Params` and the bindings are declared by the context. */
  readonly body: string;
  /** WGSL extensions the body needs (`enable subgroups;`, `enable f16;`), emitted first. */
  readonly enables?: readonly string[];
}

/** Part of a buffer bound on its own (work split because a whole buffer exceeds the binding limit). */
export interface GpuRange {
  readonly buffer: GPUBuffer;
  /** Bytes; a multiple of the adapter's minStorageBufferOffsetAlignment (256 everywhere). */
  readonly offset: number;
  readonly size: number;
}

export interface GpuCounters {
  submits: number;
  dispatches: number;
  readbacks: number;
  buffersCreated: number;
  pipelines: number;
}

export interface GpuLimits {
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
  maxComputeWorkgroupsPerDimension: number;
  minStorageBufferOffsetAlignment: number;
}

interface Pipeline {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  code: string;
}

const UNIFORM_SLOT = 256;
const UNIFORM_SLOTS = 4096;
const STAGING_START = 16 * 1024 * 1024;

export class GpuContext {
  readonly counters: GpuCounters = { submits: 0, dispatches: 0, readbacks: 0, buffersCreated: 0, pipelines: 0 };
  /** The convolution tuner's timings (ms) and choice per shape and pass. */
  readonly convTuning = new Map<string, { direct: number; gemm: number; chosen: 'direct' | 'gemm' }>();
  readonly limits: GpuLimits;
  private readonly pipelines = new Map<string, Pipeline>();
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private readonly uniforms: GPUBuffer;
  private uniformSlot = 0;
  /** This submit's parameters, written to the GPU in one writeBuffer when it is submitted. */
  private readonly uniformHost = new ArrayBuffer(UNIFORM_SLOT * UNIFORM_SLOTS);
  private readonly uniformViews = { u: new Uint32Array(this.uniformHost), i: new Int32Array(this.uniformHost), f: new Float32Array(this.uniformHost) };
  /**
   * Bind groups by kernel and bound buffers, reused when a dispatch binds the same pooled buffers
   * again (the pool does not promise the same buffer for the same tensor each step).
   */
  private readonly bindGroups = new Map<string, GPUBindGroup>();
  /** Cache keys that name each buffer, to drop them when it is destroyed. */
  private readonly groupsOf = new Map<GPUBuffer, string[]>();
  private readonly bufferIds = new WeakMap<GPUBuffer, number>();
  private nextBufferId = 1;
  private staging: GPUBuffer;
  private stagingSize = STAGING_START;
  private stagingUsed = 0;
  /** Buffers given up while commands that may use them are still being recorded: destroyed after the next submit. */
  private doomed: GPUBuffer[] = [];
  private readonly readbackPool = new Map<number, GPUBuffer[]>();
  private lastError: string | null = null;
  /** Completion of recent submits, oldest first (settle waits on them). */
  private inFlight: Promise<undefined>[] = [];
  /** A tiny buffer bound where a kernel's optional binding is unused. */
  readonly placeholder: GPUBuffer;
  private destroyed = false;
  /** Keys of the kernels dispatched, appended to while a caller (a test, a profiler) sets it to an array. */
  dispatchLog: string[] | null = null;

  /**
   * `features`: the optional device features granted ('shader-f16', 'subgroups');
   * `wgslFeatures`: the WGSL language features of the GPU object (the subgroup
   * tier needs 'subgroup_id' for @builtin(subgroup_id) and num_subgroups).
   */
  constructor(readonly device: GPUDevice, readonly adapterName: string, readonly features: ReadonlySet<string>, readonly wgslFeatures: ReadonlySet<string> = new Set()) {
    const l = device.limits;
    this.limits = {
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
      minStorageBufferOffsetAlignment: l.minStorageBufferOffsetAlignment,
    };
    this.uniforms = device.createBuffer({ size: UNIFORM_SLOT * UNIFORM_SLOTS, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    this.staging = this.newStaging(this.stagingSize);
    this.placeholder = device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE });
    device.addEventListener('uncapturederror', (e) => {
      const err = (e as GPUUncapturedErrorEvent).error;
      this.lastError ??= err.message;
    });
  }

  private newStaging(size: number): GPUBuffer {
    return this.device.createBuffer({ size, usage: GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
  }

  /** A new storage buffer for n float32 values (what the device pool calls on a miss). */
  createBuffer(n: number): GPUBuffer {
    const size = Math.max(4, n * 4);
    if (size > this.limits.maxBufferSize) {
      throw new Error(`webgpu: a tensor of ${n} values (${(size / 2 ** 20).toFixed(0)} MiB) exceeds this adapter's largest buffer (${(this.limits.maxBufferSize / 2 ** 20).toFixed(0)} MiB); use a smaller batch`);
    }
    this.counters.buffersCreated++;
    return this.device.createBuffer({ size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
  }

  private idOf(b: GPUBuffer): number {
    let id = this.bufferIds.get(b);
    if (id === undefined) {
      id = this.nextBufferId++;
      this.bufferIds.set(b, id);
    }
    return id;
  }

  private forgetGroups(b: GPUBuffer): void {
    const keys = this.groupsOf.get(b);
    if (!keys) return;
    this.groupsOf.delete(b);
    for (const k of keys) this.bindGroups.delete(k);
  }

  /** Destroy a buffer once the commands recorded so far are submitted. */
  destroyBuffer(b: GPUBuffer): void {
    this.forgetGroups(b);
    if (this.encoder) this.doomed.push(b);
    else b.destroy();
  }

  private ensureEncoder(): GPUCommandEncoder {
    this.checkAlive();
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    return this.encoder;
  }

  private endPass(): void {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
  }

  private pipelineFor(spec: KernelSpec): Pipeline {
    let p = this.pipelines.get(spec.key);
    if (p) return p;
    const entries: GPUBindGroupLayoutEntry[] = spec.bindings.map(([, a], i) => ({
      binding: i,
      visibility: GPUShaderStage.COMPUTE,
      buffer: { type: a === 'r' ? 'read-only-storage' : 'storage' },
    }));
    entries.push({ binding: spec.bindings.length, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform', hasDynamicOffset: true, minBindingSize: UNIFORM_SLOT } });
    const layout = this.device.createBindGroupLayout({ entries });
    const code = shaderText(spec);
    const module = this.device.createShaderModule({ code });
    const pipeline = this.device.createComputePipeline({
      layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: 'main' },
    });
    p = { pipeline, layout, code };
    this.pipelines.set(spec.key, p);
    this.counters.pipelines++;
    return p;
  }

  /** Record one dispatch of `spec` over `groups` workgroups. */
  dispatch(spec: KernelSpec, buffers: ReadonlyArray<GPUBuffer | GpuRange>, params: ParamValues, groups: readonly [number, number, number]): void {
    if (groups[0] === 0 || groups[1] === 0 || groups[2] === 0) return;
    const max = this.limits.maxComputeWorkgroupsPerDimension;
    if (groups[0] > max || groups[1] > max || groups[2] > max) {
      throw new Error(`webgpu: kernel ${spec.key} needs ${groups.join('×')} workgroups, over this adapter's ${max} per dimension`);
    }
    if (buffers.length !== spec.bindings.length) throw new Error(`webgpu: kernel ${spec.key} binds ${spec.bindings.length} buffers, got ${buffers.length}`);
    for (const b of buffers) {
      if ('offset' in b && b.offset % this.limits.minStorageBufferOffsetAlignment !== 0) throw new Error(`webgpu: kernel ${spec.key} binds at offset ${b.offset}, not a multiple of ${this.limits.minStorageBufferOffsetAlignment}`);
      if (b.size > this.limits.maxStorageBufferBindingSize) {
        throw new Error(`webgpu: kernel ${spec.key} would bind a buffer of ${(b.size / 2 ** 20).toFixed(0)} MiB, over this adapter's storage binding limit of ${(this.limits.maxStorageBufferBindingSize / 2 ** 20).toFixed(0)} MiB; use a smaller batch`);
      }
    }
    const p = this.pipelineFor(spec);
    if (this.uniformSlot >= UNIFORM_SLOTS) this.flush();
    const offset = this.uniformSlot++ * UNIFORM_SLOT;
    writeParams(this.uniformViews, offset / 4, spec.params, params);
    const group = this.bindGroupFor(spec, p, buffers);
    const enc = this.ensureEncoder();
    if (!this.pass) this.pass = enc.beginComputePass();
    this.pass.setPipeline(p.pipeline);
    this.pass.setBindGroup(0, group, [offset]);
    this.pass.dispatchWorkgroups(groups[0], groups[1], groups[2]);
    this.counters.dispatches++;
    this.dispatchLog?.push(spec.key);
  }

  /** The WGSL of a kernel this context has built a pipeline for (tests check which tier's code ran). */
  shaderCode(key: string): string | undefined {
    return this.pipelines.get(key)?.code;
  }

  private bindGroupFor(spec: KernelSpec, p: Pipeline, buffers: ReadonlyArray<GPUBuffer | GpuRange>): GPUBindGroup {
    const whole = buffers.every((b) => !('offset' in b));
    const key = whole ? `${spec.key}|${(buffers as GPUBuffer[]).map((b) => this.idOf(b)).join(',')}` : null;
    const cached = key ? this.bindGroups.get(key) : undefined;
    if (cached) return cached;
    const entries: GPUBindGroupEntry[] = buffers.map((b, i) => ({ binding: i, resource: 'offset' in b ? { buffer: b.buffer, offset: b.offset, size: b.size } : { buffer: b } }));
    entries.push({ binding: buffers.length, resource: { buffer: this.uniforms, size: UNIFORM_SLOT } });
    const group = this.device.createBindGroup({ layout: p.layout, entries });
    if (key) {
      this.bindGroups.set(key, group);
      for (const b of buffers as GPUBuffer[]) {
        const keys = this.groupsOf.get(b);
        if (keys) keys.push(key);
        else this.groupsOf.set(b, [key]);
      }
    }
    return group;
  }

  /** Copy values into dst, in command order (after everything recorded so far). */
  upload(dst: GPUBuffer, values: Float32Array): void {
    const bytes = values.byteLength;
    if (bytes === 0) return;
    const padded = (bytes + 15) & ~15;
    if (this.stagingUsed + padded > this.stagingSize) {
      this.flush();
      if (padded > this.stagingSize) {
        this.staging.destroy();
        while (this.stagingSize < padded) this.stagingSize *= 2;
        this.staging = this.newStaging(this.stagingSize);
      }
    }
    const at = this.stagingUsed;
    this.stagingUsed += padded;
    this.device.queue.writeBuffer(this.staging, at, values.buffer, values.byteOffset, bytes);
    const enc = this.ensureEncoder();
    this.endPass();
    enc.copyBufferToBuffer(this.staging, at, dst, 0, bytes);
  }

  /** Copy a whole buffer's first `bytes` into another, in command order. */
  copy(src: GPUBuffer, dst: GPUBuffer, bytes: number): void {
    if (bytes === 0) return;
    const enc = this.ensureEncoder();
    this.endPass();
    enc.copyBufferToBuffer(src, 0, dst, 0, bytes);
  }

  /** Submit what has been recorded. */
  flush(): void {
    if (!this.encoder) return;
    this.endPass();
    // This submit's parameters go up in one write, queued before the commands that read them.
    if (this.uniformSlot > 0) this.device.queue.writeBuffer(this.uniforms, 0, this.uniformHost, 0, this.uniformSlot * UNIFORM_SLOT);
    this.device.queue.submit([this.encoder.finish()]);
    this.encoder = null;
    this.counters.submits++;
    this.inFlight.push(this.device.queue.onSubmittedWorkDone());
    if (this.inFlight.length > 16) this.inFlight.shift(); // nobody is settling: keep only the recent ones
    this.uniformSlot = 0;
    this.stagingUsed = 0;
    for (const b of this.doomed) b.destroy();
    this.doomed = [];
  }

  /** The first n values of src, once the GPU has computed them. */
  async read(src: GPUBuffer, n: number): Promise<Float32Array> {
    const bytes = n * 4;
    if (bytes === 0) return new Float32Array(0);
    const size = Math.max(16, (bytes + 15) & ~15);
    const pool = this.readbackPool.get(size) ?? [];
    this.readbackPool.set(size, pool);
    const rb = pool.pop() ?? this.device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const enc = this.ensureEncoder();
    this.endPass();
    enc.copyBufferToBuffer(src, 0, rb, 0, bytes);
    this.flush();
    this.counters.readbacks++;
    try {
      await rb.mapAsync(GPUMapMode.READ, 0, size);
    } catch (e) {
      throw new Error(`webgpu: reading back a tensor failed: ${this.lastError ?? (e as Error).message}`);
    }
    const out = new Float32Array(rb.getMappedRange(0, size).slice(0, bytes));
    rb.unmap();
    pool.push(rb);
    this.throwIfFailed();
    return out;
  }

  /** Jobs that time kernels (the convolution tuner), run when the host waits for the GPU anyway. */
  private idleJobs: Array<() => Promise<void>> = [];

  whenIdle(job: () => Promise<void>): void {
    this.idleJobs.push(job);
  }

  private async runIdleJobs(): Promise<void> {
    while (this.idleJobs.length > 0) {
      const jobs = this.idleJobs;
      this.idleJobs = [];
      for (const job of jobs) await job();
    }
  }

  /** Wait until at most `maxInFlight` submits are still running, so the host runs at most that far ahead. */
  async settle(maxInFlight = 2): Promise<void> {
    let waited = false;
    while (this.inFlight.length > maxInFlight) {
      await this.inFlight.shift();
      waited = true;
    }
    if (waited) this.reclaimFinished();
    if (this.idleJobs.length > 0) {
      await this.sync();
      await this.runIdleJobs();
    }
    this.throwIfFailed();
  }

  /** Wait until everything submitted so far has run (and report a failed command). */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    this.inFlight = [];
    this.reclaimFinished();
    if (this.idleJobs.length > 0) await this.runIdleJobs();
    this.throwIfFailed();
  }

  /**
   * Dawn frees what finished submits used when the next compute pass begins: measured at 7–25 ms
   * on lavapipe after a LeNet step, inside whatever step was being recorded then. A throwaway
   * pass right after a wait does it while the host is blocked on the GPU anyway.
   */
  private reclaimFinished(): void {
    if (this.destroyed) return;
    const enc = this.device.createCommandEncoder();
    enc.beginComputePass().end();
    enc.finish();
  }

  private throwIfFailed(): void {
    if (this.lastError !== null) {
      const msg = this.lastError;
      this.lastError = null;
      throw new Error(`webgpu: a GPU command failed: ${msg}`);
    }
  }

  private checkAlive(): void {
    if (this.destroyed) throw new Error('webgpu: the GPU device was released (torch.releaseGpu()); call torch.initGpu() again to use it');
  }

  get alive(): boolean {
    return !this.destroyed;
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.encoder = null;
    this.pass = null;
    this.device.destroy();
  }
}

function writeParams(views: { u: Uint32Array; i: Int32Array; f: Float32Array }, at: number, specs: readonly ParamSpec[], values: ParamValues): void {
  if (values.length !== specs.length) throw new Error(`webgpu: expected ${specs.length} kernel parameters, got ${values.length}`);
  for (let k = 0; k < specs.length; k++) {
    const t = specs[k].type;
    if (t === 'f32') views.f[at + k] = values[k];
    else if (t === 'i32') views.i[at + k] = values[k];
    else views.u[at + k] = values[k] >>> 0;
  }
}

function shaderText(spec: KernelSpec): string {
  const bindings = spec.bindings
    .map(([name, a], i) => `@group(0) @binding(${i}) var<storage, ${a === 'r' ? 'read' : 'read_write'}> ${name}: array<f32>;`)
    .join('\n');
  const enables = (spec.enables ?? []).map((e) => `enable ${e};\n`).join('');
  return `${enables}${paramsLayout(spec.params)}
${bindings}
@group(0) @binding(${spec.bindings.length}) var<uniform> P: Params;
${spec.body}`;
}
