#!/usr/bin/env python3
"""The main example's two recipes in PyTorch on the same bundled 8k/2k MNIST subset, over several seeds, for
comparing the engine's figures with the peer's (Debian's python3-torch 1.13 here):
    /usr/bin/python3 Examples/data/pytorch_recipe.py [SEEDS]
batch: 784-256-10 ReLU MLP, Adam lr 1e-3, batch 64, 5 epochs; online: SGD lr 0.03, one pass, predict-then-learn.
The engine's side: `dotnet run --project Examples -c Release -- mnist --mode batch|online --seed S` for S = 1..10.
"""
import os
import gzip
import statistics
import struct
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))


def load(prefix):
    with gzip.open(f"{HERE}/{prefix}-images-idx3-ubyte.gz") as f:
        _, n, r, c = struct.unpack(">IIII", f.read(16)); x = torch.frombuffer(bytearray(f.read()), dtype=torch.uint8).float().view(n, 784) / 255
    with gzip.open(f"{HERE}/{prefix}-labels-idx1-ubyte.gz") as f:
        struct.unpack(">II", f.read(8)); y = torch.frombuffer(bytearray(f.read()), dtype=torch.uint8).long()
    return x, y
xt, yt = load("train"); xs, ys = load("t10k")
torch.set_num_threads(2)
results = []
for seed in range(int(sys.argv[1]) if len(sys.argv) > 1 else 10):
    torch.manual_seed(seed)
    m = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    for e in range(5):
        perm = torch.randperm(8000)
        for i in range(0, 8000, 64):
            idx = perm[i:i+64]; opt.zero_grad(); torch.nn.functional.cross_entropy(m(xt[idx]), yt[idx]).backward(); opt.step()
    with torch.no_grad(): acc = (m(xs).argmax(1) == ys).float().mean().item()
    torch.manual_seed(100 + seed)
    m2 = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
    opt2 = torch.optim.SGD(m2.parameters(), lr=0.03); hits = 0
    for i in range(8000):
        out = m2(xt[i:i+1]); hits += int(out.argmax(1).item() == yt[i].item())
        opt2.zero_grad(); torch.nn.functional.cross_entropy(out, yt[i:i+1]).backward(); opt2.step()
    with torch.no_grad(): acc2 = (m2(xs).argmax(1) == ys).float().mean().item()
    print(f"seed {seed}: batch {acc:.4f}  online test {acc2:.4f} progressive {hits/8000:.4f}", flush=True)
    results.append((acc, acc2, hits / 8000))
for i, name in enumerate(["batch", "online test", "progressive"]):
    column = [r[i] for r in results]
    print(f"{name}: mean {statistics.mean(column):.4f}, std {statistics.stdev(column):.4f}, "
          f"min {min(column):.4f}, max {max(column):.4f}")
