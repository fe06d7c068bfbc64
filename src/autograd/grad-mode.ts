/**
 * Switch for graph recording, as torch.is_grad_enabled / torch.no_grad.
 *
 * The mode lives in a box. With an async context store installed (the Node
 * entry installs AsyncLocalStorage), noGrad(fn) runs fn with a box of its
 * own, which follows fn across its awaits and nowhere else: other work that
 * runs while an async fn waits keeps recording. Without a store (browsers),
 * an async fn's synchronous part runs without recording, and the rest as the
 * caller's mode is then.
 */

export interface GradModeBox {
  enabled: boolean;
}

/** The part of AsyncLocalStorage grad mode needs. */
export interface GradModeStore {
  run<R>(box: GradModeBox, fn: () => R): R;
  getStore(): GradModeBox | undefined;
}

const root: GradModeBox = { enabled: true };
let store: GradModeStore | null = null;

export function setGradModeStore(s: GradModeStore | null): void {
  store = s;
}

function current(): GradModeBox {
  return store?.getStore() ?? root;
}

export function isGradEnabled(): boolean {
  return current().enabled;
}

export function setGradEnabled(on: boolean): void {
  current().enabled = on;
}

function withMode<T>(enabled: boolean, fn: () => T): T {
  if (store) return store.run({ enabled }, fn);
  const box = root;
  const prev = box.enabled;
  box.enabled = enabled;
  try {
    return fn();
  } finally {
    box.enabled = prev;
  }
}

/** Run fn without recording a graph (torch.no_grad); an async fn keeps that across its awaits where a store is installed. */
export function noGrad<T>(fn: () => T): T {
  return withMode(false, fn);
}

/** Like noGrad but turns recording on (torch.enable_grad). */
export function enableGrad<T>(fn: () => T): T {
  return withMode(true, fn);
}
