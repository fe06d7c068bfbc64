/** Fashion-MNIST's class names (core: pages label predictions with them too). */
/** d2l's `get_fashion_mnist_labels` text labels, indexed by class. */
export const FASHION_MNIST_LABELS: readonly string[] = Object.freeze([
  't-shirt',
  'trouser',
  'pullover',
  'dress',
  'coat',
  'sandal',
  'shirt',
  'sneaker',
  'bag',
  'ankle boot',
]);

/** d2l `get_fashion_mnist_labels(labels)`: class indices -> text labels. */
export function getFashionMNISTLabels(labels: ArrayLike<number>): string[] {
  return Array.from(labels, (i) => {
    const name = FASHION_MNIST_LABELS[i];
    if (name === undefined) throw new RangeError(`Fashion-MNIST label ${i} out of range 0..9`);
    return name;
  });
}

