#!/usr/bin/env python3
"""The main example's batch recipe in PyTorch 1.13 from the engine's own initial weights and a fixed batch order,
so the engine's whole training loop (IDX loading, Linear layout and init, ReLU, mean cross-entropy, Adam, batching)
can be checked step by step against the peer (MnistTrajectoryTests reads the JSON this writes; committed).

    /usr/bin/python3 Engine.Tests/Golden/make_mnist_trajectory.py [--epochs N] [--out FILE]

The engine's Linear(in, out, seed) draws W then b from one counter-based stream (ElementwiseKernels.Unit):
u(seed, k) = (hash(seed, k) >> 8) / 2^24, W[i] = -a + 2a·u(seed, i), b[j] = -a + 2a·u(seed, out·in + j),
a = 1/sqrt(in), all in float32. This file recomputes those numbers bit for bit with numpy, so both sides start
from the same parameters. The batch order is torch.randperm's (stored in the file).

The committed file is one epoch (125 steps; the test's tolerances are sized for it). For the whole five-epoch recipe,
write --epochs 5 over the copy in the test's output folder (Engine.Tests/bin/Debug/net10.0/Golden/) and run
`dotnet test --project Engine.Tests --no-build -- --filter-method "*MnistTrajectory*"`: the later steps drift past the
one-epoch tolerances (float summation order), and the accuracies are what to compare — on 2026-11-23, PyTorch
93.10 %, the engine 93.15 %.
"""
import argparse
import gzip
import json
import os
import struct

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "Examples", "data")
M32 = np.uint64(0xFFFFFFFF)


def unit(seed, k):
    """ElementwiseKernels.Unit in uint32 arithmetic (done in uint64 and masked, so numpy never warns)."""
    k = k.astype(np.uint64)
    h = ((k * np.uint64(0x9E3779B9)) & M32) ^ np.uint64((seed * 0x85EBCA6B + 0x68E31DA4) & 0xFFFFFFFF)
    h ^= h >> np.uint64(16)
    h = (h * np.uint64(0x7FEB352D)) & M32
    h ^= h >> np.uint64(15)
    h = (h * np.uint64(0x846CA68B)) & M32
    h ^= h >> np.uint64(16)
    return (h >> np.uint64(8)).astype(np.float32) * np.float32(1.0 / 16777216.0)


def engine_linear(inputs, outputs, seed):
    a = np.float32(1.0) / np.float32(np.sqrt(np.float32(inputs)))
    low, width = -a, np.float32(a - (-a))
    w = low + width * unit(seed, np.arange(outputs * inputs))
    b = low + width * unit(seed, np.arange(outputs) + outputs * inputs)
    layer = torch.nn.Linear(inputs, outputs)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(w.astype(np.float32).reshape(outputs, inputs)))
        layer.bias.copy_(torch.from_numpy(b.astype(np.float32)))
    return layer


def load(prefix):
    with gzip.open(os.path.join(DATA, f"{prefix}-images-idx3-ubyte.gz")) as f:
        _, n, r, c = struct.unpack(">IIII", f.read(16))
        x = torch.frombuffer(bytearray(f.read()), dtype=torch.uint8).float().view(n, r * c) / 255
    with gzip.open(os.path.join(DATA, f"{prefix}-labels-idx1-ubyte.gz")) as f:
        struct.unpack(">II", f.read(8))
        y = torch.frombuffer(bytearray(f.read()), dtype=torch.uint8).long()
    return x, y


def samples(t):
    flat = t.detach().reshape(-1)
    idx = [(k * 7919) % flat.numel() for k in range(64)]
    return {"index": idx, "value": [flat[i].item() for i in idx], "sum": flat.double().sum().item(),
            "abs_sum": flat.double().abs().sum().item()}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--out", default=os.path.join(HERE, "mnist_trajectory.json"))
    args = p.parse_args()
    torch.set_num_threads(1)
    torch.backends.cuda.matmul.allow_tf32 = False
    xt, yt = load("train")
    xs, ys = load("t10k")
    hidden, seeds, lr, batch = 256, (1, 2), 1e-3, 64
    model = torch.nn.Sequential(engine_linear(784, hidden, seeds[0]), torch.nn.ReLU(), engine_linear(hidden, 10, seeds[1]))
    initial = {name: samples(p) for name, p in model.named_parameters()}
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    torch.manual_seed(0)
    order, losses = [], []
    for _ in range(args.epochs):
        perm = torch.randperm(len(yt))
        order.append(perm.tolist())
        for i in range(0, len(yt), batch):
            idx = perm[i:i + batch]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            losses.append(loss.item())
    with torch.no_grad():
        logits = model(xs)
        accuracy = (logits.argmax(1) == ys).float().mean().item()
    out = {
        "generator": f"make_mnist_trajectory.py, torch {torch.__version__}",
        "hidden": hidden, "seeds": list(seeds), "lr": lr, "batch_size": batch, "epochs": args.epochs,
        "order": order, "losses": losses, "initial": initial,
        "final": {name: samples(p) for name, p in model.named_parameters()},
        "test_accuracy": accuracy, "test_logits_first8": logits[:8].reshape(-1).tolist(),
    }
    with open(args.out, "w") as f:
        json.dump(out, f, separators=(",", ":"))
    print(f"{args.out}: {len(losses)} steps, last loss {losses[-1]:.4f}, test accuracy {accuracy:.4f}")


if __name__ == "__main__":
    main()
