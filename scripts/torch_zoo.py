"""The torchlet model zoo in PyTorch: the seed's networks (../shared/seed/cnn-notes.md)
written as the seed writes them, plus d2l's ResNet-18, and the deterministic
weight formula that test/helpers-zoo/formula.ts mirrors.

Deviation from the seed, matching torchlet: the from-scratch BatchNorm
registers moving_mean/moving_var as buffers, so they are in the state_dict.

Run as /usr/bin/python3 (Debian's interpreter with torch 1.13).
"""
import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


# ---------------------------------------------------------------- LeNet

class Reshape(torch.nn.Module):
    def forward(self, x):
        return x.view(-1, 1, 28, 28)


def lenet():
    return torch.nn.Sequential(
        Reshape(),
        nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2), nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.Sigmoid(),
        nn.Linear(120, 84), nn.Sigmoid(),
        nn.Linear(84, 10))


# ---------------------------------------------------------------- AlexNet

def alexnet():
    return nn.Sequential(
        nn.Conv2d(1, 96, kernel_size=11, stride=4, padding=1), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(96, 256, kernel_size=5, padding=2), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(256, 384, kernel_size=3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 384, kernel_size=3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Flatten(),
        nn.Linear(6400, 4096), nn.ReLU(), nn.Dropout(p=0.5),
        nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(p=0.5),
        nn.Linear(4096, 10))


# ---------------------------------------------------------------- VGG

def vgg_block(num_convs, in_channels, out_channels):
    layers = []
    for _ in range(num_convs):
        layers.append(nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1))
        layers.append(nn.ReLU())
        in_channels = out_channels
    layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return nn.Sequential(*layers)


conv_arch = ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512))


def vgg(conv_arch):
    conv_blocks = []
    in_channels = 1
    for (num_convs, out_channels) in conv_arch:
        conv_blocks.append(vgg_block(num_convs, in_channels, out_channels))
        in_channels = out_channels
    return nn.Sequential(
        *conv_blocks, nn.Flatten(),
        nn.Linear(out_channels * 7 * 7, 4096), nn.ReLU(),
        nn.Dropout(0.5), nn.Linear(4096, 4096), nn.ReLU(),
        nn.Dropout(0.5), nn.Linear(4096, 10))


def vgg11():
    return vgg(conv_arch)


def vgg11_small(ratio=4):
    small_conv_arch = [(pair[0], pair[1] // ratio) for pair in conv_arch]
    return vgg(small_conv_arch)


# ---------------------------------------------------------------- NiN

def nin_block(in_channels, out_channels, kernel_size, strides, padding):
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, strides, padding),
        nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, kernel_size=1), nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, kernel_size=1), nn.ReLU())


def nin():
    return nn.Sequential(
        nin_block(1, 96, kernel_size=11, strides=4, padding=0),
        nn.MaxPool2d(3, stride=2),
        nin_block(96, 256, kernel_size=5, strides=1, padding=2),
        nn.MaxPool2d(3, stride=2),
        nin_block(256, 384, kernel_size=3, strides=1, padding=1),
        nn.MaxPool2d(3, stride=2),
        nn.Dropout(0.5),
        nin_block(384, 10, kernel_size=3, strides=1, padding=1),
        nn.AdaptiveAvgPool2d((1, 1)),
        nn.Flatten())


# ---------------------------------------------------------------- GoogLeNet

class Inception(nn.Module):
    def __init__(self, in_channel, c1, c2, c3, c4, **kwargs):
        super(Inception, self).__init__(**kwargs)
        self.p1_1 = nn.Conv2d(in_channel, c1, kernel_size=1)
        self.p2_1 = nn.Conv2d(in_channel, c2[0], kernel_size=1)
        self.p2_2 = nn.Conv2d(c2[0], c2[1], kernel_size=3, padding=1)
        self.p3_1 = nn.Conv2d(in_channel, c3[0], kernel_size=1)
        self.p3_2 = nn.Conv2d(c3[0], c3[1], kernel_size=5, padding=2)
        self.p4_1 = nn.MaxPool2d(kernel_size=3, stride=1, padding=1)
        self.p4_2 = nn.Conv2d(in_channel, c4, kernel_size=1)

    def forward(self, x):
        p1 = F.relu(self.p1_1(x))
        p2 = F.relu(self.p2_2(F.relu(self.p2_1(x))))
        p3 = F.relu(self.p3_2(F.relu(self.p3_1(x))))
        p4 = F.relu(self.p4_2(self.p4_1(x)))
        return torch.cat((p1, p2, p3, p4), dim=1)


def googlenet():
    stage1 = nn.Sequential(
        nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    stage2 = nn.Sequential(
        nn.Conv2d(64, 64, kernel_size=1), nn.ReLU(),
        nn.Conv2d(64, 192, kernel_size=3, padding=1), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    stage3 = nn.Sequential(
        Inception(192, 64, (96, 128), (16, 32), 32),
        Inception(256, 128, (128, 192), (32, 96), 64),
        nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    stage4 = nn.Sequential(
        Inception(480, 192, (96, 208), (16, 48), 64),
        Inception(512, 160, (112, 224), (24, 64), 64),
        Inception(512, 128, (128, 256), (24, 64), 64),
        Inception(512, 112, (144, 288), (32, 64), 64),
        Inception(528, 256, (160, 320), (32, 128), 128),
        nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    stage5 = nn.Sequential(
        Inception(832, 256, (160, 320), (32, 128), 128),
        Inception(832, 384, (192, 384), (48, 128), 128),
        nn.AdaptiveAvgPool2d((1, 1)),
        nn.Flatten())
    return nn.Sequential(stage1, stage2, stage3, stage4, stage5, nn.Linear(1024, 10))


# ---------------------------------------------------------------- BatchNorm (seed)

def batch_norm(X, gamma, beta, moving_mean, moving_var, eps, momentum):
    if not torch.is_grad_enabled():
        X_hat = (X - moving_mean) / torch.sqrt(moving_var + eps)
    else:
        assert len(X.shape) in (2, 4)
        if len(X.shape) == 2:
            mean = X.mean(dim=0)
            var = ((X - mean) ** 2).mean(dim=0)
        else:
            mean = X.mean(dim=(0, 2, 3), keepdim=True)
            var = ((X - mean) ** 2).mean(dim=(0, 2, 3), keepdim=True)
        X_hat = (X - mean) / torch.sqrt(var + eps)
        moving_mean = momentum * moving_mean + (1.0 - momentum) * mean
        moving_var = momentum * moving_var + (1.0 - momentum) * var
    Y = gamma * X_hat + beta
    return Y, moving_mean.data, moving_var.data


class BatchNorm(nn.Module):
    def __init__(self, num_features, num_dims):
        super().__init__()
        if num_dims == 2:
            shape = (1, num_features)
        else:
            shape = (1, num_features, 1, 1)
        self.gamma = nn.Parameter(torch.ones(shape))
        self.beta = nn.Parameter(torch.zeros(shape))
        # torchlet: buffers, so they are saved and restored with the state_dict.
        self.register_buffer("moving_mean", torch.zeros(shape))
        self.register_buffer("moving_var", torch.ones(shape))

    def forward(self, X):
        if self.moving_mean.device != X.device:
            self.moving_mean = self.moving_mean.to(X.device)
            self.moving_var = self.moving_var.to(X.device)
        Y, self.moving_mean, self.moving_var = batch_norm(
            X, self.gamma, self.beta, self.moving_mean, self.moving_var, eps=1e-5, momentum=0.9)
        return Y


def lenet_bn_scratch():
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5), BatchNorm(6, num_dims=4), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), BatchNorm(16, num_dims=4), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2), nn.Flatten(),
        nn.Linear(16 * 4 * 4, 120), BatchNorm(120, num_dims=2), nn.Sigmoid(),
        nn.Linear(120, 84), BatchNorm(84, num_dims=2), nn.Sigmoid(),
        nn.Linear(84, 10))


def lenet_bn():
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5), nn.BatchNorm2d(6), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.BatchNorm2d(16), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2), nn.Flatten(),
        nn.Linear(256, 120), nn.BatchNorm1d(120), nn.Sigmoid(),
        nn.Linear(120, 84), nn.BatchNorm1d(84), nn.Sigmoid(),
        nn.Linear(84, 10))


# ---------------------------------------------------------------- ResNet-18 (d2l)

class Residual(nn.Module):
    def __init__(self, input_channels, num_channels, use_1x1conv=False, strides=1):
        super().__init__()
        self.conv1 = nn.Conv2d(input_channels, num_channels, kernel_size=3, padding=1, stride=strides)
        self.conv2 = nn.Conv2d(num_channels, num_channels, kernel_size=3, padding=1)
        if use_1x1conv:
            self.conv3 = nn.Conv2d(input_channels, num_channels, kernel_size=1, stride=strides)
        else:
            self.conv3 = None
        self.bn1 = nn.BatchNorm2d(num_channels)
        self.bn2 = nn.BatchNorm2d(num_channels)

    def forward(self, X):
        Y = F.relu(self.bn1(self.conv1(X)))
        Y = self.bn2(self.conv2(Y))
        if self.conv3:
            X = self.conv3(X)
        Y += X
        return F.relu(Y)


def resnet_block(input_channels, num_channels, num_residuals, first_block=False):
    blk = []
    for i in range(num_residuals):
        if i == 0 and not first_block:
            blk.append(Residual(input_channels, num_channels, use_1x1conv=True, strides=2))
        else:
            blk.append(Residual(num_channels, num_channels))
    return blk


def resnet18():
    b1 = nn.Sequential(nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3),
                       nn.BatchNorm2d(64), nn.ReLU(),
                       nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    b2 = nn.Sequential(*resnet_block(64, 64, 2, first_block=True))
    b3 = nn.Sequential(*resnet_block(64, 128, 2))
    b4 = nn.Sequential(*resnet_block(128, 256, 2))
    b5 = nn.Sequential(*resnet_block(256, 512, 2))
    return nn.Sequential(b1, b2, b3, b4, b5, nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(512, 10))


# ---------------------------------------------------------------- registry

MODELS = {
    "lenet": (lenet, (1, 28, 28)),
    "alexnet": (alexnet, (1, 224, 224)),
    "vgg11": (vgg11, (1, 224, 224)),
    "vgg11-small": (vgg11_small, (1, 224, 224)),
    "nin": (nin, (1, 224, 224)),
    "googlenet": (googlenet, (1, 96, 96)),
    "lenet-bn": (lenet_bn, (1, 28, 28)),
    "lenet-bn-scratch": (lenet_bn_scratch, (1, 28, 28)),
    "resnet18": (resnet18, (1, 96, 96)),
}


class _SkipInit:
    """Make nn.init's fillers no-ops while building (the formula overwrites every value anyway)."""

    NAMES = ("kaiming_uniform_", "uniform_", "normal_", "zeros_", "ones_")

    def __enter__(self):
        self.saved = {k: getattr(nn.init, k) for k in self.NAMES}
        for k in self.NAMES:
            setattr(nn.init, k, lambda t, *a, **kw: t)

    def __exit__(self, *exc):
        for k, v in self.saved.items():
            setattr(nn.init, k, v)


def create_model(name, init=True):
    """A fresh network; init=False skips PyTorch's random init (values are then garbage until filled)."""
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(MODELS)}")
    if init:
        return MODELS[name][0]()
    with _SkipInit():
        return MODELS[name][0]()


def input_shape(name):
    return MODELS[name][1]


# ---------------------------------------------------------------- the shared weight formula
#
# formula_values(n, seed, scale, offset)[i] = float32((h - 2^31) * (scale / 2^31) + offset),
# where h is a uint32 integer hash of (i, seed): TypeScript (Math.imul) and numpy
# (uint32 wraparound) compute the very same h, and the rest is three float64
# operations and one rounding to float32, so both sides produce identical bits.

SEED_INPUT = 1_000_003
SEED_R = 1_000_033
_CHUNK = 1 << 22


def _hash(i, seed_mix):
    """uint32 hash of the uint32 array i (modified in place and returned)."""
    i *= np.uint32(0x9E3779B1)
    i += np.uint32(seed_mix)
    i ^= i >> np.uint32(16)
    i *= np.uint32(0x45D9F3B)
    i ^= i >> np.uint32(16)
    i *= np.uint32(0x45D9F3B)
    i ^= i >> np.uint32(16)
    return i


def formula_values(n, seed, scale, offset=0.0, out=None):
    """float32 array of n formula values (written into `out` when given)."""
    if out is None:
        out = np.empty(n, dtype=np.float32)
    seed_mix = (seed * 0x85EBCA77) % 2**32
    step = float(scale) / 2147483648.0
    for start in range(0, n, _CHUNK):
        stop = min(n, start + _CHUNK)
        h = _hash(np.arange(start, stop, dtype=np.uint32), seed_mix)
        v = h.astype(np.float64)
        v -= 2147483648.0
        v *= step
        v += offset
        out[start:stop] = v
    return out


def scale_offset(key, shape):
    """Per-tensor scale and offset, from the state_dict key and shape only."""
    leaf = key.rsplit(".", 1)[-1]
    if leaf in ("running_var", "moving_var"):
        return 0.5, 1.0
    if leaf in ("running_mean", "moving_mean"):
        return 0.1, 0.0
    if leaf == "gamma" or (leaf == "weight" and len(shape) == 1):
        return 0.25, 1.0
    if leaf in ("beta", "bias"):
        return 0.1, 0.0
    # Linear/conv weights: He-uniform, so ReLU activations keep their scale.
    fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else int(shape[0])
    return math.sqrt(6.0 / fan_in), 0.0


def fill_formula(model):
    """Overwrite every floating parameter and buffer, the k-th state_dict entry from seed k + 1."""
    with torch.no_grad():
        for k, (key, t) in enumerate(model.state_dict(keep_vars=True).items()):
            if not t.is_floating_point():
                continue
            scale, offset = scale_offset(key, tuple(t.shape))
            if t.is_contiguous():
                formula_values(t.numel(), k + 1, scale, offset, out=t.detach().numpy().reshape(-1))
            else:
                t.copy_(torch.from_numpy(formula_values(t.numel(), k + 1, scale, offset)).reshape(t.shape))


def formula_tensor(shape, seed):
    n = int(np.prod(shape))
    return torch.from_numpy(formula_values(n, seed, 1.0)).reshape(shape)


def disable_dropout(model):
    """Dropout to eval (identity) while everything else, BatchNorm included, stays as it is."""
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.eval()
