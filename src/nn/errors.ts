/**
 * An error raised by a layer about its input. Containers add where the layer
 * sits, so the message reads
 * `Conv2d(6→16, k=5) at net[3]: expected 6 input channels, got 1 (input [1,1,28,28])`.
 */
export class LayerError extends Error {
  readonly layer: string;
  readonly detail: string;
  /** Path segments from the outermost container, e.g. ['[2]', '.p1_1']. */
  readonly path: string[];

  constructor(layer: string, detail: string, path: string[] = []) {
    super('');
    this.name = 'LayerError';
    this.layer = layer;
    this.detail = detail;
    this.path = path;
    this.message = this.render();
  }

  /** Return a copy located one level further out. */
  within(segment: string): LayerError {
    const e = new LayerError(this.layer, this.detail, [segment, ...this.path]);
    e.stack = this.stack;
    return e;
  }

  private render(): string {
    const where = this.path.length > 0 ? ` at net${this.path.join('')}` : '';
    return `${this.layer}${where}: ${this.detail}`;
  }
}
