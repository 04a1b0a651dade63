#!/usr/bin/env python3
"""Writes the PyTorch fixtures the N-d tensor tests compare against (Golden/nd_ops.json).

Run with Debian's PyTorch (apt-get install python3-torch libopenblas0-pthread, torch 1.13):
    /usr/bin/python3 Engine.Tests/Golden/make_nd_golden.py
The file is committed; the tests never need torch.

Each case names an op the test maps to the engine's call, its float inputs (values and shapes), its integer
inputs, a stored upstream gradient w (so no RNG has to agree), PyTorch's output and the gradients of sum(out * w)
with respect to each float input.
"""
import json
import os

import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "Serialization", "Fixtures"))
import make_safetensors as st  # noqa: E402

st.TORCH_TO_NAME.update({torch.int64: "I64", torch.int32: "I32", torch.bool: "BOOL"})
st.NAME_TO_TORCH.update({"I64": torch.int64, "I32": torch.int32, "BOOL": torch.bool})
torch.manual_seed(21)


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def case(name, op, float_shapes, ints=None, positive=False):
    xs = [torch.randn(*s, dtype=torch.float64) for s in float_shapes]
    if positive:
        xs = [x.abs() + 0.1 for x in xs]
    xs = [x.float().requires_grad_(True) for x in xs]
    ints = ints or []
    out = op(*xs, *ints)
    out_values, out_indices = (out if isinstance(out, tuple) else (out, None))
    w = torch.randn(out_values.shape)
    (out_values * w).sum().backward()
    entry = {
        "name": name,
        "inputs": [{"shape": list(x.shape), "values": flat(x)} for x in xs],
        "ints": [{"shape": list(i.shape), "values": [int(v) for v in i.reshape(-1).tolist()]} for i in ints],
        "w": flat(w),
        "shape": list(out_values.shape),
        "out": flat(out_values),
        "grads": [flat(x.grad) if x.grad is not None else [0.0] * x.numel() for x in xs],
    }
    if out_indices is not None:
        entry["indices"] = [int(v) for v in out_indices.reshape(-1).tolist()]
    return entry


def main():
    cases = [
        case("permute", lambda x: x.permute(2, 0, 3, 1), [(2, 3, 4, 5)]),
        case("transpose_matmul", lambda q, k: q @ k.transpose(-2, -1), [(2, 3, 5, 4), (2, 3, 6, 4)]),
        case("matmul_broadcast", lambda a, b: torch.matmul(a, b), [(2, 1, 3, 4), (3, 4, 5)]),
        case("matmul_vector", lambda a, b: torch.matmul(a, b), [(2, 3, 4), (4,)]),
        case("broadcast_mul", lambda a, b: a * b, [(2, 3, 4), (2, 1, 4)]),
        case("expand_repeat", lambda x: x.expand(3, 2, 4).repeat(1, 2, 1), [(2, 1)]),
        case("cat_stack", lambda a, b: torch.cat([torch.stack([a, b], 1), a.unsqueeze(1)], 1), [(3, 4), (3, 4)]),
        case("slice_step_flip", lambda x: x[:, 1::2].flip(0), [(3, 7)]),
        case("roll", lambda x: torch.roll(x, 3, 1), [(2, 5)]),
        case("pad_reflect", lambda x: F.pad(x, (2, 1, 1, 2), mode="reflect"), [(1, 2, 4, 5)]),
        case("pad_replicate", lambda x: F.pad(x, (2, 1), mode="replicate"), [(2, 3, 4)]),
        case("pad_constant", lambda x: F.pad(x, (1, 2, 0, 1), value=0.5), [(2, 3, 4)]),
        case("sum_dims", lambda x: x.sum(dim=(0, 2), keepdim=True), [(3, 4, 5)]),
        case("var_dims", lambda x: x.var(dim=(1, 2)), [(3, 4, 5)]),
        case("std_dim", lambda x: x.std(dim=0, keepdim=True), [(6, 3)]),
        case("logsumexp", lambda x: torch.logsumexp(x, dim=(0, 2)), [(3, 4, 5)]),
        case("norm", lambda x: torch.linalg.vector_norm(x, ord=3, dim=1), [(4, 5)]),
        case("softmax_dim0", lambda x: x.softmax(0), [(4, 3, 2)]),
        case("prod", lambda x: x.prod(1), [(3, 4)]),
        case("gather", lambda x, i: x.gather(1, i), [(3, 5)], [torch.tensor([[4, 0, 0], [1, 2, 1], [3, 3, 3]])]),
        case("index_select", lambda x, i: x.index_select(0, i), [(4, 3)], [torch.tensor([3, 1, 3, 0, 3])]),
        case("embedding", lambda w, i: F.embedding(i, w), [(6, 4)], [torch.tensor([[5, 1, 1], [0, 5, 2]])]),
        case("scatter_add", lambda x, s, i: x.scatter_add(0, i, s), [(3, 4), (2, 4)],
             [torch.tensor([[2, 0, 1, 2], [2, 2, 0, 1]])]),
        case("topk", lambda x: torch.topk(x, 3, dim=1), [(4, 6)]),
        case("sort_desc", lambda x: torch.sort(x, dim=0, descending=True), [(5, 3)]),
        case("where", lambda a, b: torch.where(a > 0, a, b), [(3, 4), (4,)]),
        case("tril", lambda x: x.tril(-1), [(2, 4, 5)]),
        case("cross_entropy_nd", lambda x, t: F.cross_entropy(x, t), [(2, 4, 3, 2)],
             [torch.randint(0, 4, (2, 3, 2))]),
        case("nll", lambda x, t: F.nll_loss(F.log_softmax(x, 1), t), [(5, 4)], [torch.tensor([3, 0, 1, 1, 2])]),
        case("huber", lambda a, b: F.huber_loss(a * 2, b, delta=0.7), [(3, 5), (3, 5)]),
        case("smooth_l1", lambda a, b: F.smooth_l1_loss(a * 2, b, beta=0.5), [(3, 5), (3, 5)]),
        case("l1", lambda a, b: F.l1_loss(a, b), [(3, 5), (3, 5)]),
        case("bce", lambda p, y: F.binary_cross_entropy(torch.sigmoid(p), torch.sigmoid(y)), [(3, 5), (3, 5)]),
        case("kl_div", lambda x, t: F.kl_div(F.log_softmax(x, 1), F.softmax(t, 1), reduction="batchmean"),
             [(4, 5), (4, 5)]),
        case("silu_mish_elu", lambda x: F.silu(x) + F.mish(x) + F.elu(x, 0.7) + F.hardtanh(x, -0.5, 0.8), [(4, 5)]),
        case("sin_cos_erf", lambda x: x.sin() * x.cos() + torch.erf(x), [(4, 5)]),
        case("rsqrt_reciprocal", lambda x: x.rsqrt() + x.reciprocal() + x.square(), [(4, 5)], positive=True),
        case("maximum", lambda a, b: torch.maximum(a, b) + torch.minimum(a, b * 0.5), [(3, 4), (4,)]),
    ]
    path = os.path.join(HERE, "nd_ops.json")
    with open(path, "w") as f:
        json.dump({"torch": torch.__version__, "cases": cases}, f)
    print(f"wrote {len(cases)} cases to {path}")
    # Integer and bool tensors as PyTorch keeps them (index tensors, masks), written the reference writer's way.
    ints = {
        "token_ids": torch.tensor([[5, 0, 65535], [7, 2, 1]], dtype=torch.int64),
        "positions": torch.arange(-3, 4, dtype=torch.int32),
        "causal_mask": torch.ones(3, 3, dtype=torch.bool).tril(),
        "scale": torch.tensor([0.5, -2.0]),
    }
    st_path = os.path.join(HERE, "..", "Serialization", "Fixtures", "int_tensors.safetensors")
    st.save_file(ints, st_path)
    print(f"wrote {st_path}")


if __name__ == "__main__":
    main()
