#!/usr/bin/python3
"""Generate PyTorch parity fixtures for the torchlet test suite.

Run with the system Python that has Debian's python3-torch:

    /usr/bin/python3 scripts/gen_fixtures.py

Writes test/fixtures/parity/{fill,ops,layers,optim,nn,format}.json.

Inputs are never stored. Every input, weight and loss-weight tensor comes from
one closed-form filler that test/helpers/fill.ts reimplements:

    fill(shape, [scale, offset, shift, q]):
        v[i] = shift + scale * sin(0.7 * i + offset)      (float64, flat row-major i)
        if q: v[i] = round(v[i] * q) / q                   (quantised, for ties)
        cast to float32

For every op/layer case the fixture holds the forward output and the
gradients of the inputs and parameters for the scalar loss
L = sum(out * R), where R = fill(out.shape, case["r"]).

Expected values are computed by PyTorch in float64 from the float32 filler
values (exactly the inputs the TS side builds), so they are the exact answers
for torchlet's float32 inputs and a parity test measures only torchlet's own
float32 rounding. (Tensor-printing cases use float32, as printing depends on it.)

The script uses no random numbers and single-threaded torch, so it writes
identical files every run. Floats are rounded to 8 significant digits.
"""
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "test", "fixtures", "parity")

R_DEFAULT = [1.0, 0.3, 0.25]  # shifted so sums over R (bias grads) do not cancel to ~0


# ---------------------------------------------------------------- helpers

def fill_np(shape, spec):
    scale, offset, shift = spec[0], spec[1], spec[2]
    q = spec[3] if len(spec) > 3 else 0
    n = int(np.prod(shape)) if len(shape) > 0 else 1
    i = np.arange(n, dtype=np.float64)
    v = shift + scale * np.sin(0.7 * i + offset)
    if q:
        # Math.round in JS rounds half up; np.round half to even. Ties at an
        # exact .5 never occur for these sin values, so floor(x + 0.5) matches.
        v = np.floor(v * q + 0.5) / q
    return v.astype(np.float32).reshape(shape)


def fill32(shape, spec, requires_grad=False):
    t = torch.from_numpy(fill_np(list(shape), spec).copy())
    return t.requires_grad_(requires_grad)


def fill(shape, spec, requires_grad=False):
    """The float32 fill values, held in float64: expected results are computed in
    float64 from exactly the float32 inputs the TS side builds, so the fixture
    is the exact answer and a test measures only torchlet's own float32 error."""
    t = torch.from_numpy(fill_np(list(shape), spec).astype(np.float64))
    return t.requires_grad_(requires_grad)


def rnd(x):
    """Round a float to 8 significant digits for compact JSON."""
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0:
        return -0.0 if math.copysign(1.0, x) < 0 else 0
    r = float("%.8g" % x)
    if r == int(r) and abs(r) < 2 ** 53:
        return int(r)
    return r


def flat(t):
    return [rnd(v) for v in t.detach().reshape(-1).double().tolist()]


def shape_of(t):
    return list(t.shape)


def loss_of(out, rspec):
    r = fill(shape_of(out), rspec)
    return (out * r).sum()


# ---------------------------------------------------------------- op cases

OPS = []


def op_case(name, op, inputs, fn, args=None, r=None, grad=True):
    """inputs: list of dicts {shape, fill} (float, requires grad unless grad=False)
    or {values, shape, int: True} (integer constants such as class targets)."""
    r = r or R_DEFAULT
    tensors = []
    for spec in inputs:
        if "values" in spec:
            tensors.append(torch.tensor(spec["values"], dtype=torch.long).reshape(spec["shape"]))
        else:
            needs = grad and spec.get("grad", True)
            tensors.append(fill(spec["shape"], spec["fill"], requires_grad=needs))
    out = fn(*tensors)
    case = {"name": name, "op": op, "args": args or {}, "inputs": inputs, "r": r,
            "out": {"shape": shape_of(out), "data": flat(out)}}
    if grad and out.requires_grad:
        loss_of(out, r).backward()
        case["grads"] = {f"in{i}": (flat(t.grad) if t.grad is not None else None)
                         for i, t in enumerate(tensors) if t.is_floating_point() and t.requires_grad}
    OPS.append(case)


def I(shape, spec=(1.0, 0.1, 0.0), **kw):
    d = {"shape": list(shape), "fill": list(spec)}
    d.update(kw)
    return d


POS = (1.0, 0.2, 1.5)        # values in [0.5, 2.5]
POS_SMALL = (0.5, 0.4, 1.0)  # values in [0.5, 1.5]


def gen_ops():
    # ---- binary arithmetic with broadcasting
    bshapes = [
        ("same", [2, 3], [2, 3]),
        ("row", [2, 3, 4], [4]),
        ("outer", [3, 1], [1, 4]),
        ("mid", [2, 1, 4], [3, 1]),
        ("scalar_tensor", [2, 3], []),
        ("lead", [4], [2, 3, 4]),
    ]
    torch_bin = {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div,
                 "pow": torch.pow, "maximum": torch.maximum, "minimum": torch.minimum}
    for op, fn in torch_bin.items():
        for tag, sa, sb in bshapes:
            a_spec = POS if op == "pow" else (1.0, 0.1, 0.0)
            b_spec = (1.5, 0.9, 0.5) if op == "pow" else (POS_SMALL if op == "div" else (0.8, 1.3, 0.1))
            op_case(f"{op}/{tag}", op, [I(sa, a_spec), I(sb, b_spec)], fn)
    # scalar operand on either side
    op_case("add/number", "add", [I([2, 3])], lambda a: a + 2.5, args={"scalar": 2.5})
    op_case("sub/number_left", "sub", [I([2, 3])], lambda a: 1.5 - a, args={"scalar": 1.5, "left": True})
    op_case("mul/number", "mul", [I([2, 3])], lambda a: a * -3.0, args={"scalar": -3.0})
    op_case("div/number_left", "div", [I([2, 3], POS)], lambda a: 2.0 / a, args={"scalar": 2.0, "left": True})
    op_case("div/number", "div", [I([2, 3])], lambda a: a / 4.0, args={"scalar": 4.0})
    op_case("pow/square", "pow", [I([2, 3])], lambda a: a ** 2, args={"scalar": 2})
    op_case("pow/cube_negative_base", "pow", [I([2, 3])], lambda a: a ** 3, args={"scalar": 3})
    op_case("pow/half", "pow", [I([2, 3], POS)], lambda a: a ** 0.5, args={"scalar": 0.5})
    op_case("pow/neg_frac", "pow", [I([2, 3], POS)], lambda a: a ** -1.5, args={"scalar": -1.5})

    # ---- unary
    unary = {
        "neg": (torch.neg, (1.0, 0.1, 0.0)), "exp": (torch.exp, (1.0, 0.1, 0.0)),
        "log": (torch.log, POS), "sqrt": (torch.sqrt, POS), "abs": (torch.abs, (1.0, 0.1, 0.0)),
        "sigmoid": (torch.sigmoid, (3.0, 0.1, 0.0)), "relu": (torch.relu, (1.0, 0.1, 0.0)),
        "tanh": (torch.tanh, (2.0, 0.1, 0.0)), "square": (torch.square, (1.0, 0.1, 0.0)),
        "reciprocal": (torch.reciprocal, POS), "sign": (torch.sign, (1.0, 0.1, 0.0)),
        "clone": (torch.clone, (1.0, 0.1, 0.0)),
    }
    for op, (fn, spec) in unary.items():
        op_case(f"unary/{op}", op, [I([3, 5], spec)], fn)
    op_case("unary/sigmoid_large", "sigmoid", [I([20], (30.0, 0.1, 0.0))], torch.sigmoid)

    # ---- matmul
    op_case("matmul/2d", "matmul", [I([3, 4]), I([4, 5], (1.0, 0.5, 0.0))], torch.matmul)
    op_case("matmul/batched", "matmul", [I([2, 3, 4]), I([2, 4, 5], (1.0, 0.5, 0.0))], torch.matmul)
    op_case("matmul/broadcast_batch", "matmul", [I([2, 1, 3, 4]), I([3, 4, 2], (1.0, 0.5, 0.0))], torch.matmul)
    op_case("matmul/batched_by_2d", "matmul", [I([2, 3, 4]), I([4, 5], (1.0, 0.5, 0.0))], torch.matmul)
    op_case("matmul/vec_mat", "matmul", [I([4]), I([4, 5], (1.0, 0.5, 0.0))], torch.matmul)
    op_case("matmul/mat_vec", "matmul", [I([3, 4]), I([4], (1.0, 0.5, 0.0))], torch.matmul)
    op_case("matmul/dot", "matmul", [I([4]), I([4], (1.0, 0.5, 0.0))], torch.matmul)
    op_case("linear/bias", "linear", [I([2, 3, 4]), I([5, 4], (0.5, 0.5, 0.0)), I([5], (0.3, 1.0, 0.0))],
            lambda x, w, b: F.linear(x, w, b))
    op_case("linear/no_bias", "linear", [I([3, 4]), I([5, 4], (0.5, 0.5, 0.0))], lambda x, w: F.linear(x, w))

    # ---- reductions
    x = [2, 3, 4]
    for op, fn in (("sum", torch.sum), ("mean", torch.mean)):
        op_case(f"{op}/all", op, [I(x)], lambda t: fn(t))
        op_case(f"{op}/dim1", op, [I(x)], lambda t: fn(t, 1), args={"dim": 1})
        op_case(f"{op}/dim_neg_keepdim", op, [I(x)], lambda t: fn(t, -1, keepdim=True), args={"dim": -1, "keepdim": True})
        op_case(f"{op}/dims02_keepdim", op, [I(x)], lambda t: fn(t, (0, 2), keepdim=True), args={"dim": [0, 2], "keepdim": True})
        op_case(f"{op}/dims12", op, [I(x)], lambda t: fn(t, (1, 2)), args={"dim": [1, 2]})
    for op, fn in (("amax", torch.amax), ("amin", torch.amin)):
        op_case(f"{op}/all", op, [I(x)], lambda t: fn(t))
        op_case(f"{op}/dim1", op, [I(x)], lambda t: fn(t, 1), args={"dim": 1})
        op_case(f"{op}/dim0_keepdim", op, [I(x)], lambda t: fn(t, 0, keepdim=True), args={"dim": 0, "keepdim": True})
        op_case(f"{op}/dim_neg", op, [I(x)], lambda t: fn(t, -1), args={"dim": -1})
    op_case("var/all", "var", [I(x)], lambda t: torch.var(t))
    op_case("var/dim1", "var", [I(x)], lambda t: torch.var(t, 1), args={"dim": 1})
    op_case("var/dims02_keepdim", "var", [I(x)], lambda t: torch.var(t, (0, 2), keepdim=True),
            args={"dim": [0, 2], "keepdim": True})
    op_case("var/biased_dim_neg", "var", [I(x)], lambda t: torch.var(t, -1, unbiased=False),
            args={"dim": -1, "unbiased": False})
    # Ties (quantised inputs): amax/amin split the gradient evenly between tied maxima; argmax takes the first.
    qx = (2.0, 0.1, 0.0, 1)
    op_case("amax/ties_dim1", "amax", [I(x, qx)], lambda t: torch.amax(t, 1), args={"dim": 1})
    op_case("amax/ties_all", "amax", [I(x, qx)], lambda t: torch.amax(t))
    op_case("amin/ties_dim_neg_keepdim", "amin", [I(x, qx)], lambda t: torch.amin(t, -1, keepdim=True), args={"dim": -1, "keepdim": True})
    op_case("maximum/ties", "maximum", [I([3, 4], qx), I([4], (2.0, 1.7, 0.0, 1))], torch.maximum)
    op_case("minimum/ties", "minimum", [I([3, 4], qx), I([4], (2.0, 1.7, 0.0, 1))], torch.minimum)
    op_case("argmax/ties_dim1", "argmax", [I(x, qx)], lambda t: torch.argmax(t, 1), args={"dim": 1}, grad=False)
    op_case("argmax/ties_all", "argmax", [I(x, qx)], lambda t: torch.argmax(t), grad=False)
    op_case("relu/ties_at_zero", "relu", [I([3, 4], (2.0, 0.1, 0.0, 1))], torch.relu)
    op_case("abs/ties_at_zero", "abs", [I([3, 4], (2.0, 0.1, 0.0, 1))], torch.abs)
    op_case("clamp/at_bounds", "clamp", [I([3, 5], (2.0, 0.1, 0.0, 1))], lambda t: torch.clamp(t, -1.0, 1.0),
            args={"min": -1.0, "max": 1.0})
    op_case("argmax/all", "argmax", [I(x)], lambda t: torch.argmax(t), grad=False)
    op_case("argmax/dim1", "argmax", [I(x)], lambda t: torch.argmax(t, 1), args={"dim": 1}, grad=False)
    op_case("argmax/dim_neg_keepdim", "argmax", [I(x)], lambda t: torch.argmax(t, -1, keepdim=True),
            args={"dim": -1, "keepdim": True}, grad=False)

    # ---- comparisons (quantised inputs so that ties occur)
    qa = (2.0, 0.1, 0.0, 1)
    qb = (2.0, 1.7, 0.0, 1)
    for op in ("eq", "ne", "lt", "le", "gt", "ge"):
        fn = getattr(torch, op)
        op_case(f"cmp/{op}", op, [I([3, 4], qa), I([4], qb)], fn, grad=False)
        op_case(f"cmp/{op}_number", op, [I([3, 4], qa)], lambda t, fn=fn: fn(t, 1.0), args={"scalar": 1.0}, grad=False)

    # ---- where / clamp
    op_case("where/same", "where", [I([3, 4], (1.0, 0.4, 0.0), grad=False), I([3, 4]), I([3, 4], (1.0, 2.0, 0.0))],
            lambda c, a, b: torch.where(c > 0, a, b))
    op_case("where/broadcast", "where", [I([3, 4], (1.0, 0.4, 0.0), grad=False), I([3, 1]), I([4], (1.0, 2.0, 0.0))],
            lambda c, a, b: torch.where(c > 0, a, b))
    op_case("clamp/both", "clamp", [I([3, 5], (2.0, 0.1, 0.0))], lambda t: torch.clamp(t, -0.5, 1.0),
            args={"min": -0.5, "max": 1.0})
    op_case("clamp/min", "clamp", [I([3, 5], (2.0, 0.1, 0.0))], lambda t: torch.clamp(t, min=0.2), args={"min": 0.2})
    op_case("clamp/max", "clamp", [I([3, 5], (2.0, 0.1, 0.0))], lambda t: torch.clamp(t, max=0.2), args={"max": 0.2})

    # ---- shape ops
    x4 = [2, 3, 2, 2]
    op_case("reshape/2d", "reshape", [I(x)], lambda t: t.reshape(4, 6), args={"shape": [4, 6]})
    op_case("reshape/infer", "reshape", [I(x)], lambda t: t.reshape(3, -1), args={"shape": [3, -1]})
    op_case("view/flat", "view", [I(x)], lambda t: t.view(-1), args={"shape": [-1]})
    op_case("flatten/default", "flatten", [I(x4)], lambda t: torch.flatten(t))
    op_case("flatten/start1", "flatten", [I(x4)], lambda t: torch.flatten(t, 1), args={"start": 1})
    op_case("flatten/1_2", "flatten", [I(x4)], lambda t: torch.flatten(t, 1, 2), args={"start": 1, "end": 2})
    op_case("transpose/0_2", "transpose", [I(x)], lambda t: t.transpose(0, 2), args={"d0": 0, "d1": 2})
    op_case("transpose/neg", "transpose", [I(x)], lambda t: t.transpose(-1, -2), args={"d0": -1, "d1": -2})
    op_case("T/2d", "T", [I([3, 4])], lambda t: t.T)
    op_case("permute/201", "permute", [I(x)], lambda t: t.permute(2, 0, 1), args={"dims": [2, 0, 1]})
    op_case("permute/nchw_nhwc", "permute", [I(x4)], lambda t: t.permute(0, 2, 3, 1), args={"dims": [0, 2, 3, 1]})
    op_case("squeeze/all", "squeeze", [I([2, 1, 3, 1])], lambda t: t.squeeze())
    op_case("squeeze/dim1", "squeeze", [I([2, 1, 3, 1])], lambda t: t.squeeze(1), args={"dim": 1})
    op_case("squeeze/noop", "squeeze", [I([2, 1, 3, 1])], lambda t: t.squeeze(0), args={"dim": 0})
    op_case("unsqueeze/0", "unsqueeze", [I([2, 3])], lambda t: t.unsqueeze(0), args={"dim": 0})
    op_case("unsqueeze/neg", "unsqueeze", [I([2, 3])], lambda t: t.unsqueeze(-1), args={"dim": -1})
    op_case("expand/lead", "expand", [I([3, 1])], lambda t: t.expand(2, 3, 4), args={"shape": [2, 3, 4]})
    op_case("cat/dim0", "cat", [I([1, 3]), I([2, 3], (1.0, 0.5, 0.0)), I([3, 3], (1.0, 0.9, 0.0))],
            lambda *ts: torch.cat(ts, 0), args={"dim": 0})
    op_case("cat/dim1", "cat", [I([2, 1, 2]), I([2, 3, 2], (1.0, 0.5, 0.0))], lambda *ts: torch.cat(ts, 1), args={"dim": 1})
    op_case("cat/dim_neg", "cat", [I([2, 2]), I([2, 3], (1.0, 0.5, 0.0))], lambda *ts: torch.cat(ts, -1), args={"dim": -1})
    op_case("stack/dim0", "stack", [I([2, 3]), I([2, 3], (1.0, 0.5, 0.0)), I([2, 3], (1.0, 0.9, 0.0))],
            lambda *ts: torch.stack(ts, 0), args={"dim": 0})
    op_case("stack/dim_last", "stack", [I([2, 3]), I([2, 3], (1.0, 0.5, 0.0))], lambda *ts: torch.stack(ts, 2), args={"dim": 2})
    op_case("slice/dim1", "slice", [I([3, 5])], lambda t: t[:, 1:3], args={"dim": 1, "start": 1, "end": 3})
    op_case("slice/to_end", "slice", [I(x)], lambda t: t[..., 2:], args={"dim": 2, "start": 2})
    op_case("slice/neg_start", "slice", [I([3, 5])], lambda t: t[-2:], args={"dim": 0, "start": -2})
    op_case("select/0", "select", [I(x)], lambda t: t[1], args={"dim": 0, "index": 1})
    op_case("select/neg", "select", [I(x)], lambda t: t[:, -1], args={"dim": 1, "index": -1})

    # ---- softmax and losses
    op_case("softmax/last", "softmax", [I([3, 4], (2.0, 0.1, 0.0))], lambda t: F.softmax(t, -1), args={"dim": -1})
    op_case("softmax/dim0", "softmax", [I([3, 4], (2.0, 0.1, 0.0))], lambda t: F.softmax(t, 0), args={"dim": 0})
    op_case("softmax/mid", "softmax", [I(x, (2.0, 0.1, 0.0))], lambda t: F.softmax(t, 1), args={"dim": 1})
    op_case("softmax/peaked", "softmax", [I([2, 5], (6.0, 0.1, 0.0))], lambda t: F.softmax(t, 1), args={"dim": 1})
    # Forward only: |x| up to 100 overflows a naive float32 exp; saturated grads are below float32 resolution.
    op_case("softmax/large_forward", "softmax", [I([2, 5], (100.0, 0.1, 0.0))], lambda t: F.softmax(t, 1), args={"dim": 1},
            grad=False)
    op_case("log_softmax/last", "log_softmax", [I([3, 4], (2.0, 0.1, 0.0))], lambda t: F.log_softmax(t, -1), args={"dim": -1})
    op_case("log_softmax/mid", "log_softmax", [I(x, (2.0, 0.1, 0.0))], lambda t: F.log_softmax(t, 1), args={"dim": 1})
    op_case("log_softmax/peaked", "log_softmax", [I([2, 5], (6.0, 0.1, 0.0))], lambda t: F.log_softmax(t, 1), args={"dim": 1})
    op_case("log_softmax/large_forward", "log_softmax", [I([2, 5], (100.0, 0.1, 0.0))], lambda t: F.log_softmax(t, 1),
            args={"dim": 1}, grad=False)
    tgt = {"shape": [4], "values": [2, 0, 4, 1], "int": True}
    for red in ("mean", "sum", "none"):
        op_case(f"cross_entropy/{red}", "cross_entropy", [I([4, 5], (2.0, 0.1, 0.0)), tgt],
                lambda z, t, red=red: F.cross_entropy(z, t, reduction=red), args={"reduction": red})
        op_case(f"nll_loss/{red}", "nll_loss", [I([4, 5], (1.0, 0.1, -2.0)), tgt],
                lambda z, t, red=red: F.nll_loss(z, t, reduction=red), args={"reduction": red})
        op_case(f"mse_loss/{red}", "mse_loss", [I([3, 4]), I([3, 4], (1.0, 0.8, 0.2))],
                lambda a, b, red=red: F.mse_loss(a, b, reduction=red), args={"reduction": red})


# ---------------------------------------------------------------- layer cases

LAYERS = []

PARAM_FILLS = {"weight": (0.3, 0.5, 0.0), "bias": (0.2, 1.1, 0.0)}
BN_FILLS = {"weight": (0.3, 0.5, 1.0), "bias": (0.2, 1.1, 0.0)}
BN_BUFFERS = {"running_mean": (0.4, 0.2, 0.1), "running_var": (0.5, 0.7, 1.2)}


def pair(v):
    """JSON lists become torch's (h, w) tuples; ints stay ints."""
    return tuple(v) if isinstance(v, list) else v


def build(kind, ctor):
    if kind == "Conv2d":
        return nn.Conv2d(ctor["in"], ctor["out"], pair(ctor["k"]), stride=pair(ctor.get("stride", 1)),
                         padding=pair(ctor.get("padding", 0)), bias=ctor.get("bias", True))
    if kind == "Linear":
        return nn.Linear(ctor["in"], ctor["out"], bias=ctor.get("bias", True))
    if kind == "AvgPool2d":
        return nn.AvgPool2d(ctor["k"], stride=ctor.get("stride"), padding=ctor.get("padding", 0),
                            count_include_pad=ctor.get("countIncludePad", True))
    if kind == "MaxPool2d":
        return nn.MaxPool2d(ctor["k"], stride=ctor.get("stride"), padding=ctor.get("padding", 0))
    if kind == "AdaptiveAvgPool2d":
        return nn.AdaptiveAvgPool2d(pair(ctor["out"]))
    if kind == "Flatten":
        return nn.Flatten(ctor.get("start", 1), ctor.get("end", -1))
    if kind in ("BatchNorm1d", "BatchNorm2d"):
        cls = nn.BatchNorm1d if kind == "BatchNorm1d" else nn.BatchNorm2d
        return cls(ctor["num"], eps=ctor.get("eps", 1e-5), momentum=ctor.get("momentum", 0.1), affine=ctor.get("affine", True))
    if kind == "ReLU":
        return nn.ReLU()
    if kind == "Sigmoid":
        return nn.Sigmoid()
    if kind == "Tanh":
        return nn.Tanh()
    raise ValueError(kind)


def layer_case(name, kind, ctor, in_shape, in_fill=(1.0, 0.1, 0.0), train=True, buffers=None, r=None, functional=False):
    """functional: the TS side calls the torch.nn.functional form (for options the module lacks)."""
    r = r or R_DEFAULT
    m = build(kind, ctor).double()
    m.train(train)
    params = {}
    fills = BN_FILLS if kind.startswith("BatchNorm") else PARAM_FILLS
    with torch.no_grad():
        for pname, p in m.named_parameters():
            p.copy_(fill(shape_of(p), fills[pname]))
            params[pname] = {"shape": shape_of(p), "fill": list(fills[pname])}
        buf_init = {}
        for bname, spec in (buffers or {}).items():
            getattr(m, bname).copy_(fill(shape_of(getattr(m, bname)), spec))
            buf_init[bname] = list(spec)
    x = fill(in_shape, in_fill, requires_grad=True)
    out = m(x)
    loss_of(out, r).backward()
    grads = {"input": flat(x.grad)}
    for pname, p in m.named_parameters():
        grads[pname] = flat(p.grad)
    case = {"name": name, "module": kind, "ctor": ctor, "train": train, "functional": functional,
            "input": {"shape": list(in_shape), "fill": list(in_fill)},
            "params": params, "buffers_init": buf_init, "r": r,
            "out": {"shape": shape_of(out), "data": flat(out)}, "grads": grads}
    bufs = {}
    for bname, b in m.named_buffers():
        bufs[bname] = {"shape": shape_of(b), "data": flat(b.float())}
    if bufs:
        case["buffers_after"] = bufs
    LAYERS.append(case)


def gen_layers():
    # Conv2d
    layer_case("conv/k3_s1_p0", "Conv2d", {"in": 3, "out": 4, "k": 3}, [2, 3, 6, 6])
    layer_case("conv/k3_s1_p1", "Conv2d", {"in": 3, "out": 4, "k": 3, "padding": 1}, [2, 3, 5, 5])
    layer_case("conv/k3_s2_p1", "Conv2d", {"in": 3, "out": 4, "k": 3, "stride": 2, "padding": 1}, [2, 3, 7, 7])
    layer_case("conv/k3_s1_p1_nobias", "Conv2d", {"in": 3, "out": 4, "k": 3, "padding": 1, "bias": False}, [2, 3, 5, 5])
    layer_case("conv/k1_pointwise", "Conv2d", {"in": 3, "out": 5, "k": 1}, [2, 3, 4, 4])
    layer_case("conv/k1_nobias", "Conv2d", {"in": 4, "out": 2, "k": 1, "bias": False}, [2, 4, 3, 3])
    layer_case("conv/k1_s2", "Conv2d", {"in": 3, "out": 4, "k": 1, "stride": 2}, [1, 3, 5, 5])
    layer_case("conv/k5_p2_lenet", "Conv2d", {"in": 1, "out": 6, "k": 5, "padding": 2}, [2, 1, 8, 8])
    layer_case("conv/k11_s4_p1_alexnet", "Conv2d", {"in": 3, "out": 4, "k": 11, "stride": 4, "padding": 1}, [1, 3, 27, 27],
               in_fill=(1.0, 0.1, 0.0))
    layer_case("conv/rect_k3x2_s2x1_p1x0", "Conv2d", {"in": 2, "out": 3, "k": [3, 2], "stride": [2, 1], "padding": [1, 0]},
               [2, 2, 5, 4])
    layer_case("conv/k7_s2_p3_resnet", "Conv2d", {"in": 2, "out": 3, "k": 7, "stride": 2, "padding": 3}, [1, 2, 9, 9])
    # Linear
    layer_case("linear/basic", "Linear", {"in": 4, "out": 3}, [2, 4])
    layer_case("linear/no_bias", "Linear", {"in": 4, "out": 3, "bias": False}, [5, 4])
    layer_case("linear/3d_input", "Linear", {"in": 4, "out": 3}, [2, 3, 4])
    # AvgPool2d
    layer_case("avgpool/k2", "AvgPool2d", {"k": 2}, [2, 3, 4, 4])
    layer_case("avgpool/k2_s2_odd", "AvgPool2d", {"k": 2, "stride": 2}, [1, 2, 5, 5])
    layer_case("avgpool/k3_s2_p1", "AvgPool2d", {"k": 3, "stride": 2, "padding": 1}, [1, 2, 5, 5])
    layer_case("avgpool/k3_s1_p1", "AvgPool2d", {"k": 3, "stride": 1, "padding": 1}, [1, 2, 4, 4])
    layer_case("avgpool/k3_s2_p1_exclude_pad", "AvgPool2d", {"k": 3, "stride": 2, "padding": 1, "countIncludePad": False},
               [1, 2, 5, 5], functional=True)
    layer_case("avgpool/k3_s1_p1_exclude_pad", "AvgPool2d", {"k": 3, "stride": 1, "padding": 1, "countIncludePad": False},
               [1, 2, 4, 4], functional=True)
    # MaxPool2d
    layer_case("maxpool/k2_s2", "MaxPool2d", {"k": 2, "stride": 2}, [2, 3, 4, 4])
    layer_case("maxpool/k3_s2_overlap", "MaxPool2d", {"k": 3, "stride": 2}, [1, 2, 7, 7])
    layer_case("maxpool/k3_s1_p1_googlenet", "MaxPool2d", {"k": 3, "stride": 1, "padding": 1}, [1, 2, 5, 5])
    layer_case("maxpool/k3_s2_p1_resnet", "MaxPool2d", {"k": 3, "stride": 2, "padding": 1}, [1, 2, 6, 6])
    layer_case("maxpool/k2_default_stride_odd", "MaxPool2d", {"k": 2}, [1, 2, 5, 5])
    # Ties (as after a ReLU): the gradient goes to the first maximum of each window.
    layer_case("maxpool/k2_ties", "MaxPool2d", {"k": 2, "stride": 2}, [1, 2, 4, 4], in_fill=(1.0, 0.1, 0.0, 1))
    layer_case("maxpool/k3_s1_p1_ties", "MaxPool2d", {"k": 3, "stride": 1, "padding": 1}, [1, 2, 5, 5], in_fill=(1.0, 0.1, -0.5, 1))
    # AdaptiveAvgPool2d
    layer_case("adaptive/1x1", "AdaptiveAvgPool2d", {"out": [1, 1]}, [2, 3, 4, 4])
    layer_case("adaptive/5x5_to_3x3", "AdaptiveAvgPool2d", {"out": [3, 3]}, [1, 2, 5, 5])
    layer_case("adaptive/7x5_to_3x2", "AdaptiveAvgPool2d", {"out": [3, 2]}, [1, 2, 7, 5])
    layer_case("adaptive/6x6_to_2x3", "AdaptiveAvgPool2d", {"out": [2, 3]}, [1, 2, 6, 6])
    layer_case("adaptive/3x3_to_4x4_upsample", "AdaptiveAvgPool2d", {"out": [4, 4]}, [1, 1, 3, 3])
    # Flatten and activations
    layer_case("flatten/default", "Flatten", {}, [2, 3, 2, 2])
    layer_case("flatten/2_3", "Flatten", {"start": 2, "end": 3}, [2, 3, 2, 2])
    layer_case("relu/module", "ReLU", {}, [2, 5])
    layer_case("sigmoid/module", "Sigmoid", {}, [2, 5], in_fill=(3.0, 0.1, 0.0))
    layer_case("tanh/module", "Tanh", {}, [2, 5], in_fill=(2.0, 0.1, 0.0))
    # BatchNorm
    layer_case("bn1d/train", "BatchNorm1d", {"num": 3}, [4, 3], in_fill=(1.5, 0.1, 0.3))
    layer_case("bn1d/train_3d", "BatchNorm1d", {"num": 3}, [4, 3, 5], in_fill=(1.5, 0.1, 0.3))
    layer_case("bn1d/train_from_stats_momentum", "BatchNorm1d", {"num": 3, "momentum": 0.3}, [6, 3],
               in_fill=(1.5, 0.1, 0.3), buffers=BN_BUFFERS)
    layer_case("bn1d/eval", "BatchNorm1d", {"num": 3}, [4, 3], in_fill=(1.5, 0.1, 0.3), train=False, buffers=BN_BUFFERS)
    layer_case("bn2d/train", "BatchNorm2d", {"num": 3}, [2, 3, 4, 4], in_fill=(1.5, 0.1, 0.3))
    layer_case("bn2d/train_eps_momentum", "BatchNorm2d", {"num": 2, "eps": 1e-3, "momentum": 0.5}, [3, 2, 2, 3],
               in_fill=(1.5, 0.1, 0.3), buffers=BN_BUFFERS)
    layer_case("bn2d/train_no_affine", "BatchNorm2d", {"num": 3, "affine": False}, [2, 3, 3, 3], in_fill=(1.5, 0.1, 0.3))
    layer_case("bn2d/eval", "BatchNorm2d", {"num": 3}, [2, 3, 4, 4], in_fill=(1.5, 0.1, 0.3), train=False, buffers=BN_BUFFERS)
    layer_case("bn2d/eval_no_affine", "BatchNorm2d", {"num": 3, "affine": False}, [2, 3, 2, 2], in_fill=(1.5, 0.1, 0.3),
               train=False, buffers=BN_BUFFERS)


# ---------------------------------------------------------------- optimisers

OPTIM = []
OPT_PARAMS = [{"shape": [3, 4], "fill": [1.0, 0.1, 0.0]}, {"shape": [5], "fill": [0.5, 1.3, 0.2]}]
OPT_R = [[1.0, 0.3, 0.2], [0.8, 2.1, 0.5]]


def optim_case(name, kind, opts, steps=3):
    params = [fill(p["shape"], p["fill"], requires_grad=True) for p in OPT_PARAMS]
    rs = [fill(p["shape"], r) for p, r in zip(OPT_PARAMS, OPT_R)]
    kw = {}
    if kind == "SGD":
        kw = dict(lr=opts["lr"], momentum=opts.get("momentum", 0), dampening=opts.get("dampening", 0),
                  weight_decay=opts.get("weightDecay", 0), nesterov=opts.get("nesterov", False),
                  maximize=opts.get("maximize", False))
        opt = torch.optim.SGD(params, **kw)
    else:
        cls = torch.optim.Adam if kind == "Adam" else torch.optim.AdamW
        kw = dict(lr=opts.get("lr", 1e-3), betas=tuple(opts.get("betas", (0.9, 0.999))), eps=opts.get("eps", 1e-8))
        if "weightDecay" in opts:
            kw["weight_decay"] = opts["weightDecay"]
        opt = cls(params, **kw)
    history = []
    for _ in range(steps):
        opt.zero_grad()
        # L = sum_p sum(p * p * R_p): the gradient 2·p·R depends on p, so state matters.
        loss = sum((p * p * r).sum() for p, r in zip(params, rs))
        loss.backward()
        opt.step()
        history.append([flat(p) for p in params])
    OPTIM.append({"name": name, "optim": kind, "opts": opts, "params": OPT_PARAMS, "r": OPT_R, "steps": steps,
                  "history": history})


def gen_optim():
    optim_case("sgd/plain", "SGD", {"lr": 0.1})
    optim_case("sgd/momentum", "SGD", {"lr": 0.1, "momentum": 0.9})
    optim_case("sgd/momentum_dampening", "SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.3})
    optim_case("sgd/nesterov", "SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True})
    optim_case("sgd/weight_decay", "SGD", {"lr": 0.1, "weightDecay": 0.05})
    optim_case("sgd/momentum_weight_decay", "SGD", {"lr": 0.05, "momentum": 0.8, "weightDecay": 0.1})
    optim_case("sgd/nesterov_weight_decay", "SGD", {"lr": 0.05, "momentum": 0.8, "weightDecay": 0.1, "nesterov": True})
    optim_case("sgd/maximize", "SGD", {"lr": 0.01, "momentum": 0.5, "maximize": True})
    optim_case("adam/default", "Adam", {"lr": 0.1})
    optim_case("adam/betas_eps", "Adam", {"lr": 0.05, "betas": [0.8, 0.99], "eps": 1e-6})
    optim_case("adam/weight_decay", "Adam", {"lr": 0.1, "weightDecay": 0.1})
    optim_case("adamw/default", "AdamW", {"lr": 0.1})
    optim_case("adamw/weight_decay", "AdamW", {"lr": 0.1, "weightDecay": 0.3})


# ---------------------------------------------------------------- nn structure + a whole model

class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(Block(), nn.MaxPool2d(2), nn.Conv2d(4, 8, 1, bias=False), nn.BatchNorm2d(8))
        self.pool = nn.AdaptiveAvgPool2d((1, 1))
        self.flatten = nn.Flatten()
        self.head = nn.Sequential(nn.Linear(8, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Dropout(0.5), nn.Linear(6, 3))

    def forward(self, x):
        return self.head(self.flatten(self.pool(self.features(x))))


def model_fill(key, idx):
    leaf = key.split(".")[-1]
    if leaf == "running_var":
        return [0.3, 0.37 * idx, 1.0]
    if leaf == "weight" and ("bn" in key or key in ("features.3.weight", "head.1.weight")):
        return [0.3, 0.37 * idx, 1.0]
    return [0.4, 0.37 * idx, 0.0]


def gen_nn():
    net = Net().double()
    sd = net.state_dict()
    fills = {}
    with torch.no_grad():
        for idx, (k, v) in enumerate(sd.items()):
            if k.endswith("num_batches_tracked"):
                continue
            fills[k] = model_fill(k, idx)
            v.copy_(fill(shape_of(v), fills[k]))
    apply_order = []
    net.apply(lambda m: apply_order.append(type(m).__name__))
    x_spec = [1.0, 0.1, 0.2]
    x = fill([4, 3, 6, 6], x_spec, requires_grad=True)
    # Dropout makes train mode random; disable just it (p=0 keeps the module and its key-less state).
    net.head[3].p = 0.0
    net.train()
    out = net(x)
    loss_of(out, R_DEFAULT).backward()
    train = {"out": {"shape": shape_of(out), "data": flat(out)}, "input_grad": flat(x.grad),
             "param_grads": {k: flat(p.grad) for k, p in net.named_parameters()},
             "buffers_after": {k: {"shape": shape_of(b), "data": flat(b.float())} for k, b in net.named_buffers()}}
    net.eval()
    with torch.no_grad():
        eval_out = net(fill([2, 3, 6, 6], x_spec))
    return {
        "state_dict": [{"key": k, "shape": shape_of(v), "dtype": "float32" if v.is_floating_point() else str(v.dtype).replace("torch.", "")} for k, v in sd.items()],
        "named_parameters": [k for k, _ in net.named_parameters()],
        "named_buffers": [k for k, _ in net.named_buffers()],
        "named_modules": [[k, type(m).__name__] for k, m in net.named_modules()],
        "apply_order": apply_order,
        "fills": fills,
        "input": {"shape": [4, 3, 6, 6], "fill": x_spec},
        "eval_input": {"shape": [2, 3, 6, 6], "fill": x_spec},
        "r": R_DEFAULT,
        "train": train,
        "eval_out": {"shape": shape_of(eval_out), "data": flat(eval_out)},
        "repr": {
            "Linear": repr(nn.Linear(8, 6)),
            "Conv2d": repr(nn.Conv2d(3, 4, 3, padding=1)),
            "Conv2d_nobias_stride": repr(nn.Conv2d(4, 8, 1, stride=2, bias=False)),
            "BatchNorm2d": repr(nn.BatchNorm2d(4)),
            "MaxPool2d": repr(nn.MaxPool2d(3, 2, 1)),
            "Flatten": repr(nn.Flatten()),
            "Dropout": repr(nn.Dropout(0.5)),
            "Sequential": repr(nn.Sequential(nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 3))),
        },
    }


# ---------------------------------------------------------------- tensor printing

def gen_format():
    cases = []

    def add(name, t, then=None, spec=None):
        tt = t
        if then == "mul2":
            tt = t * 2
        elif then == "sum":
            tt = t.sum()
        if spec is None:
            spec = {"values": [rnd(v) for v in t.detach().reshape(-1).tolist()], "shape": shape_of(t)}
        spec = dict(spec)
        spec.update({"name": name, "dtype": "int32" if t.dtype == torch.int32 else "float32",
                     "requires_grad": bool(t.requires_grad), "then": then, "expected": repr(tt)})
        cases.append(spec)

    add("2x2", torch.tensor([[0.1, 2.0], [3.0, 4.0]]))
    add("ints_as_float", torch.tensor([1.0, -2.0, 3.0]))
    add("negative", torch.tensor([-0.5, 0.25, -1.125]))
    add("scalar", torch.tensor(3.5))
    add("scalar_int_valued", torch.tensor(2.0))
    add("int32", torch.tensor([1, -2, 30], dtype=torch.int32))
    add("sci_small", torch.tensor([1e-5, 1.0, 1000.0]))
    add("sci_large", torch.tensor([1.5e9, 2.0]))
    add("big_int_valued", torch.tensor([123456789.0, 1.0]))
    add("3d", fill32([2, 2, 3], [1.0, 0.1, 0.0]), spec={"fill": [1.0, 0.1, 0.0], "shape": [2, 2, 3]})
    add("wrap_20", torch.arange(20, dtype=torch.float32) * 1.5)
    add("wrap_2d", fill32([2, 12], [2.0, 0.1, 0.0]), spec={"fill": [2.0, 0.1, 0.0], "shape": [2, 12]})
    add("summarised_1d", torch.arange(2000, dtype=torch.float32) / 7, spec={"arange": 2000, "div": 7, "shape": [2000]})
    add("summarised_2d", (torch.arange(1200, dtype=torch.float32) / 4).reshape(40, 30),
        spec={"arange": 1200, "div": 4, "shape": [40, 30]})
    add("nan_inf", torch.tensor([float("nan"), float("inf"), -float("inf"), 1.5]))
    add("zeros", torch.zeros(3))
    add("empty", torch.tensor([]))
    add("half_even_rounding", torch.tensor([0.03125, 1.03125, 0.00015, -2.5]))
    add("int_valued_wide_range", torch.tensor([1.0, 2000.0]))
    add("nan_with_ints", torch.tensor([float("nan"), 1.0]))
    add("negative_zero", torch.tensor([-0.0, 1.5]))
    add("single_tiny", torch.tensor([1e-5]))
    add("mixed_magnitudes", torch.tensor([123.456, 0.5, -7.25]))
    add("int32_summarised", torch.arange(-1000, 1000, dtype=torch.int32),
        spec={"arange": 2000, "div": 1, "start": -1000, "shape": [2000]})
    add("summarised_3d", (torch.arange(2000, dtype=torch.float32) - 1000).reshape(20, 10, 10),
        spec={"arange": 2000, "div": 1, "start": -1000, "shape": [20, 10, 10]})
    add("empty_2d", torch.zeros(0, 3))
    add("wrap_with_grad_suffix", (torch.arange(20, dtype=torch.float32) * 1.5).requires_grad_(),
        spec={"arange": 20, "mul": 1.5, "shape": [20]})
    add("requires_grad", torch.tensor([1.0, 2.5], requires_grad=True))
    add("grad_fn_mul", torch.tensor([1.0, 2.5], requires_grad=True), then="mul2")
    add("grad_fn_sum", torch.tensor([1.0, 2.5], requires_grad=True), then="sum")
    return cases


# ---------------------------------------------------------------- filler self-check

def gen_fill_check():
    specs = [[1.0, 0.0, 0.0], [0.5, 1.3, 0.2], [2.0, 0.1, 0.0, 1], [3.0, 0.7, -1.0, 4]]
    out = []
    for s in specs:
        v = fill_np([1000], s)
        out.append({"fill": s, "n": 1000, "first": [float(x) for x in v[:8]], "at": {str(i): float(v[i]) for i in (99, 500, 999)},
                    "sum": float(v.astype(np.float64).sum())})
    return out


# ---------------------------------------------------------------- main

def dump(name, obj):
    path = os.path.join(OUT_DIR, name)
    with open(path, "w") as f:
        json.dump(obj, f, separators=(",", ":"), allow_nan=False)
        f.write("\n")
    return os.path.getsize(path)


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    gen_ops()
    gen_layers()
    gen_optim()
    meta = {"torch": torch.__version__, "generator": "scripts/gen_fixtures.py"}
    total = 0
    total += dump("fill.json", {"meta": meta, "cases": gen_fill_check()})
    total += dump("ops.json", {"meta": meta, "cases": OPS})
    total += dump("layers.json", {"meta": meta, "cases": LAYERS})
    total += dump("optim.json", {"meta": meta, "cases": OPTIM})
    total += dump("nn.json", {"meta": meta, **gen_nn()})
    total += dump("format.json", {"meta": meta, "cases": gen_format()})
    print(f"wrote {len(OPS)} op, {len(LAYERS)} layer, {len(OPTIM)} optimiser cases; {total} bytes in {OUT_DIR}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
