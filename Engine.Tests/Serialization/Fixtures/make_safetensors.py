"""Writes the safetensors fixtures of Engine.Tests/Serialization with PyTorch 1.13 (Debian python3-torch).

The safetensors package is not installable here, so `save_file` below writes the format exactly as the reference
implementation (huggingface/safetensors, `tensor.rs::prepare`/`serialize`) does: tensors sorted by descending dtype
alignment then by name, laid out back to back; compact JSON header with `__metadata__` first and each entry's keys
in the order dtype, shape, data_offsets; the header padded with spaces to a multiple of 8; an 8-byte little-endian
header length in front. `load_file` is the matching reader used to check that a file written by the engine loads
into `torch.nn.Sequential` with `load_state_dict` (run: python3 make_safetensors.py --check FILE).

Run from this folder: /usr/bin/python3 make_safetensors.py
"""
import json
import struct
import sys

import numpy as np
import torch

# The reference's dtype order (increasing alignment); the writer sorts by it, descending.
DTYPE_ORDER = ["BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "F64",
               "I64", "U64"]
TORCH_TO_NAME = {torch.float16: "F16", torch.bfloat16: "BF16", torch.float32: "F32", torch.float64: "F64"}
NAME_TO_TORCH = {v: k for k, v in TORCH_TO_NAME.items()}


def tensor_bytes(t):
    t = t.detach().contiguous().cpu()
    if t.dtype == torch.bfloat16:  # numpy has no bfloat16: reinterpret the bits
        return t.view(torch.int16).numpy().astype("<i2").tobytes()
    return t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()


def save_file(tensors, path, metadata=None):
    items = sorted(tensors.items(), key=lambda kv: (-DTYPE_ORDER.index(TORCH_TO_NAME[kv[1].dtype]), kv[0]))
    header, offset, blobs = {}, 0, []
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, t in items:
        data = tensor_bytes(t)
        header[name] = {"dtype": TORCH_TO_NAME[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def load_file(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        dtype = NAME_TO_TORCH[info["dtype"]]
        buf = bytearray(data[begin:end])
        if dtype == torch.bfloat16:
            t = torch.frombuffer(buf, dtype=torch.int16).view(torch.bfloat16)
        else:
            t = torch.frombuffer(buf, dtype=dtype)
        out[name] = t.reshape(info["shape"]).clone()
    return out


def model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))


def main():
    net = model()
    torch.manual_seed(1)
    x = torch.randn(5, 4)
    expected = {"input": x.flatten().tolist(), "outputs": {}}
    for dtype in (torch.float32, torch.float16, torch.bfloat16, torch.float64):
        name = TORCH_TO_NAME[dtype]
        state = {k: v.to(dtype) for k, v in net.state_dict().items()}
        save_file(state, f"mlp_{name.lower()}.safetensors", metadata={"format": "pt"})
        # What the engine should predict: the weights rounded to this dtype, computed in float32.
        rounded = model()
        rounded.load_state_dict({k: v.to(torch.float32) for k, v in state.items()})
        with torch.no_grad():
            expected["outputs"][name] = rounded(x).flatten().tolist()
    with open("mlp_expected.json", "w") as f:
        json.dump(expected, f, indent=1)
    # The reference's own serialization test case (tensor.rs test_serialization): "attn.0", F32 [1, 2, 3], 0..5.
    save_file({"attn.0": torch.arange(6, dtype=torch.float32).reshape(1, 2, 3)}, "reference_attn.safetensors")
    # Mixed dtypes and metadata: exercises the dtype-then-name ordering.
    torch.manual_seed(2)
    mixed = {"b.half": torch.randn(3).half(), "a.double": torch.randn(2, 2).double(),
             "c.float": torch.randn(1, 3), "d.bf16": torch.randn(2).bfloat16(), "scalar": torch.tensor(3.5)}
    save_file(mixed, "mixed.safetensors", metadata={"note": "mixed dtypes", "who": "make_safetensors.py"})


def check(path):
    """Loads an engine-written file into the equivalent torch model and prints its predictions."""
    net = model()
    net.load_state_dict(load_file(path))
    torch.manual_seed(1)
    x = torch.randn(5, 4)
    with torch.no_grad():
        print(json.dumps(net(x).flatten().tolist()))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        check(sys.argv[2])
    else:
        main()
