"""Zoo parity, PyTorch side: forward + backward of a zoo network with the shared
formula weights (torch_zoo.fill_formula) and input, loss = sum(out * R).

  /usr/bin/python3 scripts/zoo_parity.py --model NAME --out FILE [--batch N]
  /usr/bin/python3 scripts/zoo_parity.py --serve     # JSON requests on stdin, one per line

Mode: model.train() with every Dropout in eval mode (identity), so BatchNorm
uses batch statistics and updates its running statistics, and the result is
deterministic. test/zoo-parity.test.ts does the same in torchlet.

FILE (safetensors) holds:
  output            the network output
  input.grad        d loss / d input
  grad/<key>        d loss / d parameter, for every parameter (state_dict key)
  buffer/<key>      every buffer after the forward (running stats, num_batches_tracked)
and metadata: model, batch, loss, num_params, state_dict (JSON [[key, shape, dtype], ...]
in state_dict order), fingerprints (JSON {key: [...]} of the
formula weights, to check both sides built the same weights: [sum v in float64,
v[floor(j*n/16)] for j < 16]) and relu_kinks (JSON,
per F.relu call in forward order: [[flat indices with |x| <= kink_tau * max|x|],
[1 if PyTorch's x > 0 there else 0]]) and pool_ties (JSON, per F.max_pool2d call:
[[flat output index, flat input index PyTorch chose, [flat input indices within
kink_tau * max|x| of the window's max]], ...]).

--dtype float64 runs the network in float64 (same float32 weights and input), a
high-precision reference for diagnosing float32 discrepancies.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
from torch.nn import functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_zoo  # noqa: E402
import torch_safetensors  # noqa: E402


def fingerprint(t):
    """[float64 sum, then 16 values sampled at floor(j * n / 16)] of a tensor."""
    v = t.detach().reshape(-1)
    n = v.numel()
    return [float(v.sum(dtype=torch.float64))] + [float(v[(j * n) // 16]) for j in range(16)]


# Kinks of the piecewise-linear layers. A ReLU input within KINK_TAU * max|x| of
# zero, or a max-pool window whose two largest inputs are within KINK_TAU * max|x|
# of each other, may be decided the other way by another float32 implementation,
# which moves the gradients by far more than rounding. Such elements and windows,
# with PyTorch's decisions, go to the test, which makes torchlet take PyTorch's
# branch there (test/helpers-zoo/kinks.ts).
KINK_TAU = 2e-5


class KinkRecorder:
    """Patch F.relu and F.max_pool2d (used by nn.ReLU, nn.MaxPool2d and the models) to record kinks, per call."""

    def __init__(self):
        self.relu_calls = []
        self.pool_calls = []
        self.orig_relu = F.relu
        self.orig_pool = F.max_pool2d

    def __enter__(self):
        F.relu = self.relu
        F.max_pool2d = self.max_pool2d
        return self

    def __exit__(self, *exc):
        F.relu = self.orig_relu
        F.max_pool2d = self.orig_pool

    def relu(self, input, inplace=False):
        x = input.detach().reshape(-1)
        near = (x.abs() <= KINK_TAU * x.abs().max()).nonzero().reshape(-1)
        self.relu_calls.append([near.tolist(), (x[near] > 0).int().tolist()])
        return self.orig_relu(input, inplace=inplace)

    def max_pool2d(self, input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
        out = self.orig_pool(input, kernel_size, stride, padding, dilation, ceil_mode=ceil_mode, return_indices=return_indices)
        self.pool_calls.append(self._pool_ties(input.detach(), kernel_size, stride, padding, dilation, ceil_mode))
        return out

    def _pool_ties(self, x, kernel_size, stride, padding, dilation, ceil_mode):
        pair = lambda v: tuple(v) if isinstance(v, (tuple, list)) else (v, v)  # noqa: E731
        k = pair(kernel_size)
        s = pair(stride if stride not in (None, [], ()) else kernel_size)
        p = pair(padding)
        if pair(dilation) != (1, 1) or ceil_mode:
            raise NotImplementedError("kink recording supports dilation 1, ceil_mode False")
        y, idx = self.orig_pool(x, k, s, p, return_indices=True)
        N, C, H, W = x.shape
        OH, OW = y.shape[2], y.shape[3]
        cols = F.unfold(F.pad(x, (p[1], p[1], p[0], p[0]), value=float("-inf")), k, stride=s)
        cols = cols.reshape(N, C, k[0] * k[1], OH * OW)
        top = cols.max(dim=2, keepdim=True).values
        tol = KINK_TAU * float(x.abs().max())
        # A near-tie: another input within tol of the max but not equal to it. Exact ties (the
        # same element duplicated by an earlier pool, or ReLU zeros) resolve identically in both
        # frameworks (first maximum in window order), so they are not kinks.
        flagged = ((cols >= top - tol) & (cols != top)).any(dim=2)
        first = top[:, :, 0]
        ties = []
        for n, c, l in flagged.nonzero().tolist():
            oh, ow = divmod(l, OW)
            mx = float(first[n, c, l])
            plane = (n * C + c) * H * W
            cands = []
            for kh in range(k[0]):
                for kw in range(k[1]):
                    h, w = oh * s[0] - p[0] + kh, ow * s[1] - p[1] + kw
                    if 0 <= h < H and 0 <= w < W and float(x[n, c, h, w]) >= mx - tol:
                        cands.append(plane + h * W + w)
            ties.append([((n * C + c) * OH + oh) * OW + ow, plane + int(idx[n, c, oh, ow]), cands])
        return ties


def run_parity(model_name, batch, out_path, dtype="float32"):
    t0 = time.time()
    model = torch_zoo.create_model(model_name, init=False)
    torch_zoo.fill_formula(model)
    model.train()
    torch_zoo.disable_dropout(model)
    sd = model.state_dict(keep_vars=True)
    layout = [[k, list(v.shape), str(v.dtype).replace("torch.", "")] for k, v in sd.items()]
    prints = {k: fingerprint(v) for k, v in sd.items() if v.is_floating_point()}
    num_params = sum(p.numel() for p in model.parameters())

    tdtype = getattr(torch, dtype)
    model.to(tdtype)  # float64: a high-precision reference, same float32 weights and input
    x = torch_zoo.formula_tensor((batch,) + tuple(torch_zoo.input_shape(model_name)), torch_zoo.SEED_INPUT).to(tdtype)
    x.requires_grad_(True)
    with KinkRecorder() as kinks:
        out = model(x)
    r = torch_zoo.formula_tensor(tuple(out.shape), torch_zoo.SEED_R).to(tdtype)
    loss = (out * r).sum()
    loss.backward()

    result = {"output": out.detach(), "input.grad": x.grad}
    for k, p in model.named_parameters():
        result["grad/" + k] = p.grad
    for k, b in model.named_buffers():
        result["buffer/" + k] = b.detach()
    meta = {
        "model": model_name, "batch": str(batch), "loss": repr(float(loss)), "num_params": str(num_params),
        "state_dict": json.dumps(layout), "fingerprints": json.dumps(prints),
        "kink_tau": repr(KINK_TAU), "relu_kinks": json.dumps(kinks.relu_calls),
        "pool_ties": json.dumps(kinks.pool_calls),
    }
    torch_safetensors.save_file(result, out_path, meta)
    return {"seconds": round(time.time() - t0, 3), "num_params": num_params, "loss": float(loss)}


def serve():
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            req = json.loads(line)
            res = run_parity(req["model"], int(req.get("batch", 2)), req["out"], req.get("dtype", "float32"))
            res["ok"] = True
        except Exception as e:  # report, keep serving
            import traceback
            res = {"ok": False, "error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()}
        sys.stdout.write(json.dumps(res) + "\n")
        sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=list(torch_zoo.MODELS))
    ap.add_argument("--out")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    ap.add_argument("--serve", action="store_true")
    a = ap.parse_args()
    if a.serve:
        serve()
        return
    if not a.model or not a.out:
        ap.error("--model and --out are required (or --serve)")
    print(json.dumps(run_parity(a.model, a.batch, a.out, a.dtype)))


if __name__ == "__main__":
    main()
