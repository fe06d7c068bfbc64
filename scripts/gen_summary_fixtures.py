"""torchinfo's totals for the zoo's PyTorch twins, computed with forward hooks
the way torchinfo computes them (torchinfo itself is not packaged in Debian).

For every module a forward runs, in call order, one row: depth, class name,
output shape, its parameters (leaves) and its mult-adds. Mult-adds follow
torchinfo's LayerInfo.calculate_macs for leaf layers: a Conv* layer counts each
weight and bias element once per output position (batch × output H × W), any
other layer counts each of its weight/bias elements once per batch row.
Totals add the leaves (plus parameters a container holds itself), so they are
torchinfo's "Total params", "Trainable params" and "Total mult-adds".

    /usr/bin/python3 scripts/gen_summary_fixtures.py   # writes test/fixtures/summary/torchinfo.json
"""
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
import torch_zoo  # noqa: E402


def macs_of(module, output_shape):
    name = type(module).__name__
    total = 0
    for pname, p in module.named_parameters():
        if pname in ("weight", "bias"):
            if "Conv" in name:
                total += p.numel() * math.prod([output_shape[0], *output_shape[2:]])
            else:
                total += output_shape[0] * p.numel()
        elif "weight" in pname or "bias" in pname:
            total += math.prod(output_shape[:2]) * p.numel()
    return total


def summarize(model, input_size):
    rows = []
    seen = set()
    hooks = []

    def attach(module, depth):
        def pre(mod, inputs):
            row = {"depth": depth, "name": type(mod).__name__, "leaf": not any(mod.children())}
            rows.append(row)
            mod._torchlet_rows = getattr(mod, "_torchlet_rows", []) + [row]

        def post(mod, inputs, output):
            row = mod._torchlet_rows.pop(0)
            row["output"] = list(output.shape)
            recursive = id(mod) in seen and any(True for _ in mod.parameters())
            seen.add(id(mod))
            own = sum(p.numel() for p in mod.parameters(recurse=row["leaf"]))
            trainable = sum(p.numel() for p in mod.parameters(recurse=row["leaf"]) if p.requires_grad)
            row["hasParams"] = any(True for _ in mod.parameters())
            row["params"] = 0 if recursive else own
            row["trainable"] = 0 if recursive else trainable
            row["macs"] = macs_of(mod, row["output"]) if row["leaf"] else 0

        hooks.append(module.register_forward_pre_hook(pre))
        hooks.append(module.register_forward_hook(post))
        for child in module.children():
            attach(child, depth + 1)

    attach(model, 0)
    model.eval()
    with torch.no_grad():
        model(torch.rand(*input_size))
    for h in hooks:
        h.remove()
    leaves = [r for r in rows if r["leaf"]]
    return {
        "input": list(input_size),
        "rows": rows,
        "totalParams": sum(r["params"] for r in rows),
        "trainableParams": sum(r["trainable"] for r in rows),
        "totalMacs": sum(r["macs"] for r in leaves),
        # torchinfo's "Forward/backward pass size": leaf outputs of layers with parameters, twice (gradients).
        "forwardBackwardBytes": sum(2 * 4 * math.prod(r["output"]) for r in leaves if r["hasParams"]),
        "paramBytes": 4 * sum(p.numel() for p in model.parameters()),
    }


def main():
    out = {}
    for name in torch_zoo.MODELS:
        torch.manual_seed(0)
        model = torch_zoo.create_model(name)
        out[name] = summarize(model, (1, *torch_zoo.input_shape(name)))
    path = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "summary", "torchinfo.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    for name, s in out.items():
        print(f"{name}: params {s['totalParams']:,}, trainable {s['trainableParams']:,}, mult-adds {s['totalMacs']:,}")


if __name__ == "__main__":
    main()
