#!/usr/bin/env python3
"""The main example's online recipe (SGD lr 0.03, one pass, predict-then-learn) in PyTorch, started from the engine's
own initial weights for `--seed S` (layers from streams 2S-1 and 2S, recomputed bit for bit by
Engine.Tests/Golden/make_mnist_trajectory.py), for S = 1..10:
    /usr/bin/python3 Examples/data/pytorch_online_engine_init.py
Compare with `dotnet run --project Examples -c Release -- mnist --mode online --seed S`.
"""
import os
import statistics
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Engine.Tests", "Golden"))
from make_mnist_trajectory import engine_linear, load  # noqa: E402

torch.set_num_threads(2)
xt, yt = load("train")
xs, ys = load("t10k")
tests, progressive = [], []
for s in range(1, 11):
    model = torch.nn.Sequential(engine_linear(784, 256, 2 * s - 1), torch.nn.ReLU(), engine_linear(256, 10, 2 * s))
    opt = torch.optim.SGD(model.parameters(), lr=0.03)
    hits = 0
    for i in range(len(yt)):
        out = model(xt[i:i + 1])
        hits += int(out.argmax(1).item() == yt[i].item())
        opt.zero_grad()
        torch.nn.functional.cross_entropy(out, yt[i:i + 1]).backward()
        opt.step()
    with torch.no_grad():
        acc = (model(xs).argmax(1) == ys).float().mean().item()
    tests.append(acc)
    progressive.append(hits / len(yt))
    print(f"seed {s}: online test {acc:.4f} progressive {hits / len(yt):.4f}", flush=True)
print(f"online test mean {statistics.mean(tests):.4f}, progressive mean {statistics.mean(progressive):.4f}")
