"""Time PyTorch train steps (forward, cross-entropy, backward, SGD) for a zoo model.

Run with Debian's interpreter: /usr/bin/python3 bench/torch_bench.py --model lenet --batch 256 --steps 10 --threads 2
Prints one JSON line: examples/sec (median over timed steps), step times, peak RSS.

On a GPU (bench/gpu/): --device cuda [--tf32 on|off]. CUDA runs asynchronously, so the timed
steps are measured together, from the first launched to the last finished (synchronize).
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'scripts'))

import torch  # noqa: E402
from torch import nn  # noqa: E402
import torch_zoo  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--model', required=True)
    p.add_argument('--batch', type=int, required=True)
    p.add_argument('--steps', type=int, default=10)
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--threads', type=int, default=os.cpu_count())
    p.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    p.add_argument('--tf32', default='on', choices=['on', 'off'], help='cuda only: TF32 for convolutions and matmuls')
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    cuda = a.device == 'cuda'
    if cuda:
        if not torch.cuda.is_available():
            print(json.dumps({'model': a.model, 'batch': a.batch, 'error': 'torch.cuda.is_available() is False'}))
            return
        # PyTorch's defaults are TF32 on for cuDNN convolutions and off for matmuls; 'on' enables both.
        torch.backends.cudnn.allow_tf32 = a.tf32 == 'on'
        torch.backends.cuda.matmul.allow_tf32 = a.tf32 == 'on'
        torch.backends.cudnn.benchmark = True
    dev = torch.device(a.device)
    net = torch_zoo.create_model(a.model).to(dev)
    c, h, w = torch_zoo.input_shape(a.model)
    X = torch.rand(a.batch, c, h, w, device=dev)
    y = torch.randint(0, 10, (a.batch,), device=dev)
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    loss = nn.CrossEntropyLoss()
    net.train()

    def step():
        opt.zero_grad()
        l = loss(net(X), y)
        l.backward()
        opt.step()

    for _ in range(a.warmup):
        step()
    times = []
    if cuda:
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(a.steps):
            step()
        torch.cuda.synchronize()
        times = [(time.perf_counter() - t0) / a.steps] * a.steps
    else:
        for _ in range(a.steps):
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    print(json.dumps({
        'model': a.model, 'batch': a.batch, 'threads': torch.get_num_threads(),
        'examplesPerSec': a.batch / med, 'stepSeconds': times,
        'peakRssBytes': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        'device': f'torch {torch.__version__} ' + (f'cuda ({torch.cuda.get_device_name(0)}, tf32 {a.tf32})' if cuda else 'cpu'),
    }))


if __name__ == '__main__':
    main()
