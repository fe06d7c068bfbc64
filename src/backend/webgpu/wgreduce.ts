/**
 * Workgroup-wide reductions for kernels of WG threads, in two tiers with the
 * same WGSL interface, so a kernel is written once:
 *
 *   fn wgSum(v: f32, <ids>) -> f32          (also wgMax, wgMin: NaN propagates,
 *   fn wgSum2(v: vec2<f32>, <ids>) -> vec2<f32>   as in the reference)
 *
 * Every thread of the workgroup must call them (they contain barriers) and
 * every thread gets the result. The entry point declares `params` among its
 * parameters and passes `args` as <ids>; `lid` (local_invocation_index) is
 * always among them.
 *
 * Plain tier: a tree in workgroup memory, log2(WG) barrier steps.
 * Subgroup tier: each subgroup reduces in registers, its lane 0 writes
 * part[subgroup_id], one barrier, then every subgroup combines part[0..nsg) in
 * strides of its size (lavapipe: 32 subgroups of 8). Every subgroup doing the
 * final combine, in the same order, hands all threads the same result with no
 * second barrier and broadcast, and keeps the subgroup operations in uniform
 * control flow. No subgroup size is assumed. The order of additions is fixed
 * for a given device, so results are deterministic run to run.
 *
 * The max/min forms need NAN_HELPERS (common.ts) in the module.
 */
import { WG } from './wgsl.js';

export type WgFn = 'sum' | 'max' | 'min' | 'sum2';

export interface WgReduce {
  /** Module-scope WGSL: workgroup arrays and the functions asked for. */
  readonly decls: string;
  /** Entry-point parameters providing the ids the functions take. */
  readonly params: string;
  /** The ids, as passed to the functions. */
  readonly args: string;
  /** WGSL extensions the module must enable. */
  readonly enables: readonly string[];
}

/** The WGSL function each reduction is named by. */
export const WG_FN: Record<WgFn, string> = { sum: 'wgSum', max: 'wgMax', min: 'wgMin', sum2: 'wgSum2' };
const TYPE: Record<WgFn, string> = { sum: 'f32', max: 'f32', min: 'f32', sum2: 'vec2<f32>' };
const IDENTITY: Record<WgFn, string> = { sum: '0.0', max: '-inff()', min: 'inff()', sum2: 'vec2<f32>(0.0)' };
/** The plain tier's combine of `a` and `b`, as in reduce.ts: a NaN on either side wins. */
const COMBINE: Record<WgFn, (a: string, b: string) => string> = {
  sum: (a, b) => `${a} + ${b}`,
  sum2: (a, b) => `${a} + ${b}`,
  max: (a, b) => `select(${a}, ${b}, ${b} > ${a} || isNan(${b}))`,
  min: (a, b) => `select(${a}, ${b}, ${b} < ${a} || isNan(${b}))`,
};

const SUBGROUP_IDS = {
  params: '@builtin(local_invocation_index) lid: u32, @builtin(subgroup_invocation_id) sgLane: u32, @builtin(subgroup_size) sgSize: u32, @builtin(subgroup_id) sgId: u32, @builtin(num_subgroups) sgCount: u32',
  args: 'lid, sgLane, sgSize, sgId, sgCount',
  sig: 'lid: u32, sgLane: u32, sgSize: u32, sgId: u32, sgCount: u32',
};

/** The subgroup tier's reduction of one value per lane across the subgroup. */
function subgroupOp(fn: WgFn, v: string): string {
  if (fn === 'sum' || fn === 'sum2') return `subgroupAdd(${v})`;
  // subgroupMax/Min leave NaN unspecified: reduce without NaNs and put one back if any lane had it.
  const op = fn === 'max' ? 'subgroupMax' : 'subgroupMin';
  return `select(${op}(select(${v}, ${IDENTITY[fn]}, isNan(${v}))), nanf(), subgroupAny(isNan(${v})))`;
}

function treeFn(fn: WgFn): string {
  const t = TYPE[fn];
  const part = `wgPart_${fn}`;
  return `var<workgroup> ${part}: array<${t}, ${WG}>;
fn ${WG_FN[fn]}(v: ${t}, lid: u32) -> ${t} {
  ${part}[lid] = v;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { ${part}[lid] = ${COMBINE[fn](`${part}[lid]`, `${part}[lid + s]`)}; }
    workgroupBarrier();
  }
  let r = ${part}[0];
  // The array is written again by the next call.
  workgroupBarrier();
  return r;
}`;
}

function subgroupFn(fn: WgFn): string {
  const t = TYPE[fn];
  const part = `wgPart_${fn}`;
  // One slot per subgroup: WG slots suffice whatever the subgroup size.
  return `var<workgroup> ${part}: array<${t}, ${WG}>;
fn ${WG_FN[fn]}(v: ${t}, ${SUBGROUP_IDS.sig}) -> ${t} {
  let mine = ${subgroupOp(fn, 'v')};
  if (sgLane == 0u) { ${part}[sgId] = mine; }
  workgroupBarrier();
  var acc = ${IDENTITY[fn]};
  for (var base = 0u; base < sgCount; base += sgSize) {
    var p = ${IDENTITY[fn]};
    if (base + sgLane < sgCount) { p = ${part}[base + sgLane]; }
    let q = ${subgroupOp(fn, 'p')};
    acc = ${COMBINE[fn]('acc', 'q')};
  }
  // The array is written again by the next call.
  workgroupBarrier();
  return acc;
}`;
}

export function wgReduce(subgroups: boolean, fns: readonly WgFn[]): WgReduce {
  const decls = fns.map((f) => (subgroups ? subgroupFn(f) : treeFn(f))).join('\n');
  return subgroups
    ? { decls, params: SUBGROUP_IDS.params, args: SUBGROUP_IDS.args, enables: ['subgroups'] }
    : { decls, params: '@builtin(local_invocation_index) lid: u32', args: 'lid', enables: [] };
}

/** The kernel-key suffix of a tier, so each tier's text gets its own pipeline. */
export function tierKey(subgroups: boolean): string {
  return subgroups ? '.sg' : '';
}
