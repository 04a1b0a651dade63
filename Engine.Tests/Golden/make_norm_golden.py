#!/usr/bin/env python3
"""Writes the PyTorch fixtures the normalization tests compare against.

Run with Debian's PyTorch (apt-get install python3-torch libopenblas0-pthread, torch 1.13):
    /usr/bin/python3 Engine.Tests/Golden/make_norm_golden.py
The files are committed; the tests never need torch.

norms.json: for each case, the inputs, parameters and upstream gradients (stored, so no RNG has to agree) and
PyTorch's outputs, input/parameter gradients and, for BatchNorm1d, the running statistics after each batch.
Serialization/Fixtures/bn_mlp.safetensors: a Linear-BatchNorm1d-ReLU-Linear model's state dict after three
training steps (num_batches_tracked is int64, as PyTorch saves it), and bn_mlp_expected.json its eval-mode outputs.
Check that a file the engine wrote loads into that PyTorch model: make_norm_golden.py --check FILE.
"""
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "Serialization", "Fixtures"))
import make_safetensors as st  # noqa: E402

st.TORCH_TO_NAME[torch.int64] = "I64"
st.NAME_TO_TORCH["I64"] = torch.int64

torch.manual_seed(7)


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def batch_norm_case(name, shape, affine=True, momentum=0.1, track=True, batches=3, eval_batch=True):
    channels = shape[1]
    bn = torch.nn.BatchNorm1d(channels, momentum=momentum, affine=affine, track_running_stats=track)
    if affine:
        with torch.no_grad():
            bn.weight.copy_(torch.randn(channels) * 0.5 + 1)
            bn.bias.copy_(torch.randn(channels) * 0.5)
    case = {"name": name, "kind": "batch_norm", "shape": shape, "affine": affine, "momentum": momentum,
            "track": track, "weight": flat(bn.weight) if affine else None, "bias": flat(bn.bias) if affine else None,
            "steps": []}
    def step(mode, x, dy):
        x.requires_grad_(True)
        if affine:
            bn.weight.grad = None
            bn.bias.grad = None
        y = bn(x)
        y.backward(dy)
        case["steps"].append({
            "mode": mode, "x": flat(x), "dy": flat(dy), "y": flat(y), "dx": flat(x.grad),
            "dweight": flat(bn.weight.grad) if affine else None, "dbias": flat(bn.bias.grad) if affine else None,
            "running_mean": flat(bn.running_mean) if track else None,
            "running_var": flat(bn.running_var) if track else None,
            "num_batches_tracked": int(bn.num_batches_tracked) if track else None})

    bn.train()
    for b in range(batches):
        step("train", torch.randn(shape) * (1 + b) + 3 * b, torch.randn(shape))
    if eval_batch:
        bn.eval()
        step("eval", torch.randn(shape) * 2 + 1, torch.randn(shape))
    return case


def layer_norm_case(name, shape, normalized, affine=True):
    ln = torch.nn.LayerNorm(normalized, elementwise_affine=affine)
    if affine:
        with torch.no_grad():
            ln.weight.copy_(torch.randn(normalized) * 0.5 + 1)
            ln.bias.copy_(torch.randn(normalized) * 0.5)
    x = (torch.randn(shape) * 3 + 2).requires_grad_(True)
    dy = torch.randn(shape)
    y = ln(x)
    y.backward(dy)
    return {"name": name, "kind": "layer_norm", "shape": shape, "normalized": normalized, "affine": affine,
            "weight": flat(ln.weight) if affine else None, "bias": flat(ln.bias) if affine else None,
            "steps": [{"mode": "train", "x": flat(x), "dy": flat(dy), "y": flat(y), "dx": flat(x.grad),
                       "dweight": flat(ln.weight.grad) if affine else None,
                       "dbias": flat(ln.bias.grad) if affine else None}]}


def bn_model():
    torch.manual_seed(3)
    return torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.BatchNorm1d(6), torch.nn.ReLU(), torch.nn.Linear(6, 3))


def write_model_fixture(folder):
    net = bn_model()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    for _ in range(3):
        x = torch.randn(8, 4) * 2 + 1
        loss = net(x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    st.save_file(net.state_dict(), os.path.join(folder, "bn_mlp.safetensors"))
    x = torch.randn(5, 4)
    with torch.no_grad():
        out = net(x)
    with open(os.path.join(folder, "bn_mlp_expected.json"), "w") as f:
        json.dump({"input": flat(x), "outputs": flat(out)}, f)


def check(path):
    """Loads an engine-written state dict into the PyTorch model (strict) and prints its eval outputs."""
    net = bn_model()
    state = st.load_file(path)
    net.load_state_dict(state, strict=True)
    net.eval()
    with open(os.path.join(HERE, "..", "Serialization", "Fixtures", "bn_mlp_expected.json")) as f:
        expected = json.load(f)
    with torch.no_grad():
        out = net(torch.tensor(expected["input"]).reshape(5, 4))
    worst = max(abs(a - b) for a, b in zip(flat(out), expected["outputs"]))
    print(f"loaded {path} into torch: num_batches_tracked {int(net[1].num_batches_tracked)} "
          f"({state['1.num_batches_tracked'].dtype}), max |Δ output| {worst:.2e}")
    sys.exit(0 if worst < 1e-5 else 1)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        check(sys.argv[2])
        return
    cases = [
        batch_norm_case("bn_2d_affine", [6, 5]),
        batch_norm_case("bn_2d_plain", [6, 5], affine=False),
        batch_norm_case("bn_3d_affine", [4, 3, 5]),
        batch_norm_case("bn_2d_cumulative", [5, 4], momentum=None),
        batch_norm_case("bn_2d_untracked", [6, 20], track=False),
        batch_norm_case("bn_2d_wide", [3, 37], batches=2),
        layer_norm_case("ln_affine", [4, 6], [6]),
        layer_norm_case("ln_plain", [5, 19], [19], affine=False),
        layer_norm_case("ln_2d_shape", [2, 3, 4], [3, 4]),
    ]
    with open(os.path.join(HERE, "norms.json"), "w") as f:
        json.dump({"torch": torch.__version__, "cases": cases}, f)
    write_model_fixture(os.path.join(HERE, "..", "Serialization", "Fixtures"))


if __name__ == "__main__":
    main()
