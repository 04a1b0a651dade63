#!/usr/bin/env python3
"""The CNN recipes in PyTorch on the bundled 8k/2k MNIST subset, for comparing the engine's figures with the peer's
(Debian's python3-torch 1.13 here):
    /usr/bin/python3 Examples/data/pytorch_cnn_recipe.py [--net lenet|examples|all] [--mode batch|online|all]
                                                          [--seed 0] [--threads N] [--online-lr LR]
Pixels / 255, then normalised with mean 0.1307, std 0.3081; images [N, 1, 28, 28].
nets:
  lenet:    LeNet-5 for 28x28: Conv2d(1,6,5,padding=2) ReLU MaxPool2d(2) Conv2d(6,16,5) ReLU MaxPool2d(2) Flatten
            Linear(400,120) ReLU Linear(120,84) ReLU Linear(84,10); cross-entropy; SGD lr 0.01 momentum 0.9.
  examples: PyTorch's examples/mnist Net: Conv2d(1,32,3) ReLU Conv2d(32,64,3) ReLU MaxPool2d(2) Dropout(0.25) Flatten
            Linear(9216,128) ReLU Dropout(0.5) Linear(128,10) log_softmax; nll_loss; Adadelta lr 1.0.
modes:
  batch:  batch 64, 5 epochs, a torch.randperm shuffle each epoch; examples net: StepLR(step_size=1, gamma=0.7)
          stepped after each epoch. Seed: torch.manual_seed(seed) before building the net.
  online: one pass over the 8000 training digits in order, batch 1, predict-then-learn (the prediction is the argmax
          of the same train-mode forward whose loss is then back-propagated, dropout included); same optimizer and lr
          as batch (lenet SGD lr 0.01 momentum 0.9; examples Adadelta lr 1.0), no scheduler.
          Seed: torch.manual_seed(100 + seed), as pytorch_recipe.py does.
          --online-lr LR replaces that lr (momentum etc. unchanged). Measured with seed 0: LeNet online at SGD lr 0.01
          momentum 0.9 collapses to a constant prediction (progressive ~0.11, test ~0.12, no NaN); lr 0.001 with
          momentum 0.9 (the same effective step as lr 0.01 without momentum) learns (progressive ~0.86, test ~0.94).
Test accuracy is measured in eval mode (dropout off) on the 2000 test digits.
"""
import argparse
import gzip
import os
import struct
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
MEAN, STD = 0.1307, 0.3081


def load(prefix):
    with gzip.open(f"{HERE}/{prefix}-images-idx3-ubyte.gz") as f:
        _, n, r, c = struct.unpack(">IIII", f.read(16))
        x = torch.frombuffer(bytearray(f.read()), dtype=torch.uint8).float().view(n, 1, r, c) / 255
    with gzip.open(f"{HERE}/{prefix}-labels-idx1-ubyte.gz") as f:
        struct.unpack(">II", f.read(8))
        y = torch.frombuffer(bytearray(f.read()), dtype=torch.uint8).long()
    return (x - MEAN) / STD, y


def lenet():
    return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


def examples_net():
    return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Dropout(0.25), nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(), nn.Dropout(0.5),
                         nn.Linear(128, 10), nn.LogSoftmax(dim=1))


NETS = {
    # name: (builder, optimizer factory, loss on the net's output, optimizer description)
    "lenet": (lenet, lambda p, lr=0.01: torch.optim.SGD(p, lr=lr, momentum=0.9), F.cross_entropy,
              "SGD lr {lr} momentum 0.9, cross-entropy", 0.01),
    "examples": (examples_net, lambda p, lr=1.0: torch.optim.Adadelta(p, lr=lr), F.nll_loss,
                 "Adadelta lr {lr}, nll_loss on log_softmax", 1.0),
}


def test_accuracy(model, xs, ys):
    model.eval()
    hits = 0
    with torch.no_grad():
        for i in range(0, len(xs), 500):
            hits += (model(xs[i:i + 500]).argmax(1) == ys[i:i + 500]).sum().item()
    model.train()
    return hits / len(xs)


def run_batch(net, seed, data):
    (xt, yt), (xs, ys) = data
    build, make_opt, loss_fn, desc, lr = NETS[net]
    desc = desc.format(lr=lr)
    torch.manual_seed(seed)
    model = build()
    opt = make_opt(model.parameters(), lr)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.7) if net == "examples" else None
    desc += ", StepLR(1, 0.7) per epoch" if sched else ""
    model.train()
    steps, n = 0, len(xt)
    t0 = time.perf_counter()
    for epoch in range(5):
        perm = torch.randperm(n)
        total = 0.0
        for i in range(0, n, 64):
            idx = perm[i:i + 64]
            opt.zero_grad()
            loss = loss_fn(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
            steps += 1
        if sched:
            sched.step()
        print(f"  [{net} batch] epoch {epoch + 1}: mean loss {total / n:.4f} ({time.perf_counter() - t0:.1f} s)",
              flush=True)
    train_s = time.perf_counter() - t0
    acc = test_accuracy(model, xs, ys)
    return {"net": net, "mode": "batch", "optimizer": desc, "test": acc, "progressive": None,
            "train_s": train_s, "wall_s": time.perf_counter() - t0, "steps": steps}


def run_online(net, seed, data, lr=None):
    (xt, yt), (xs, ys) = data
    build, make_opt, loss_fn, desc, default_lr = NETS[net]
    lr = default_lr if lr is None else lr
    desc = desc.format(lr=lr)
    torch.manual_seed(100 + seed)
    model = build()
    opt = make_opt(model.parameters(), lr)
    model.train()
    hits, n = 0, len(xt)
    t0 = time.perf_counter()
    for i in range(n):
        out = model(xt[i:i + 1])
        hits += int(out.argmax(1).item() == yt[i].item())
        opt.zero_grad()
        loss_fn(out, yt[i:i + 1]).backward()
        opt.step()
        if (i + 1) % 1000 == 0:
            print(f"  [{net} online] {i + 1} steps: progressive {hits / (i + 1):.4f} "
                  f"({time.perf_counter() - t0:.1f} s)", flush=True)
    train_s = time.perf_counter() - t0
    acc = test_accuracy(model, xs, ys)
    return {"net": net, "mode": "online", "optimizer": desc, "test": acc, "progressive": hits / n,
            "train_s": train_s, "wall_s": time.perf_counter() - t0, "steps": n}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--net", choices=["lenet", "examples", "all"], default="all")
    ap.add_argument("--mode", choices=["batch", "online", "all"], default="batch")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--online-lr", type=float, default=None, help="online mode's lr (default: the batch recipe's)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = load("train"), load("t10k")
    nets = ["lenet", "examples"] if args.net == "all" else [args.net]
    modes = ["batch", "online"] if args.mode == "all" else [args.mode]
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, seed {args.seed}, "
          f"train {len(data[0][0])}, test {len(data[1][0])}", flush=True)
    for net in nets:
        for mode in modes:
            r = run_batch(net, args.seed, data) if mode == "batch" else run_online(net, args.seed, data, args.online_lr)
            prog = f"  progressive {r['progressive']:.4f}" if r["progressive"] is not None else ""
            print(f"{r['net']} {r['mode']} ({r['optimizer']}): test {r['test']:.4f}{prog}  "
                  f"wall {r['wall_s']:.1f} s (train {r['train_s']:.1f} s)  "
                  f"{1e3 * r['train_s'] / r['steps']:.2f} ms/step over {r['steps']} steps", flush=True)


if __name__ == "__main__":
    main()
