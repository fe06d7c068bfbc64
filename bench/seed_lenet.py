"""The seed's LeNet section, run as written, with d2l's helpers inlined (d2l is not packaged in Debian).

d2l.load_data_fashion_mnist is torchvision's FashionMNIST + ToTensor + DataLoader(num_workers=4);
the Animator is left out (it only costs PyTorch time). Used by bench/wall.sh to compare wall time
of `torchlet train lenet` with this script on the same machine:
    /usr/bin/python3 bench/seed_lenet.py [--threads N]
"""
import argparse
import gzip
import os
import shutil
import sys
import tempfile
import time

import torch
import torchvision
from torch import nn
from torch.utils import data
from torchvision import transforms

p = argparse.ArgumentParser()
p.add_argument('--threads', type=int, default=os.cpu_count())
p.add_argument('--epochs', type=int, default=10)
p.add_argument('--data', default='/usr/share/datasets/fashion-mnist')
p.add_argument('--save', help='write the trained state_dict as safetensors (for `torchlet eval --weights`)')
args = p.parse_args()
torch.set_num_threads(args.threads)
t_start = time.time()


def load_data_fashion_mnist(batch_size, resize=None):
    """d2l.load_data_fashion_mnist, reading the local IDX files."""
    root = tempfile.mkdtemp()
    raw = os.path.join(root, 'FashionMNIST', 'raw')
    os.makedirs(raw)
    for f in os.listdir(args.data):
        if f.endswith('.gz'):
            with gzip.open(os.path.join(args.data, f)) as src, open(os.path.join(raw, f[:-3]), 'wb') as dst:
                shutil.copyfileobj(src, dst)
    trans = [transforms.ToTensor()]
    if resize:
        trans.insert(0, transforms.Resize(resize))
    trans = transforms.Compose(trans)
    mnist_train = torchvision.datasets.FashionMNIST(root=root, train=True, transform=trans, download=False)
    mnist_test = torchvision.datasets.FashionMNIST(root=root, train=False, transform=trans, download=False)
    return (data.DataLoader(mnist_train, batch_size, shuffle=True, num_workers=4),
            data.DataLoader(mnist_test, batch_size, shuffle=False, num_workers=4))


class Accumulator:
    def __init__(self, n):
        self.data = [0.0] * n

    def add(self, *args):
        self.data = [a + float(b) for a, b in zip(self.data, args)]

    def __getitem__(self, idx):
        return self.data[idx]


def accuracy(y_hat, y):
    y_hat = y_hat.argmax(axis=1)
    return float((y_hat.type(y.dtype) == y).type(y.dtype).sum())


class Reshape(torch.nn.Module):
    def forward(self, x):
        return x.view(-1, 1, 28, 28)


net = torch.nn.Sequential(
    Reshape(),
    nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.Sigmoid(),
    nn.AvgPool2d(kernel_size=2, stride=2),
    nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(),
    nn.AvgPool2d(kernel_size=2, stride=2), nn.Flatten(),
    nn.Linear(16 * 5 * 5, 120), nn.Sigmoid(),
    nn.Linear(120, 84), nn.Sigmoid(),
    nn.Linear(84, 10))

batch_size = 256
train_iter, test_iter = load_data_fashion_mnist(batch_size)


def evaluate_accuracy_gpu(net, data_iter, device=None):
    net.eval()
    metric = Accumulator(2)
    with torch.no_grad():
        for X, y in data_iter:
            metric.add(accuracy(net(X), y), y.numel())
    return metric[0] / metric[1]


def train_ch6(net, train_iter, test_iter, num_epochs, lr, device):
    def init_weight(m):
        if type(m) == nn.Linear or type(m) == nn.Conv2d:
            nn.init.xavier_uniform_(m.weight)
    net.apply(init_weight)
    print('training on', device)
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    loss = nn.CrossEntropyLoss()
    timer_sum = 0.0
    for epoch in range(num_epochs):
        metric = Accumulator(3)
        net.train()
        for i, (X, y) in enumerate(train_iter):
            t0 = time.time()
            optimizer.zero_grad()
            y_hat = net(X)
            l = loss(y_hat, y)
            l.backward()
            optimizer.step()
            with torch.no_grad():
                metric.add(l * X.shape[0], accuracy(y_hat, y), X.shape[0])
            timer_sum += time.time() - t0
            train_l = metric[0] / metric[2]
            train_acc = metric[1] / metric[2]
        test_acc = evaluate_accuracy_gpu(net, test_iter)
        print(f'epoch {epoch + 1}: loss {train_l:.3f}, train acc {train_acc:.3f}, test acc {test_acc:.3f}', flush=True)
    print(f'loss {train_l:.3f}, train acc {train_acc:.3f}, test acc {test_acc:.3f}')
    print(f'{metric[2] * num_epochs / timer_sum:.1f} examples/sec on {device}')


lr, num_epochs = 0.9, args.epochs
train_ch6(net, train_iter, test_iter, num_epochs, lr, 'cpu')
print(f'wall time {time.time() - t_start:.1f} s')
if args.save:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'scripts'))
    import torch_safetensors
    torch_safetensors.save_file(net.state_dict(), args.save, {'format': 'pt'})
    print(f'PyTorch test acc {evaluate_accuracy_gpu(net, test_iter):.4f}; saved {args.save}')
