/**
 * Shared by the examples: the seed trains for 10 epochs; EPOCHS=1 (or
 * SHAPES_ONLY=1 to skip training) keeps a try-out short.
 */
export function epochsOr(seedEpochs: number): number {
  const e = process.env.EPOCHS;
  return e ? Number.parseInt(e, 10) : seedEpochs;
}

export const shapesOnly = process.env.SHAPES_ONLY === '1';
