/** AlexNet, adapted by d2l to 1-channel 224×224 Fashion-MNIST and 10 classes. */
import { nn } from './nn.js';

export function alexnet(): nn.Sequential {
  return new nn.Sequential(
    // An 11×11 window with stride 4 to capture objects and shrink the output quickly.
    new nn.Conv2d(1, 96, 11, { stride: 4, padding: 1 }), new nn.ReLU(),
    new nn.MaxPool2d(3, { stride: 2 }),
    new nn.Conv2d(96, 256, 5, { padding: 2 }), new nn.ReLU(),
    new nn.MaxPool2d(3, { stride: 2 }),
    new nn.Conv2d(256, 384, 3, { padding: 1 }), new nn.ReLU(),
    new nn.Conv2d(384, 384, 3, { padding: 1 }), new nn.ReLU(),
    new nn.Conv2d(384, 256, 3, { padding: 1 }), new nn.ReLU(),
    new nn.MaxPool2d(3, { stride: 2 }),
    new nn.Flatten(),
    new nn.Linear(6400, 4096), new nn.ReLU(), new nn.Dropout(0.5),
    new nn.Linear(4096, 4096), new nn.ReLU(), new nn.Dropout(0.5),
    new nn.Linear(4096, 10),
  );
}
