#!/usr/bin/env python3
"""The `gpt` example's model in PyTorch (nanoGPT's model.py, with biases, in torch 1.13 without its fused attention).

Run with Debian's PyTorch (apt-get install python3-torch libopenblas0-pthread):

  /usr/bin/python3 Examples/Gpt/gpt_torch.py check DIR
      DIR is what `Examples gpt --mode batch --iters 20 --trajectory DIR` wrote: the engine's initial weights, every
      step's batch offsets and loss, and its weights after the last step. Builds the same GPT from those weights, runs
      the same batches through AdamW with the same groups, schedule and clipping, and checks every step's loss within
      1e-4 relative and the final weights. Exit code 1 on a mismatch.

  /usr/bin/python3 Examples/Gpt/gpt_torch.py continue FILE [--iters N]
      FILE is what `Examples gpt --out FILE` saved. Loads it (the configuration and vocabulary are in its metadata),
      prints the validation loss, a sample, and trains N more steps at the recipe's final learning rate.

  /usr/bin/python3 Examples/Gpt/gpt_torch.py bench --config baby|small [--threads N] [--steps N]
      Training tokens/s of the recipe's step (the compare rows gpt-baby and gpt-small), one JSON line.
"""
import argparse
import gzip
import json
import math
import os
import struct
import sys
import time

import torch
import torch.utils.checkpoint
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "..", "data", "tinyshakespeare.txt.gz")


class CausalSelfAttention(nn.Module):
    def __init__(self, n_embd, n_head, block_size):
        super().__init__()
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)
        self.c_proj = nn.Linear(n_embd, n_embd)
        self.n_head = n_head
        self.register_buffer("bias", torch.tril(torch.ones(block_size, block_size)).view(1, 1, block_size, block_size),
                             persistent=False)

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float("-inf"))
        y = F.softmax(att, dim=-1) @ v
        return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))


class MLP(nn.Module):
    def __init__(self, n_embd):
        super().__init__()
        self.c_fc = nn.Linear(n_embd, 4 * n_embd)
        self.c_proj = nn.Linear(4 * n_embd, n_embd)

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, n_embd, n_head, block_size):
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd)
        self.attn = CausalSelfAttention(n_embd, n_head, block_size)
        self.ln_2 = nn.LayerNorm(n_embd)
        self.mlp = MLP(n_embd)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, vocab_size, block_size, n_layer, n_head, n_embd):
        super().__init__()
        self.block_size = block_size
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(vocab_size, n_embd),
            wpe=nn.Embedding(block_size, n_embd),
            h=nn.ModuleList([Block(n_embd, n_head, block_size) for _ in range(n_layer)]),
            ln_f=nn.LayerNorm(n_embd)))
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
        self.transformer.wte.weight = self.lm_head.weight  # tied, as nanoGPT
        for name, p in self.named_parameters():  # nanoGPT's init
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif p.dim() == 2:
                std = 0.02 / math.sqrt(2 * n_layer) if name.endswith("c_proj.weight") else 0.02
                nn.init.normal_(p, 0.0, std)

    def forward(self, idx, targets=None):
        t = idx.size(1)
        x = self.transformer.wte(idx) + self.transformer.wpe(torch.arange(t, device=idx.device))
        for block in self.transformer.h:
            # checkpoint = 1: each block's activations recomputed in backward (the engine's --checkpoint 1)
            if getattr(self, "checkpoint", 0) and self.training:
                x = torch.utils.checkpoint.checkpoint(block, x, use_reentrant=False)
            else:
                x = block(x)
        logits = self.lm_head(self.transformer.ln_f(x))
        loss = None if targets is None else F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))
        return logits, loss


def load_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    meta = header.pop("__metadata__", {})
    out = {}
    for name, info in header.items():
        assert info["dtype"] == "F32", f"{name}: {info['dtype']}"
        begin, end = info["data_offsets"]
        out[name] = torch.frombuffer(bytearray(data[begin:end]), dtype=torch.float32).reshape(info["shape"]).clone()
    return out, meta


def corpus():
    text = gzip.open(CORPUS, "rt", encoding="utf-8").read()
    vocab = sorted(set(text))
    ids = {c: i for i, c in enumerate(vocab)}
    data = torch.tensor([ids[c] for c in text], dtype=torch.long)
    split = int(len(data) * 0.9)
    return vocab, data[:split], data[split:]


def optimizer(model, lr, weight_decay):
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.99), eps=1e-8)


def get_lr(it, lr, min_lr, warmup, iters):
    if it < warmup:
        return lr * (it + 1) / (warmup + 1)
    if it > iters:
        return min_lr
    ratio = (it - warmup) / max(1, iters - warmup)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (lr - min_lr)


def batch(data, offsets, t):
    x = torch.stack([data[i:i + t] for i in offsets])
    y = torch.stack([data[i + 1:i + 1 + t] for i in offsets])
    return x, y


def check(folder):
    tr = json.load(open(os.path.join(folder, "trajectory.json")))
    initial, _ = load_safetensors(os.path.join(folder, "initial.safetensors"))
    final, _ = load_safetensors(os.path.join(folder, "final.safetensors"))
    torch.manual_seed(0)
    model = GPT(tr["vocab_size"], tr["block_size"], tr["n_layer"], tr["n_head"], tr["n_embd"])
    model.load_state_dict(initial)
    _, train, _ = corpus()
    opt = optimizer(model, tr["lr"], tr["weight_decay"])
    worst = 0.0
    failed = False
    for it, (offsets, engine_loss) in enumerate(zip(tr["offsets"], tr["losses"])):
        for g in opt.param_groups:
            g["lr"] = get_lr(it, tr["lr"], tr["min_lr"], tr["warmup"], tr["iters"])
        x, y = batch(train, offsets, tr["block_size"])
        _, loss = model(x, y)
        loss.backward()
        if tr["grad_clip"] > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), tr["grad_clip"])
        opt.step()
        opt.zero_grad(set_to_none=True)
        rel = abs(loss.item() - engine_loss) / abs(loss.item())
        worst = max(worst, rel)
        mark = "" if rel <= 1e-4 else "  <-- differs"
        failed |= rel > 1e-4
        print(f"step {it:3d}: torch {loss.item():.6f}  engine {engine_loss:.6f}  relative {rel:.1e}{mark}")
    state = model.state_dict()
    weight_worst = 0.0
    for name, value in final.items():
        diff = (state[name] - value).abs().max().item()
        scale = max(1e-3, state[name].abs().max().item())
        weight_worst = max(weight_worst, diff / scale)
    print(f"{len(tr['losses'])} steps: worst loss difference {worst:.1e} relative (limit 1e-4); worst weight "
          f"difference {weight_worst:.1e} of the tensor's largest magnitude (limit 1e-3)")
    failed |= weight_worst > 1e-3
    print("FAIL" if failed else "OK")
    return 1 if failed else 0


def continue_training(path, iters):
    state, meta = load_safetensors(path)
    cfg = {k: int(meta[k]) for k in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd")}
    vocab = json.loads(meta["vocabulary"])
    model = GPT(**cfg)
    model.load_state_dict(state)
    vocab_here, train, val = corpus()
    assert vocab_here == vocab, "the saved vocabulary is not tiny-shakespeare's"
    gen = torch.Generator().manual_seed(1337)

    def val_loss():
        model.eval()
        with torch.no_grad():
            total = 0.0
            for _ in range(20):
                offsets = torch.randint(len(val) - cfg["block_size"], (12,), generator=gen).tolist()
                total += model(*batch(val, offsets, cfg["block_size"]))[1].item()
        model.train()
        return total / 20

    print(f"loaded {path}: {sum(p.numel() for p in model.parameters()):,} parameters; validation loss {val_loss():.4f}")
    idx = torch.tensor([[vocab.index("\n")]])
    with torch.no_grad():
        for _ in range(200):
            logits, _ = model(idx[:, -cfg["block_size"]:])
            probs = F.softmax(logits[:, -1, :] / 0.8, dim=-1)
            idx = torch.cat([idx, torch.multinomial(probs, 1, generator=gen)], dim=1)
    print("sample:\n" + "".join(vocab[i] for i in idx[0].tolist()))
    opt = optimizer(model, 1e-4, 0.1)
    for it in range(iters):
        offsets = torch.randint(len(train) - cfg["block_size"], (12,), generator=gen).tolist()
        _, loss = model(*batch(train, offsets, cfg["block_size"]))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
    print(f"after {iters} more steps in PyTorch: validation loss {val_loss():.4f}")
    return 0


CONFIGS = {
    "baby": dict(block_size=64, n_layer=4, n_head=4, n_embd=128, batch=12),
    "small": dict(block_size=256, n_layer=6, n_head=6, n_embd=384, batch=8),
}


def bench(config, threads, steps):
    torch.set_num_threads(threads)
    c = CONFIGS[config]
    torch.manual_seed(0)
    model = GPT(65, c["block_size"], c["n_layer"], c["n_head"], c["n_embd"])
    opt = optimizer(model, 1e-3, 0.1)
    x = torch.randint(65, (c["batch"], c["block_size"]))
    y = torch.randint(65, (c["batch"], c["block_size"]))

    def step():
        _, loss = model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    for _ in range(3):
        step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    times.sort()
    median = times[len(times) // 2]
    print(json.dumps({"config": config, "threads": threads, "seconds_per_step": median,
                      "tokens_per_second": c["batch"] * c["block_size"] / median}))
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("check").add_argument("folder")
    c = sub.add_parser("continue")
    c.add_argument("file")
    c.add_argument("--iters", type=int, default=50)
    b = sub.add_parser("bench")
    b.add_argument("--config", choices=CONFIGS, default="baby")
    b.add_argument("--threads", type=int, default=1)
    b.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    if args.command == "check":
        return check(args.folder)
    if args.command == "continue":
        return continue_training(args.file, args.iters)
    return bench(args.config, args.threads, args.steps)


if __name__ == "__main__":
    sys.exit(main())
