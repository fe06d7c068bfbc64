/**
 * Let the event loop run one turn (timers, signals, rendering): setImmediate
 * in Node, a MessageChannel message in browsers and workers (setTimeout(0)
 * would be clamped to 4 ms there, and is 1 ms in Node).
 */
let channel: MessageChannel | null = null;
const waiting: Array<() => void> = [];

export function yieldToEventLoop(): Promise<void> {
  const immediate = (globalThis as { setImmediate?: (cb: () => void) => unknown }).setImmediate;
  if (immediate) return new Promise((resolve) => void immediate(resolve));
  if (typeof MessageChannel === 'undefined') return new Promise((resolve) => setTimeout(resolve, 0));
  if (!channel) {
    channel = new MessageChannel();
    channel.port1.onmessage = () => waiting.shift()?.();
  }
  return new Promise((resolve) => {
    waiting.push(resolve);
    channel?.port2.postMessage(0);
  });
}
