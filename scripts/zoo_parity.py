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
in state_dict order) and fingerprints (JSON {key: [sum v, sum v*(i%997+1)]} of the
formula weights, to check both sides built the same weights).
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_zoo  # noqa: E402
import torch_safetensors  # noqa: E402


def fingerprint(t):
    v = t.detach().reshape(-1).double().numpy()
    w = (np.arange(v.size) % 997 + 1).astype(np.float64)
    return [float(v.sum()), float((v * w).sum())]


def run_parity(model_name, batch, out_path, dtype="float32"):
    t0 = time.time()
    model = torch_zoo.create_model(model_name)
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
