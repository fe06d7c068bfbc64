#!/usr/bin/python3
"""Generate resize parity fixtures for test/data-resize.test.ts.

Run with the system Python that has torchvision (Debian python3-torchvision):

    /usr/bin/python3 scripts/gen_resize_fixtures.py

For a few deterministic, Fashion-MNIST-like 28x28 uint8 images it applies
exactly what d2l's load_data_fashion_mnist(batch_size, resize) applies to each
sample, i.e. torchvision's FashionMNIST.__getitem__ followed by

    transforms.Compose([transforms.Resize(size), transforms.ToTensor()])

on `Image.fromarray(img, mode="L")`, and writes to test/fixtures/resize/:

    inputs.u8            N*28*28 uint8 source images
    out_<size>.f32       N*size*size float32 little-endian (ToTensor output, CHW with C=1)
    meta.json            sizes, count, library versions

No randomness from numpy/torch is used: pixel values come from closed-form
patterns and a fixed 32-bit LCG, so the script reproduces byte-identical files.
"""
import json
import math
import os
import sys

import numpy as np
import PIL
import torch
import torchvision
from PIL import Image
from torchvision import transforms

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(HERE, "..", "test", "fixtures", "resize")
SIZES = [224, 96, 14]
N = 28


def lcg(seed):
    state = seed & 0xFFFFFFFF
    while True:
        state = (1664525 * state + 1013904223) & 0xFFFFFFFF
        yield state >> 24  # 0..255


def shirt():
    """A T-shirt-like silhouette: body + sleeves, textured, hard edges to 0."""
    noise = lcg(1)
    img = np.zeros((N, N), dtype=np.uint8)
    for y in range(N):
        for x in range(N):
            body = 8 <= x <= 19 and 4 <= y <= 25
            sleeves = 3 <= y <= 11 and (2 <= x < 8 or 19 < x <= 25) and abs(x - 13.5) <= 3 + 1.4 * (y - 1)
            neck = y <= 6 and abs(x - 13.5) < 3.5 - 0.5 * (y - 4)
            if (body or sleeves) and not neck:
                v = 150 + 60 * math.sin(0.7 * x) * math.cos(0.3 * y) + (next(noise) % 31) - 15
                img[y, x] = int(min(255, max(1, round(v))))
    return img


def boot():
    """An ankle-boot-like shape: smooth gradient, saturated sole, anti-aliased edge."""
    img = np.zeros((N, N), dtype=np.uint8)
    for y in range(N):
        for x in range(N):
            shaft = 6 <= x <= 15 and 5 <= y <= 20
            foot = 6 <= x <= 25 and 16 <= y <= 22
            sole = 4 <= x <= 26 and 22 < y <= 24
            if sole:
                img[y, x] = 255
            elif shaft or foot:
                img[y, x] = int(40 + (x * 7 + y * 3) % 180)
            elif 5 <= x <= 26 and 4 <= y <= 23:
                # soft halo just outside the silhouette
                d = min(abs(x - 6), abs(x - 15), abs(y - 16))
                if d <= 1:
                    img[y, x] = 25
    return img


def noise_checker():
    """Worst case for rounding: full-range noise plus a 0/255 checkerboard corner."""
    noise = lcg(12345)
    img = np.zeros((N, N), dtype=np.uint8)
    for y in range(N):
        for x in range(N):
            if x < 10 and y < 10:
                img[y, x] = 255 if (x + y) % 2 else 0
            else:
                img[y, x] = next(noise)
    return img


def main():
    images = [shirt(), boot(), noise_checker()]
    os.makedirs(OUT_DIR, exist_ok=True)
    stack = np.stack(images).astype(np.uint8)
    with open(os.path.join(OUT_DIR, "inputs.u8"), "wb") as f:
        f.write(stack.tobytes())

    files = {"inputs": "inputs.u8"}
    for size in SIZES:
        trans = transforms.Compose([transforms.Resize(size), transforms.ToTensor()])
        outs = []
        for img in images:
            # Exactly torchvision.datasets.FashionMNIST.__getitem__'s conversion.
            pil = Image.fromarray(img, mode="L")
            t = trans(pil)
            assert t.dtype == torch.float32 and tuple(t.shape) == (1, size, size), t.shape
            outs.append(t.numpy())
        arr = np.stack(outs).astype("<f4")
        name = "out_%d.f32" % size
        with open(os.path.join(OUT_DIR, name), "wb") as f:
            f.write(arr.tobytes())
        files[str(size)] = name

    meta = {
        "count": len(images),
        "height": N,
        "width": N,
        "sizes": SIZES,
        "files": files,
        "pipeline": "Image.fromarray(img, mode='L') -> Resize(size) -> ToTensor()",
        "versions": {
            "python": sys.version.split()[0],
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
            "PIL": PIL.__version__,
            "numpy": np.__version__,
        },
    }
    with open(os.path.join(OUT_DIR, "meta.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(OUT_DIR, p)) for p in os.listdir(OUT_DIR))
    print("wrote %s (%d bytes)" % (os.path.normpath(OUT_DIR), total))


if __name__ == "__main__":
    main()
