"""Minimal safetensors reader/writer for torch tensors (no `safetensors` package needed).

Writes files the way the reference implementation does: tensors laid out by
dtype (widest first) then name, compact JSON header with __metadata__ first,
padded with spaces to a multiple of 8 bytes. Writes are atomic (temp file in
the same directory, fsync, rename).
"""
import json
import os
import struct
import tempfile

import numpy as np
import torch

_TORCH_TO_ST = {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.uint8: "U8",
}
_ST_TO_TORCH = {v: k for k, v in _TORCH_TO_ST.items()}
_SIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "U8": 1}
# The reference's dtype enum order; files are sorted by it, descending.
_RANK = {"BOOL": 0, "U8": 1, "I8": 2, "F8_E5M2": 3, "F8_E4M3": 4, "I16": 5, "U16": 6, "F16": 7,
         "BF16": 8, "I32": 9, "U32": 10, "F32": 11, "F64": 12, "I64": 13, "U64": 14}


def _to_buffer(t):
    """The tensor's bytes as a buffer (no copy for contiguous CPU tensors)."""
    t = t.detach().contiguous().cpu()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return memoryview(t.numpy()).cast("B")


def _prepare(tensors, metadata):
    """(header bytes, [buffers in file order])."""
    entries = []
    for name, t in tensors.items():
        if t.dtype not in _TORCH_TO_ST:
            raise ValueError(f"safetensors: unsupported dtype {t.dtype} for {name}")
        entries.append((name, _TORCH_TO_ST[t.dtype], t))
    entries.sort(key=lambda e: (-_RANK[e[1]], e[0].encode("utf-8")))
    header = {}
    if metadata is not None:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    offset = 0
    for name, dt, t in entries:
        b = _to_buffer(t)
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [offset, offset + b.nbytes]}
        offset += b.nbytes
        blobs.append(b)
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * ((8 - len(hb) % 8) % 8)
    return struct.pack("<Q", len(hb)) + hb, blobs


def serialize(tensors, metadata=None):
    """tensors: dict name -> torch.Tensor. Returns bytes."""
    head, blobs = _prepare(tensors, metadata)
    return head + b"".join(bytes(b) for b in blobs)


def save_file(tensors, path, metadata=None):
    head, blobs = _prepare(tensors, metadata)
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=d, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(head)
            for b in blobs:
                f.write(b)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def deserialize(data, label="safetensors"):
    """Returns (dict name -> torch.Tensor in file order, metadata dict)."""
    if len(data) < 8:
        raise ValueError(f"{label}: truncated ({len(data)} bytes)")
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        raise ValueError(f"{label}: truncated header")
    header = json.loads(data[8:8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", {}) or {}
    base = 8 + n
    items = sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0])
    out = {}
    expected = 0
    for name, info in items:
        b, e = info["data_offsets"]
        dt = info["dtype"]
        if b != expected:
            raise ValueError(f"{label}: bad data_offsets for {name}")
        count = int(np.prod(info["shape"], dtype=np.int64))
        if e - b != count * _SIZE[dt]:
            raise ValueError(f"{label}: size mismatch for {name}")
        raw = data[base + b:base + e]
        if dt == "BF16":
            t = torch.from_numpy(np.frombuffer(raw, dtype=np.int16).copy()).view(torch.bfloat16)
        else:
            np_dtype = torch.empty(0, dtype=_ST_TO_TORCH[dt]).numpy().dtype
            t = torch.from_numpy(np.frombuffer(raw, dtype=np_dtype).copy())
        out[name] = t.reshape(info["shape"])
        expected = e
    if base + expected != len(data):
        raise ValueError(f"{label}: data size mismatch")
    return out, metadata


def load_file(path):
    with open(path, "rb") as f:
        return deserialize(f.read(), path)
