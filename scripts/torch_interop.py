"""PyTorch <-> torchlet checkpoint interop, PyTorch side (safetensors, PyTorch state_dict keys).

  load:   load a torchlet checkpoint into the PyTorch twin with load_state_dict(strict=True)
          and write its eval-mode logits on a given input.
            /usr/bin/python3 scripts/torch_interop.py load --model NAME --checkpoint CKPT \
                --input IN.safetensors --out OUT.safetensors
          IN holds `input`; OUT gets `logits`.
  export: build the twin with PyTorch's own init (torch.manual_seed(SEED)), run one
          training-mode forward (so BatchNorm running stats are non-trivial), save its
          state_dict, and write `input` and eval-mode `logits`. (Networks without BatchNorm
          skip the training forward.)
            /usr/bin/python3 scripts/torch_interop.py export --model NAME --checkpoint CKPT \
                --io IO.safetensors [--batch 2] [--seed 0]
  --serve: JSON requests on stdin, one per line ({"cmd": "load"|"export", ...same fields}).
"""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_zoo  # noqa: E402
import torch_safetensors  # noqa: E402


def cmd_load(model, checkpoint, input, out):
    t0 = time.time()
    net = torch_zoo.create_model(model)
    state, meta = torch_safetensors.load_file(checkpoint)
    net.load_state_dict(state, strict=True)
    nbt = {k: str(v.dtype).replace("torch.", "") for k, v in net.state_dict().items() if k.endswith("num_batches_tracked")}
    net.eval()
    x = torch_safetensors.load_file(input)[0]["input"]
    with torch.no_grad():
        logits = net(x)
    torch_safetensors.save_file({"logits": logits}, out)
    return {"seconds": round(time.time() - t0, 3), "metadata": meta,
            "file_dtypes": sorted({str(v.dtype).replace("torch.", "") for v in state.values()}),
            "num_batches_tracked_dtypes": sorted(set(nbt.values()))}


def cmd_export(model, checkpoint, io, batch=2, seed=0):
    t0 = time.time()
    torch.manual_seed(seed)
    net = torch_zoo.create_model(model)
    shape = tuple(torch_zoo.input_shape(model))
    if any(k.endswith(("running_mean", "moving_mean")) for k, _ in net.named_buffers()):
        net.train()
        net(torch.rand((4,) + shape))  # grad enabled: training-mode BatchNorm updates running stats
    net.eval()
    x = torch.rand((batch,) + shape)
    with torch.no_grad():
        logits = net(x)
    torch_safetensors.save_file(net.state_dict(), checkpoint, {"format": "pt", "model": model})
    torch_safetensors.save_file({"input": x, "logits": logits}, io)
    return {"seconds": round(time.time() - t0, 3)}


def dispatch(req):
    cmd = req.pop("cmd")
    if cmd == "load":
        return cmd_load(**req)
    if cmd == "export":
        return cmd_export(**req)
    raise ValueError(f"unknown cmd {cmd!r}")


def serve():
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            res = dispatch(json.loads(line))
            res["ok"] = True
        except Exception as e:
            import traceback
            res = {"ok": False, "error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()}
        sys.stdout.write(json.dumps(res) + "\n")
        sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cmd", nargs="?", choices=["load", "export"])
    ap.add_argument("--model", choices=list(torch_zoo.MODELS))
    ap.add_argument("--checkpoint")
    ap.add_argument("--input")
    ap.add_argument("--out")
    ap.add_argument("--io")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--serve", action="store_true")
    a = ap.parse_args()
    if a.serve:
        serve()
        return
    if a.cmd == "load":
        if not (a.model and a.checkpoint and a.input and a.out):
            ap.error("load needs --model --checkpoint --input --out")
        res = cmd_load(a.model, a.checkpoint, a.input, a.out)
    elif a.cmd == "export":
        if not (a.model and a.checkpoint and a.io):
            ap.error("export needs --model --checkpoint --io")
        res = cmd_export(a.model, a.checkpoint, a.io, a.batch, a.seed)
    else:
        ap.error("give a command (load or export) or --serve")
    print(json.dumps(res))


if __name__ == "__main__":
    main()
