#!/usr/bin/env python3
"""Pruned state dicts between the engine and PyTorch, both ways (run by PruneTests when torch is there).

    /usr/bin/python3 prune_state_dicts.py DIR

Both models are nn.Sequential(Linear(6, 5), ReLU, Linear(5, 3)); DIR/input.f32 is a [4, 6] input (raw little-endian
float32).

1. Engine to PyTorch: DIR/engine.safetensors is the engine's model with 0.weight, 2.weight and 2.bias pruned. A fresh
   torch model reparametrized by prune.identity on the same parameters loads it with load_state_dict(strict=True) (the
   names weight_orig/weight_mask must be PyTorch's), and its output on the input must equal DIR/engine.output.
2. PyTorch to engine: a torch model pruned by prune.l1_unstructured (0.weight, 40 %) and prune.custom_from_mask
   (2.weight), then trained one SGD step with weight decay (so weight_orig's pruned entries move and only the mask
   hides them), is saved as DIR/torch.safetensors with its output DIR/torch.output; the test loads it into the engine.
"""
import json
import os
import struct
import sys

import torch
import torch.nn.utils.prune as prune


def load_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        data = bytearray(raw[8 + n + start:8 + n + end])
        tensors[name] = torch.frombuffer(data, dtype=torch.float32).reshape(info["shape"]).clone()
    return tensors


def save_safetensors(path, tensors):
    header, blobs, at = {}, [], 0
    for name, t in tensors.items():
        b = t.detach().contiguous().to(torch.float32).numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [at, at + len(b)]}
        blobs.append(b)
        at += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def floats(path, shape):
    with open(path, "rb") as f:
        return torch.frombuffer(bytearray(f.read()), dtype=torch.float32).reshape(shape).clone()


def model():
    return torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))


folder = sys.argv[1]
x = floats(os.path.join(folder, "input.f32"), (4, 6))

m = model()
for i, name in [(0, "weight"), (2, "weight"), (2, "bias")]:
    prune.identity(m[i], name)
state = load_safetensors(os.path.join(folder, "engine.safetensors"))
m.load_state_dict(state, strict=True)
expected = floats(os.path.join(folder, "engine.output"), (4, 3))
got = m(x).detach()
if not torch.allclose(got, expected, rtol=1e-5, atol=1e-6):
    sys.exit(f"engine -> torch: outputs differ:\n{got}\n{expected}")
if int((m[0].weight == 0).sum()) < 15:
    sys.exit("engine -> torch: the loaded mask did not prune 0.weight")
print(f"engine -> torch: loaded {sorted(state)} strictly; outputs agree")

torch.manual_seed(3)
t = model()
prune.l1_unstructured(t[0], "weight", amount=0.4)
prune.custom_from_mask(t[2], "weight", mask=(torch.rand(3, 5) > 0.5).float())
optimizer = torch.optim.SGD(t.parameters(), lr=0.1, weight_decay=0.5)
torch.nn.functional.cross_entropy(t(torch.randn(8, 6)), torch.randint(0, 3, (8,))).backward()
optimizer.step()
save_safetensors(os.path.join(folder, "torch.safetensors"), t.state_dict())
with open(os.path.join(folder, "torch.output"), "wb") as f:
    f.write(t(x).detach().numpy().astype("<f4").tobytes())
print(f"torch -> engine: wrote {list(t.state_dict())}")
