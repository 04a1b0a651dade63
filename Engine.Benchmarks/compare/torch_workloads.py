"""PyTorch side of `dotnet run --project Engine.Benchmarks -c Release -- compare`.

Runs the same named workloads as Engine.Benchmarks/Workload.cs — same shapes, PyTorch's default Linear init
(which the engine's Linear also uses), ReLU, softmax cross-entropy on fixed random data resident on the device,
SGD lr 0.01 / Adam lr 1e-3, fp32 with TF32 off — with the same timing rule (warm-up for ~1.5 s, at least two steps, then the median of 3 rounds
of enough steps to last ~0.3 s, synchronized at the end of each round), and prints one JSON object.

  python3 torch_workloads.py --device cpu|cuda [--quick] [--only NAME,NAME] [--threads N]

CNN rows: cnn-lenet (LeNet-5 training step: SGD lr 0.01 momentum 0.9, cross-entropy) and cnn-mnist (PyTorch's
examples/mnist Net training step: Adadelta lr 1.0, nll_loss on log_softmax, dropout active), both on fixed random
inputs [64, 1, 28, 28] (batch 8 when quick) in samples/s; conv2d (forward, no grad, [64, 64, 56, 56] * [64, 64, 3, 3],
padding 1, no bias) and conv2d-fwdbwd (that forward plus the backward to input and weight for a stored output
gradient) in GFLOP/s; maxpool2d (2x2 forward plus backward on [64, 64, 56, 56]) in GB/s. Quick: batch 8, 28x28.

--threads N sets torch's intra-op threads (the caller also sets OMP_NUM_THREADS and OPENBLAS_NUM_THREADS to N, since
OpenBLAS keeps its own pool).
"""
import argparse
import json
import platform
import statistics
import time

import torch


def mlp(widths, batch, optimizer, device):
    layers = []
    for i in range(len(widths) - 1):
        if i > 0:
            layers.append(torch.nn.ReLU())
        layers.append(torch.nn.Linear(widths[i], widths[i + 1]))
    model = torch.nn.Sequential(*layers).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3) if optimizer == "adam" else \
        torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.randn(batch, widths[0], device=device)
    y = torch.tensor([i * 7 % widths[-1] for i in range(batch)], device=device)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=False)  # the engine keeps and zeroes its gradient buffers too
    return "samples/s", batch, step


def sgemm(n, device):
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    c = torch.empty(n, n, device=device)
    return "GFLOP/s", 2.0 * n ** 3, lambda: torch.matmul(a, b, out=c)


def adam_step(n, device):
    p = torch.nn.Parameter(torch.randn(n, device=device))
    p.grad = torch.full_like(p, 1e-3)
    # foreach=False: one fused-per-tensor loop, like the engine's single kernel; torch 1.13's default for one tensor.
    opt = torch.optim.Adam([p], lr=1e-3)
    return "GB/s", 28.0 * n, opt.step


def copy(n, device):
    x, y = torch.randn(n, device=device), torch.empty(n, device=device)
    return "GB/s", 8.0 * n, lambda: y.copy_(x)


def tensor_op(unit, shape_a, shape_b, op, device, quick):
    """The engine's N-d rows (Workload.TensorOp): the leading axis divided by 8 when quick (not a 2-D right operand's)."""
    def shrink(s, right):
        return [max(1, d // 8) if i == 0 else d for i, d in enumerate(s)] if quick and (not right or len(s) == 3) else s
    a = torch.randn(*shrink(shape_a, False), device=device)
    b = torch.randn(*shrink(shape_b, True), device=device) if shape_b else None
    work = 8.0 * a.numel() if unit == "GB/s" else 2.0 * a.numel() * b.shape[-1]
    return unit, work, lambda: op(a, b)


def row_indexing(name, device, quick):
    """Workload.RowIndexing: index_select of rows from a [4096, 256] table, or index_add_ of as many rows back."""
    rows, width = (512 if quick else 65536), 256
    table = torch.randn(4096, width, device=device)
    index = torch.randint(0, 4096, (rows,), device=device)
    src = torch.randn(rows, width, device=device)
    zeros = torch.zeros(4096, width, device=device)
    if name == "gather":
        return "GB/s", 8.0 * rows * width, lambda: table.index_select(0, index)
    return "GB/s", 8.0 * rows * width, lambda: zeros.index_add_(0, index, src)


def lenet():
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


def mnist_net():
    """PyTorch's examples/mnist Net (log_softmax as the last layer)."""
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Dropout(0.25), nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(), nn.Dropout(0.5),
                         nn.Linear(128, 10), nn.LogSoftmax(dim=1))


def cnn(name, device, quick):
    """One training step (forward, loss, backward, optimizer step, zero-grad) of LeNet-5 (SGD lr 0.01 momentum 0.9,
    cross-entropy) or the examples/mnist Net (Adadelta lr 1.0, nll_loss, dropout active) on a fixed random batch of
    normalised-looking [B, 1, 28, 28] inputs; B = 64, 8 when quick. Labels i * 7 % 10 as the MLP rows."""
    batch = 8 if quick else 64
    if name == "cnn-lenet":
        model = lenet().to(device)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        loss_fn = torch.nn.functional.cross_entropy
    else:
        model = mnist_net().to(device)
        opt = torch.optim.Adadelta(model.parameters(), lr=1.0)
        loss_fn = torch.nn.functional.nll_loss
    model.train()
    x = torch.randn(batch, 1, 28, 28, device=device)
    y = torch.tensor([i * 7 % 10 for i in range(batch)], device=device)

    def step():
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=False)
    return "samples/s", batch, step


def conv_rows(name, device, quick):
    """conv2d: forward of [B, 64, S, S] * [64, 64, 3, 3], padding 1, no bias, under no_grad (2·N·Cout·H·W·Cin·9 FLOP);
    conv2d-fwdbwd: the same forward plus the gradients to input and weight for a stored output gradient (3x the
    forward's FLOP); maxpool2d: F.max_pool2d 2x2 forward plus backward, GB/s counting fp32 values read and written
    (forward reads the input and writes the output, backward reads the output gradient and writes the input
    gradient: 8·(in + out) bytes; indices not counted). B, S = 64, 56; 8, 28 when quick."""
    batch, size, ch = (8, 28, 64) if quick else (64, 56, 64)
    x = torch.randn(batch, ch, size, size, device=device)
    if name == "maxpool2d":
        x.requires_grad_(True)
        g = torch.randn(batch, ch, size // 2, size // 2, device=device)
        f = torch.nn.functional
        return "GB/s", 8.0 * (x.numel() + g.numel()), \
            lambda: torch.autograd.grad(f.max_pool2d(x, 2), x, g)
    w = torch.randn(ch, ch, 3, 3, device=device) * (1.0 / (ch * 9) ** 0.5)
    flops = 2.0 * batch * ch * size * size * ch * 9
    if name == "conv2d":
        def forward():
            with torch.no_grad():
                return torch.nn.functional.conv2d(x, w, padding=1)
        return "GFLOP/s", flops, forward
    x.requires_grad_(True)
    w.requires_grad_(True)
    g = torch.randn(batch, ch, size, size, device=device)
    return "GFLOP/s", 3.0 * flops, \
        lambda: torch.autograd.grad(torch.nn.functional.conv2d(x, w, padding=1), (x, w), g)


def gpt_module():
    """Examples/Gpt/gpt_torch.py (copied beside this script in the build output)."""
    import importlib.util
    import os
    here = os.path.dirname(os.path.abspath(__file__))
    for candidate in (os.path.join(here, "gpt_torch.py"), os.path.join(here, "..", "..", "Examples", "Gpt", "gpt_torch.py")):
        if os.path.exists(candidate):
            spec = importlib.util.spec_from_file_location("gpt_torch", candidate)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module
    raise FileNotFoundError("gpt_torch.py")


def gpt(name, device, quick):
    """One training step of Examples/Gpt/gpt_torch.py's GPT (nanoGPT's model), as the engine's gpt rows."""
    g = gpt_module()
    if quick:
        block, layers, heads, embd, batch = 16, 1, 2, 32, 2
    elif name in ("gpt-small", "gpt-small-ckpt"):
        block, layers, heads, embd, batch = 256, 6, 6, 384, 8
    else:
        block, layers, heads, embd, batch = 64, 4, 4, 128, 12
    model = g.GPT(65, block, layers, heads, embd).to(device)
    model.checkpoint = 1 if name == "gpt-small-ckpt" else 0  # torch.utils.checkpoint per block, non-reentrant
    opt = g.optimizer(model, 1e-3, 0.1)
    x = torch.randint(65, (batch, block), device=device)
    y = torch.randint(65, (batch, block), device=device)

    def step():
        _, loss = model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
    return "tokens/s", batch * block, step


def gpt_generate(device, quick):
    """nanoGPT's generate (greedy): 255 tokens from a one-token prompt with the gpt-small model, the context run again
    for every token."""
    g = gpt_module()
    block, layers, heads, embd = (16, 1, 2, 32) if quick else (256, 6, 6, 384)
    model = g.GPT(65, block, layers, heads, embd).to(device).eval()

    def step():
        idx = torch.zeros(1, 1, dtype=torch.long, device=device)
        with torch.no_grad():
            for _ in range(block - 1):
                logits, _ = model(idx[:, -block:])
                idx = torch.cat([idx, logits[:, -1, :].argmax(-1, keepdim=True)], dim=1)
    return "tokens/s", block - 1, step


def attention(device, quick):
    """Causal attention forward + backward on [8, 8, 256, 64], torch 1.13's composition (it has no fused kernel)."""
    import math
    b, h, t, d = (2, 2, 32, 64) if quick else (8, 8, 256, 64)
    q, k, v = (torch.randn(b, h, t, d, device=device, requires_grad=True) for _ in range(3))
    g = torch.randn(b, h, t, d, device=device)
    mask = torch.ones(t, t, device=device).tril() == 0

    def step():
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(d))
        o = torch.softmax(att.masked_fill(mask, float("-inf")), dim=-1) @ v
        torch.autograd.grad(o, (q, k, v), g)
    return "GFLOP/s", 3.5 * 2.0 * 2 * b * h * t * t * d / 2, step


def build(name, device, gpu, quick):
    if name == "generate":
        return None  # nanoGPT's model has no KV cache: the engine's row stands alone (compare it with generate-no-cache)
    if name == "generate-no-cache":
        return gpt_generate(device, quick)
    if name in ("gpt-baby", "gpt-small", "gpt-small-ckpt"):
        return gpt(name, device, quick)
    if name == "attention":
        return attention(device, quick)
    if name in ("cnn-lenet", "cnn-mnist"):
        return cnn(name, device, quick)
    if name in ("conv2d", "conv2d-fwdbwd", "maxpool2d"):
        return conv_rows(name, device, quick)
    if name in ("gather", "scatter-add"):
        return row_indexing(name, device, quick)
    if name == "bmm" or name == "bmm-t":
        sa, sb = ([32, 256, 64], [32, 64, 256]) if name == "bmm" else ([32, 64, 256], [32, 256, 64])
        return tensor_op("GFLOP/s", sa, sb, lambda a, b: torch.matmul(a, b), device, quick)
    if name == "bmm-flat" or name == "bmm-t-flat":
        sa, sb = ([32 * 256, 64], [64, 256]) if name == "bmm-flat" else ([32 * 64, 256], [256, 64])
        return tensor_op("GFLOP/s", sa, sb, lambda a, b: torch.matmul(a, b), device, quick)
    if name == "permute":
        return tensor_op("GB/s", [64, 128, 256], None, lambda a, _: a.permute(0, 2, 1).contiguous(), device, quick)
    if name == "gelu":
        return tensor_op("GB/s", [4096, 4096], None, lambda a, _: torch.nn.functional.gelu(a), device, quick)
    if name == "softmax":
        return tensor_op("GB/s", [4096, 4096], None, lambda a, _: torch.softmax(a, -1), device, quick)
    if name == "layer-norm":
        w, b = torch.randn(4096, device=device), torch.randn(4096, device=device)
        return tensor_op("GB/s", [4096, 4096], None, lambda a, _: torch.nn.functional.layer_norm(a, [4096], w, b), device, quick)
    if name == "cat":
        box = {}
        def cat(a, _):
            if "pieces" not in box:
                box["pieces"] = [p.contiguous() for p in a.chunk(8, -1)]
            return torch.cat(box["pieces"], -1)
        return tensor_op("GB/s", [64, 128, 256], None, cat, device, quick)
    q = (lambda full, small: small) if quick else (lambda full, small: full)
    if name == "mlp-s/b1":
        return mlp([784, q(256, 32), 10], 1, "sgd", device)
    if name == "mlp-s/b64":
        return mlp([784, q(256, 32), 10], 64, "sgd", device)
    if name == "mlp-s/b1024":
        return mlp([784, q(256, 32), 10], q(1024, 128), "sgd", device)
    if name == "mlp-m":
        return mlp([q(1024, 64), q(1024, 64), q(1024, 64), 10], q(256, 32), "adam", device)
    if name == "mlp-l":
        return mlp([q(1024, 64), q(4096, 128), q(4096, 128), q(1024, 64)], q(1024, 64), "adam", device)
    if name == "sgemm":
        return sgemm(64 if quick else 4096 if gpu else 1024, device)
    if name == "adam-step":
        return adam_step(1 << 12 if quick else (64 << 20) if gpu else (4 << 20), device)
    if name == "copy":
        return copy(1 << 12 if quick else (64 << 20) if gpu else (16 << 20), device)
    raise ValueError(name)


def names(gpu):
    return ["mlp-s/b1", "mlp-s/b64", "mlp-s/b1024", "mlp-m"] + (["mlp-l"] if gpu else []) + \
        ["sgemm", "adam-step", "copy", "gelu", "softmax", "layer-norm", "bmm", "bmm-flat", "bmm-t", "bmm-t-flat", "permute", "cat", "gather", "scatter-add",
         "cnn-lenet", "cnn-mnist", "conv2d", "conv2d-fwdbwd", "maxpool2d", "gpt-baby", "gpt-small", "attention",
         "generate", "generate-no-cache"]


def measure(step, sync, quick):
    """Seconds per step: warm-up for ~1.5 s (at least two steps), then the median of 3 rounds of ~0.3 s."""
    t = time.perf_counter()
    warmups = 0
    while warmups < 2 or (not quick and time.perf_counter() - t < 1.5):
        step()
        warmups += 1
    sync()
    t = time.perf_counter()
    step()
    sync()
    once = max(time.perf_counter() - t, 1e-7)
    steps = 1 if quick else max(1, min(1000, int(0.3 / once)))
    rounds = []
    for _ in range(1 if quick else 3):
        t = time.perf_counter()
        for _ in range(steps):
            step()
        sync()
        rounds.append((time.perf_counter() - t) / steps)
    return statistics.median(rounds)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(0)
    gpu = args.device == "cuda"
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if gpu else (lambda: None)
    wanted = [n for n in args.only.split(",") if n] or names(gpu)
    results = []
    for name in wanted:
        built = build(name, device, gpu, args.quick)
        if built is None:
            continue
        unit, work, step = built
        seconds = measure(step, sync, args.quick)
        results.append({"workload": name, "unit": unit, "ms_per_step": seconds * 1e3,
                        "rate": work / seconds / (1 if unit in ("samples/s", "tokens/s") else 1e9)})
    # The BLAS actually loaded (Debian's torch links the libblas alternative: OpenBLAS once installed).
    with open("/proc/self/maps") as maps:
        blas = sorted({line.split()[-1] for line in maps if "blas" in line.lower() and "/" in line})
    print(json.dumps({
        "torch": torch.__version__, "threads": torch.get_num_threads(), "python": platform.python_version(),
        "device_name": torch.cuda.get_device_name(0) if gpu else platform.processor() or "cpu",
        "blas": blas, "results": results}))


if __name__ == "__main__":
    main()
