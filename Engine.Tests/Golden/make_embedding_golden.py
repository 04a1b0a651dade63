#!/usr/bin/env python3
"""Writes the PyTorch fixture for nn.Embedding's max_norm (and padding_idx with it).

Run with Debian's PyTorch (apt-get install python3-torch, torch 1.13):
    /usr/bin/python3 Engine.Tests/Golden/make_embedding_golden.py
The file is committed; the tests never need torch.

embedding.json: for each case, the table's size and options, its initial weight, the indices (repeated ones included),
the upstream gradient of the output, and PyTorch's weight after the forward (rows renormalised in place), output and
weight gradient.
"""
import json
import os

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(5)


def flat(t):
    return [float(f"{v:.9g}") for v in t.detach().reshape(-1).tolist()]


def case(name, num, dim, indices, max_norm, norm_type=2.0, padding_idx=None, scale=1.0):
    emb = torch.nn.Embedding(num, dim, padding_idx=padding_idx, max_norm=max_norm, norm_type=norm_type)
    with torch.no_grad():
        emb.weight.mul_(scale)
        if padding_idx is not None:
            emb.weight[padding_idx] = 0.7  # a padding row that needs renormalising too (torch renorms it as well)
    initial = emb.weight.detach().clone()
    idx = torch.tensor(indices)
    out = emb(idx)
    grad = torch.randn(out.shape)
    out.backward(grad)
    return {"name": name, "num": num, "dim": dim, "max_norm": max_norm, "norm_type": norm_type,
            "padding_idx": padding_idx, "indices_shape": list(idx.shape), "indices": idx.reshape(-1).tolist(),
            "weight": flat(initial), "grad_output": flat(grad), "weight_after": flat(emb.weight), "output": flat(out),
            "weight_grad": flat(emb.weight.grad)}


cases = [
    case("max_norm_1_l2_repeated", 10, 4, [[1, 3, 3], [7, 1, 0]], 1.0, scale=1.5),
    case("max_norm_half_l1", 8, 5, [2, 2, 6, 4], 0.5, norm_type=1.0),
    case("max_norm_with_padding", 9, 3, [[3, 5], [3, 8], [0, 5]], 0.8, padding_idx=3, scale=2.0),
    case("max_norm_large_no_change", 6, 6, [0, 1, 2, 3, 4, 5], 100.0),
]
with open(os.path.join(HERE, "embedding.json"), "w") as f:
    json.dump({"torch": torch.__version__, "cases": cases}, f, separators=(",", ":"))
print(f"wrote {len(cases)} cases to embedding.json")
