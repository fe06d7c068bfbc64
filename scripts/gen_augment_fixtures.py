"""torchvision's functional transforms on PIL images, for torchlet's augmentation
tests: given the same crop offsets, flips and sizes (the random draws), torchlet's
RandomCrop / RandomHorizontalFlip / RandomResizedCrop must give these bytes.

    /usr/bin/python3 scripts/gen_augment_fixtures.py   # writes test/fixtures/augment/torchvision.json
"""
import json
import os

import numpy as np
from PIL import Image
import torchvision
import torchvision.transforms.functional as F


def gray(h, w, seed):
    rng = np.random.default_rng(seed)
    base = (np.add.outer(np.arange(h) * 7, np.arange(w) * 3) % 256).astype(np.int32)
    return ((base + rng.integers(0, 60, size=(h, w))) % 256).astype(np.uint8)


def rgb(h, w, seed):
    return np.stack([gray(h, w, seed + k) for k in range(3)], axis=-1)


def as_pil(a):
    return Image.fromarray(a, mode="L" if a.ndim == 2 else "RGB")


def case(name, img, op, params, out):
    arr = np.asarray(out)
    return {
        "name": name, "op": op, "params": params,
        "input": {"height": img.shape[0], "width": img.shape[1], "channels": 1 if img.ndim == 2 else 3, "data": img.reshape(-1).tolist()},
        "output": {"height": arr.shape[0], "width": arr.shape[1], "data": arr.reshape(-1).tolist()},
    }


def main():
    g28 = gray(28, 28, 1)
    c20 = rgb(20, 24, 5)
    cases = []
    # RandomCrop(28, padding=4) with offsets (top=3, left=5): F.pad then F.crop.
    padded = F.pad(as_pil(g28), 4, fill=0)
    cases.append(case("RandomCrop(28, padding=4) at top=3 left=5", g28, "randomCrop",
                      {"size": [28, 28], "padding": [4, 4, 4, 4], "top": 3, "left": 5}, F.crop(padded, 3, 5, 28, 28)))
    padded = F.pad(as_pil(c20), [2, 1, 3, 0], fill=9)
    cases.append(case("RandomCrop([18, 20], padding=[2,1,3,0], fill=9) on RGB at top=2 left=6", c20, "randomCrop",
                      {"size": [18, 20], "padding": [2, 1, 3, 0], "fill": 9, "top": 2, "left": 6}, F.crop(padded, 2, 6, 18, 20)))
    cases.append(case("RandomHorizontalFlip flipped", g28, "hflip", {}, F.hflip(as_pil(g28))))
    cases.append(case("RandomHorizontalFlip flipped, RGB", c20, "hflip", {}, F.hflip(as_pil(c20))))
    bil = torchvision.transforms.InterpolationMode.BILINEAR
    cases.append(case("RandomResizedCrop(28) of top=2 left=4 17x13", g28, "resizedCrop",
                      {"top": 2, "left": 4, "height": 17, "width": 13, "size": [28, 28]}, F.resized_crop(as_pil(g28), 2, 4, 17, 13, [28, 28], bil)))
    cases.append(case("RandomResizedCrop(96) of top=0 left=1 27x26 (upscaling)", g28, "resizedCrop",
                      {"top": 0, "left": 1, "height": 27, "width": 26, "size": [96, 96]}, F.resized_crop(as_pil(g28), 0, 1, 27, 26, [96, 96], bil)))
    cases.append(case("RandomResizedCrop([12, 10]) of RGB top=3 left=2 16x20 (shrinking)", c20, "resizedCrop",
                      {"top": 3, "left": 2, "height": 16, "width": 20, "size": [12, 10]}, F.resized_crop(as_pil(c20), 3, 2, 16, 20, [12, 10], bil)))
    path = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "augment", "torchvision.json")
    with open(path, "w") as f:
        json.dump({"torchvision": torchvision.__version__, "cases": cases}, f)
        f.write("\n")
    print(f"wrote {len(cases)} cases")


if __name__ == "__main__":
    main()
